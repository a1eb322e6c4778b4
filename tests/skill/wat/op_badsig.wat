;; A cis_v1 entry with the wrong signature: (i32) -> (i64), not () -> i32.
(module
  (func (export "cis_main") (param i32) (result i64) (i64.const 0))
  (memory (export "memory") 1))
