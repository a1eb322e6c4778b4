;; A cis_v1 skill whose input says what it does: a number starting with 0
;; answers with its input at once, 1 spins until the call's deadline, 2
;; asks for the time left (what a host function does before it waits)
;; and then answers with its input.
(module
  (import "cis_v1" "input_read" (func $read (param i64 i32 i32) (result i32)))
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (import "cis_v1" "remaining_ms" (func $left (result i64)))
  (memory (export "memory") 1)
  (func (export "cis_main") (result i32)
    (local $n i32)
    (local.set $n (call $read (i64.const 0) (i32.const 0) (i32.const 65536)))
    (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 0x31))
      (then (loop $l (br $l))))
    (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 0x32))
      (then (drop (call $left))))
    (drop (call $out (i32.const 0) (local.get $n)))
    (i32.const 0))
)
