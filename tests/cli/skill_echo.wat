;; A cis_v1 skill that logs one line and answers {"ok":true}: the success
;; case of `cis skill run --json` (output, logs and figures).
(module
  (import "cis_v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\"ok\":true}")
  (data (i32.const 32) "echo: hello")
  (func (export "cis_main") (result i32)
    (drop (call $log (i32.const 1) (i32.const 32) (i32.const 11)))
    (drop (call $out (i32.const 0) (i32.const 11)))
    (i32.const 0))
)
