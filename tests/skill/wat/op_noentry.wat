;; A module with functions but no entry point of any skill ABI.
(module
  (func (export "handle") (result i32) (i32.const 0))
  (func (export "helper_two") (param i32) (result i32) (local.get 0))
  (memory (export "memory") 1))
