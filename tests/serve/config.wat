;; A cis_v1 skill that answers {"greeting":"VALUE"} with the operator's
;; setting "greeting" (config_get), or {"greeting":null} when it is unset:
;; each tenant's own setting of the skill (test_serve_tenants).
(module
  (import "cis_v1" "config_get" (func $cfg (param i32 i32 i32 i32) (result i64)))
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "greeting")
  (data (i32.const 16) "{\"greeting\":\"")
  (data (i32.const 48) "\"}")
  (data (i32.const 64) "{\"greeting\":null}")
  (func (export "cis_main") (result i32)
    (local $n i64)
    (local.set $n (call $cfg (i32.const 0) (i32.const 8) (i32.const 1024) (i32.const 1024)))
    (if (i64.lt_s (local.get $n) (i64.const 0))
      (then (drop (call $out (i32.const 64) (i32.const 17))) (return (i32.const 0))))
    (drop (call $out (i32.const 16) (i32.const 13)))
    (drop (call $out (i32.const 1024) (i32.wrap_i64 (local.get $n))))
    (drop (call $out (i32.const 48) (i32.const 2)))
    (i32.const 0)))
