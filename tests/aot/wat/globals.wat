;; A mutable global written (as 64 bits) then read (as 32) in one function:
;; the read must see the write (the spec's stack.wast not-quite-a-tree).
(module
  (global $g (mut i32) (i32.const 0))
  (global $f (mut f32) (f32.const 0))
  (func $bump (result i32)
    (global.set $g (i32.add (i32.const 1) (global.get $g)))
    (global.get $g))
  (func $bump_drop (drop (call $bump)))
  (func (export "tree") (result i32)
    call $bump
    call $bump
    call $bump_drop
    i32.add)
  (func (export "fbump") (result f32)
    (global.set $f (f32.add (f32.const 1.5) (global.get $f)))
    (global.get $f)))
