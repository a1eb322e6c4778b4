;; A cis_v1 skill that never returns: its manifest's timeout ends it.
(module
  (memory (export "memory") 1)
  (func (export "cis_main") (result i32)
    (loop $l (br $l))
    (i32.const 0))
)
