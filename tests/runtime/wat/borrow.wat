;; Imports a host function and a funcref table, and puts one of its own
;; functions into that table: the function escapes the instance.
(module
  (import "h" "f" (func $f (result i32)))
  (import "x" "tab" (table 1 funcref))
  (func $g (result i32) (i32.add (call $f) (i32.const 1)))
  (elem (i32.const 0) $g)
  (func (export "run") (result i32) (call $f)))
