;; Leaves a secret in every kind of instance state (memory, grown memory, a
;; data segment's bytes, a mutable global, a table slot) for the reuse
;; tests to look for in the next instance.
(module
  (memory (export "mem") 1 8)
  (global $g (mut i32) (i32.const 7))
  (table 2 funcref)
  (elem (i32.const 0) $f)
  (data (i32.const 256) "init")
  (func $f (result i32) (i32.const 42))
  (func (export "write_secret")
    (i32.store (i32.const 512) (i32.const 0x5ec2e7))
    (i32.store8 (i32.const 256) (i32.const 88))
    (global.set $g (i32.const 0x5ec2e7))
    (drop (memory.grow (i32.const 2)))
    (i32.store (i32.const 131072) (i32.const 0x5ec2e7))
    (table.set 0 (i32.const 1) (ref.func $f)))
  (func (export "peek") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "global") (result i32) (global.get $g))
  (func (export "pages") (result i32) (memory.size))
  (func (export "slot1_null") (result i32) (ref.is_null (table.get 0 (i32.const 1))))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))
