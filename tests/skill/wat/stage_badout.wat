;; A cis_v1 skill that answers "{", which is not JSON: its call fails in
;; collect with CIS_EJSON, the skill's fault and not the caller's
;; (tests/skill/test_stage.c).
(module
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{")
  (func (export "cis_main") (result i32)
    (drop (call $out (i32.const 0) (i32.const 1)))
    (i32.const 0)))
