;; A cis_v1 skill that traps at once (unreachable), for typed trap errors
;; (sdk/python/tests).
(module
  (memory (export "memory") 1)
  (func (export "cis_main") (result i32)
    unreachable))
