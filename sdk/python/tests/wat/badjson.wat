;; A cis_v1 skill whose output is not JSON: the host must refuse it, and
;; the SDK must raise rather than hand back half an object (sdk/python/tests).
(module
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\"a\": [1, 2")
  (func (export "cis_main") (result i32)
    (drop (call $out (i32.const 0) (i32.const 11)))
    (i32.const 0)))
