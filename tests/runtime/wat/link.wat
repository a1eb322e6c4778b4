;; One link of a chain of instances: imports "next" from the previous
;; instance, exports its own.
(module
  (import "prev" "next" (func $p (param i32) (result i32)))
  (func (export "next") (param i32) (result i32) (local.get 0)))
