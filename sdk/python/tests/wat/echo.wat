;; A cis_v1 skill that answers its input unchanged (up to 1 MiB): the
;; Python SDK's dict-in, dict-out fixture (sdk/python/tests).
(module
  (import "cis_v1" "input_len" (func $len (result i64)))
  (import "cis_v1" "input_read" (func $read (param i64 i32 i32) (result i32)))
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 17)
  (func (export "cis_main") (result i32)
    (local $n i32)
    (if (i64.gt_u (call $len) (i64.const 1048576)) (then (return (i32.const -1))))
    (local.set $n (i32.wrap_i64 (call $len)))
    (drop (call $read (i64.const 0) (i32.const 0) (local.get $n)))
    (drop (call $out (i32.const 0) (local.get $n)))
    (i32.const 0)))
