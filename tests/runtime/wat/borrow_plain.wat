;; Imports a host function and nothing that its functions could escape into.
(module
  (import "h" "f" (func $f (result i32)))
  (func (export "run") (result i32) (call $f)))
