;; Recursion that ends: deep(n) calls itself n times and returns n. The
;; global set after each call keeps every frame: without it gcc turns the
;; compiled recursion into a loop (an accumulated tail call), which needs
;; no stack, and the test of switched stacks would measure nothing.
(module
  (global $last (mut i32) (i32.const 0))
  (func $deep (export "deep") (param i32) (result i32)
    (local i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else
        (local.set 1 (i32.add (call $deep (i32.sub (local.get 0) (i32.const 1))) (i32.const 1)))
        (global.set $last (local.get 0))
        (local.get 1)))))
