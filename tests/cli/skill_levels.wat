;; A cis_v1 skill that logs one line at each level (debug, info, warn,
;; error) and answers {}: --log-level, --quiet and --log-format.
(module
  (import "cis_v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "line-debug")
  (data (i32.const 16) "line-info")
  (data (i32.const 32) "line-warn")
  (data (i32.const 48) "line-error")
  (data (i32.const 64) "{}")
  (func (export "cis_main") (result i32)
    (drop (call $log (i32.const 0) (i32.const 0) (i32.const 10)))
    (drop (call $log (i32.const 1) (i32.const 16) (i32.const 9)))
    (drop (call $log (i32.const 2) (i32.const 32) (i32.const 9)))
    (drop (call $log (i32.const 3) (i32.const 48) (i32.const 10)))
    (drop (call $out (i32.const 64) (i32.const 2)))
    (i32.const 0)))
