;; Imports cis_v1.log with the wrong signature: (i32) -> (i32), where the
;; host's is (i32, i32, i32) -> (i32).
(module
  (import "cis_v1" "log" (func $log (param i32) (result i32)))
  (func (export "cis_main") (result i32) (call $log (i32.const 0)))
  (memory (export "memory") 1))
