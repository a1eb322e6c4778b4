;; A cis_v1 skill that writes two KV keys in its call: its input's bytes
;; (a JSON string such as "r1-t0-i7"), and the same followed by "b", both
;; to "1", then answers its input. The call's transaction commits both or
;; neither (tests/serve/test_serve_faults.c).
(module
  (import "cis_v1" "input_read" (func $read (param i64 i32 i32) (result i32)))
  (import "cis_v1" "kv_set" (func $set (param i32 i32 i32 i32) (result i32)))
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "1")
  (func (export "cis_main") (result i32)
    (local $n i32)
    (local $r i32)
    (local.set $n (call $read (i64.const 0) (i32.const 16) (i32.const 1024)))
    (if (i32.lt_s (local.get $n) (i32.const 1)) (then (return (i32.const -1))))
    (local.set $r (call $set (i32.const 16) (local.get $n) (i32.const 0) (i32.const 1)))
    (if (i32.ne (local.get $r) (i32.const 0)) (then (return (local.get $r))))
    (i32.store8 (i32.add (i32.const 16) (local.get $n)) (i32.const 98))
    (local.set $r (call $set (i32.const 16) (i32.add (local.get $n) (i32.const 1)) (i32.const 0) (i32.const 1)))
    (if (i32.ne (local.get $r) (i32.const 0)) (then (return (local.get $r))))
    (drop (call $out (i32.const 16) (local.get $n)))
    (i32.const 0))
)
