;; A cis_v1 skill that sets keys a, b and c, then writes a log line, and
;; answers {} whatever happens: without the grants, or past a quota, the
;; host's own warn lines say so (tests/skill/test_operate.c).
(module
  (import "cis_v1" "kv_set" (func $set (param i32 i32 i32 i32) (result i32)))
  (import "cis_v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "abc")
  (data (i32.const 16) "guest line")
  (data (i32.const 128) "{}")
  (func (export "cis_main") (result i32)
    (drop (call $set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 3)))
    (drop (call $set (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 3)))
    (drop (call $set (i32.const 2) (i32.const 1) (i32.const 0) (i32.const 3)))
    (drop (call $log (i32.const 1) (i32.const 16) (i32.const 10)))
    (drop (call $out (i32.const 128) (i32.const 2)))
    (i32.const 0)))
