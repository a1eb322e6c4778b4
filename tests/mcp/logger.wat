;; A cis_v1 skill that logs a line and answers {"logged":true}: its log
;; goes to stderr, never into the protocol on stdout.
(module
  (import "cis_v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\"logged\":true}")
  (data (i32.const 32) "logger: not on stdout")
  (func (export "cis_main") (result i32)
    (drop (call $log (i32.const 1) (i32.const 32) (i32.const 21)))
    (drop (call $out (i32.const 0) (i32.const 15)))
    (i32.const 0))
)
