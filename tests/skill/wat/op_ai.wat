;; A cis_v1 skill that asks the AI "hi" and answers {"r":"REPLY"}, or
;; returns the guest error code of a failed ai_chat (tests/skill/test_operate.c).
(module
  (import "cis_v1" "ai_chat" (func $ai (param i32 i32 i32 i32) (result i64)))
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hi")
  (data (i32.const 16) "{\"r\":\"")
  (data (i32.const 32) "\"}")
  (func (export "cis_main") (result i32)
    (local $n i64)
    (local.set $n (call $ai (i32.const 0) (i32.const 2) (i32.const 1024) (i32.const 4096)))
    (if (i64.lt_s (local.get $n) (i64.const 0)) (then (return (i32.wrap_i64 (local.get $n)))))
    (drop (call $out (i32.const 16) (i32.const 6)))
    (drop (call $out (i32.const 1024) (i32.wrap_i64 (local.get $n))))
    (drop (call $out (i32.const 32) (i32.const 2)))
    (i32.const 0)))
