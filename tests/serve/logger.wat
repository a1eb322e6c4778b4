;; A cis_v1 skill that logs its input as one line (info), then answers
;; with it: a call whose log a test chooses (the operator page's XSS line).
(module
  (import "cis_v1" "input_read" (func $read (param i64 i32 i32) (result i32)))
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (import "cis_v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "cis_main") (result i32)
    (local $n i32)
    (local.set $n (call $read (i64.const 0) (i32.const 0) (i32.const 65536)))
    (drop (call $log (i32.const 1) (i32.const 0) (local.get $n)))
    (drop (call $out (i32.const 0) (local.get $n)))
    (i32.const 0))
)
