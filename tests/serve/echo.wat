;; A cis_v1 skill that answers with its input.
(module
  (import "cis_v1" "input_read" (func $read (param i64 i32 i32) (result i32)))
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "cis_main") (result i32)
    (local $n i32)
    (local.set $n (call $read (i64.const 0) (i32.const 0) (i32.const 65536)))
    (drop (call $out (i32.const 0) (local.get $n)))
    (i32.const 0))
)
