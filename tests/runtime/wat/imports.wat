;; One import of each kind, for the linking tests.
(module
  (import "env" "f" (func (param i32) (result i32)))
  (import "env" "mem" (memory 2 4))
  (import "env" "tab" (table 3 10 funcref))
  (import "env" "g" (global (mut i64)))
  (func (export "call_f") (param i32) (result i32) (call 0 (local.get 0)))
  (func (export "get_g") (result i64) (global.get 0)))
