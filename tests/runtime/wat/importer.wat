;; Imports a function and the memory of another instance (api.wat).
(module
  (import "env" "add" (func $add (param i32 i32) (result i32)))
  (import "env" "mem" (memory 1))
  (func (export "add_loaded") (param i32) (result i32)
    (call $add (i32.load (local.get 0)) (i32.const 1))))
