;; A cis_v1 skill that reports failure (-6, INVALID): CIS_ESKILL.
(module
  (memory (export "memory") 1)
  (func (export "cis_main") (result i32)
    (i32.const -6))
)
