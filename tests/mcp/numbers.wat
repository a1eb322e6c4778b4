;; A cis_v1 skill whose output is a JSON array, [1,2]: structuredContent in
;; 2026-07-28 only (2025-06-18 and 2025-11-25 take an object there).
(module
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "[1,2]")
  (func (export "cis_main") (result i32)
    (drop (call $out (i32.const 0) (i32.const 5)))
    (i32.const 0))
)
