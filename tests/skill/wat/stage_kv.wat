;; A cis_v1 skill that sets key k to v; it answers {} when its input is {}
;; and traps after the write otherwise: collect keeps the write only in the
;; first case (tests/skill/test_stage.c).
(module
  (import "cis_v1" "kv_set" (func $set (param i32 i32 i32 i32) (result i32)))
  (import "cis_v1" "input_len" (func $input_len (result i64)))
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "kv")
  (data (i32.const 128) "{}")
  (func (export "cis_main") (result i32)
    (drop (call $set (i32.const 0) (i32.const 1) (i32.const 1) (i32.const 1)))
    (if (i64.ne (call $input_len) (i64.const 2)) (then unreachable))
    (drop (call $out (i32.const 128) (i32.const 2)))
    (i32.const 0)))
