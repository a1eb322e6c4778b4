;; The limits on compiled code: loops and recursion without end, memory and
;; table accesses out of bounds, memory growth under a cap, a trap.
(module
  (memory 1)
  (table 2 funcref)
  (elem (i32.const 0) $one)
  (global $n (mut i64) (i64.const 0))
  (func $one (result i32) (i32.const 1))
  (func (export "spin")
    (loop $l
      (global.set $n (i64.add (global.get $n) (i64.const 1)))
      (br $l)))
  (func (export "count") (result i64) (global.get $n))
  (func $rec (export "recurse") (param i32) (result i32)
    (call $rec (i32.add (local.get 0) (i32.const 1))))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func (export "call_tab") (param i32) (result i32)
    (call_indirect (result i32) (local.get 0)))
  (func (export "tab_set") (param i32) (table.set 0 (local.get 0) (ref.null func)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1))))
