;; A cis_v1 skill that never ends, for deadlines, fuel and cancellation
;; from another thread (sdk/python/tests).
(module
  (memory (export "memory") 1)
  (func (export "cis_main") (result i32)
    (loop $l (br $l))
    (i32.const 0)))
