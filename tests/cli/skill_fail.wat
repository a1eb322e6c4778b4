;; A cis_v1 skill that reports failure (cis_main returns -6, INVALID): the
;; host's CIS_ESKILL, the `cis` exit code of a skill error.
(module
  (memory (export "memory") 1)
  (func (export "cis_main") (result i32)
    (i32.const -6))
)
