;; A start function that traps, so instantiation fails.
(module
  (func $start (unreachable))
  (start $start)
  (func (export "f") (result i32) (i32.const 1))
)
