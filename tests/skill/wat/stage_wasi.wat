;; A WASI command that writes {} to stdout and a line to stderr, then traps
;; three calls deep: the stages and cis_skills_invoke_wasm must report the
;; same trap text, exit code, logs and figures (tests/skill/test_stage.c).
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{}")
  (data (i32.const 16) "oops\n")
  (data (i32.const 64) "\00\00\00\00\02\00\00\00\10\00\00\00\05\00\00\00")
  (func $deep (param i32)
    (if (local.get 0)
      (then (call $deep (i32.sub (local.get 0) (i32.const 1))))
      (else unreachable)))
  (func (export "_start")
    (drop (call $write (i32.const 1) (i32.const 64) (i32.const 1) (i32.const 128)))
    (drop (call $write (i32.const 2) (i32.const 72) (i32.const 1) (i32.const 128)))
    (call $deep (i32.const 3))))
