;; A module that imports the skill host API (cis_v1) and exports plain
;; functions, for `cis run --skill-host --invoke` (test_cli_host): each
;; answers with a host call's own result, so the test sees what was granted.
(module
  (import "cis_v1" "kv_set" (func $set (param i32 i32 i32 i32) (result i32)))
  (import "cis_v1" "kv_get" (func $get (param i32 i32 i32 i32) (result i64)))
  (import "cis_v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "cis_v1" "config_get" (func $cfg (param i32 i32 i32 i32) (result i64)))
  (import "cis_v1" "http_request"
    (func $http (param i32 i32 i32 i32 i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "n")
  (data (i32.const 16) "adding up")
  (data (i32.const 32) "k")
  (data (i32.const 40) "GET")
  (data (i32.const 48) "http://127.0.0.1:9/x")
  ;; Logs a line, answers a + b.
  (func (export "add") (param $a i32) (param $b i32) (result i32)
    (drop (call $log (i32.const 1) (i32.const 16) (i32.const 9)))
    (i32.add (local.get $a) (local.get $b)))
  ;; Stores v (4 bytes) under key "n"; answers kv_set's result (0, or -2 denied).
  (func (export "put") (param $v i32) (result i32)
    (i32.store (i32.const 64) (local.get $v))
    (call $set (i32.const 0) (i32.const 1) (i32.const 64) (i32.const 4)))
  ;; Answers the value under "n", or kv_get's error.
  (func (export "take") (result i32)
    (local $r i64)
    (local.set $r (call $get (i32.const 0) (i32.const 1) (i32.const 128) (i32.const 4)))
    (if (result i32) (i64.lt_s (local.get $r) (i64.const 0))
      (then (i32.wrap_i64 (local.get $r)))
      (else (i32.load (i32.const 128)))))
  ;; Answers the length of setting "k", or config_get's error.
  (func (export "cfg") (result i64)
    (call $cfg (i32.const 32) (i32.const 1) (i32.const 256) (i32.const 64)))
  ;; GETs http://127.0.0.1:9/x; answers http_request's result.
  (func (export "fetch") (result i64)
    (call $http (i32.const 40) (i32.const 3) (i32.const 48) (i32.const 20)
                (i32.const 0) (i32.const 0) (i32.const 1024) (i32.const 1024)))
  (func (export "boom") (result i32)
    unreachable))
