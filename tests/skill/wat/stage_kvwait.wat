;; A cis_v1 skill that sets key k to c, then increments ctr: an atomic
;; operation, which waits for the namespace's lock while another
;; transaction holds it. It answers {}, or returns error 1 when the
;; increment fails (tests/skill/test_stage.c: a cancel ends that wait).
(module
  (import "cis_v1" "kv_set" (func $set (param i32 i32 i32 i32) (result i32)))
  (import "cis_v1" "kv_increment" (func $incr (param i32 i32 i64 i32) (result i32)))
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "kc")
  (data (i32.const 16) "ctr")
  (data (i32.const 128) "{}")
  (func (export "cis_main") (result i32)
    (drop (call $set (i32.const 0) (i32.const 1) (i32.const 1) (i32.const 1)))
    (if (i32.ne (call $incr (i32.const 16) (i32.const 3) (i64.const 1) (i32.const 64)) (i32.const 0))
      (then (return (i32.const 1))))
    (drop (call $out (i32.const 128) (i32.const 2)))
    (i32.const 0)))
