;; A cis_v1 skill that sets key k to v, then throws a wasm exception: one
;; that nothing catches when its input is not {} (the call ends with
;; CIS_EXCEPTION, and collect drops the write), one its own try catches
;; when it is (it answers {}, and collect commits the write)
;; (tests/skill/test_stage.c).
(module
  (import "cis_v1" "kv_set" (func $set (param i32 i32 i32 i32) (result i32)))
  (import "cis_v1" "input_len" (func $input_len (result i64)))
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (tag $boom)
  (memory (export "memory") 1)
  (data (i32.const 0) "kv")
  (data (i32.const 128) "{}")
  (func $write_and_throw
    (drop (call $set (i32.const 0) (i32.const 1) (i32.const 1) (i32.const 1)))
    (throw $boom))
  (func (export "cis_main") (result i32)
    (if (i64.ne (call $input_len) (i64.const 2)) (then (call $write_and_throw)))
    (try (do (call $write_and_throw)) (catch $boom))
    (drop (call $out (i32.const 128) (i32.const 2)))
    (i32.const 0)))
