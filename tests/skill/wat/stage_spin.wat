;; A cis_v1 skill that never ends: its fuel runs out (tests/skill/test_stage.c).
(module
  (memory (export "memory") 1)
  (func (export "cis_main") (result i32)
    (loop $l (br $l))
    (i32.const 0)))
