;; smoke.wat -- a module that walks every path of the fuzz_run harness.
;;
;; This file implements the fixture of the fuzz_harness_smoke test: it
;; imports one external of each kind (so the harness must make them all)
;; and exports functions that call the import, trap, run forever (stopped
;; by fuel or the deadline), recurse without end (stopped by the call
;; depth) and grow memory past the fuzzing cap.
(module
  (import "env" "f" (func $f (param i32 i64 f32 f64) (result i32)))
  (import "env" "mem" (memory 1 4))
  (import "env" "tab" (table 2 funcref))
  (import "env" "g" (global $g i32))
  (import "env" "gm" (global $gm (mut i64)))
  (func (export "call_import") (param i32) (result i32)
    (global.set $gm (i64.const 7))
    (call $f (local.get 0) (global.get $gm) (f32.const 1) (f64.const 2)))
  (func (export "trap") (unreachable))
  (func (export "forever") (loop $l (br $l)))
  (func $down (export "recurse") (param i32) (result i32)
    (call $down (i32.add (local.get 0) (i32.const 1))))
  (func (export "grow") (result i32)
    (drop (memory.grow (i32.const 3)))
    (i32.store (i32.const 65536) (global.get $g))
    (memory.grow (i32.const 10000)))
  (func (export "indirect") (result i32)
    (call_indirect (result i32) (i32.const 1))))
