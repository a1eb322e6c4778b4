;; reenter.wat plus a plain function, for calls on a switched stack
;; (tests/runtime/test_runtime_nesting.c).
(module
  (import "host" "reenter" (func $h (param i32) (result i32)))
  (func (export "down") (param i32) (result i32)
    (call $h (i32.add (local.get 0) (i32.const 1))))
  (func (export "ok") (result i32) (i32.const 42)))
