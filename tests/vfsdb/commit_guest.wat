;; This file implements the guest of tests/vfsdb/cli_vfs_commit.sh: a WASI
;; command that, in the directory preopened as fd 3, writes "one" to file
;; a and fsyncs it, then writes "two" to file b (left open), then prints
;; "ready" and, by its argument count, spins until it is killed (no
;; argument), exits 0 (one) or exits 1 (two or more).
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_sync" (func $fd_sync (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "a")
  (data (i32.const 24) "b")
  (data (i32.const 32) "one")
  (data (i32.const 40) "two")
  (data (i32.const 48) "ready\n")
  ;; iovec at 64: (ptr, len); results at 80 (fd), 84 (bytes written)
  (func $create (param $name i32) (result i32)
    (if (call $path_open (i32.const 3) (i32.const 0) (local.get $name) (i32.const 1)
          (i32.const 9) (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0)
          (i32.const 80))
      (then (call $proc_exit (i32.const 90))))
    (i32.load (i32.const 80)))
  (func $put (param $fd i32) (param $p i32) (param $n i32)
    (i32.store (i32.const 64) (local.get $p))
    (i32.store (i32.const 68) (local.get $n))
    (if (call $fd_write (local.get $fd) (i32.const 64) (i32.const 1) (i32.const 84))
      (then (call $proc_exit (i32.const 91)))))
  (func (export "_start")
    (local $fd i32)
    (local.set $fd (call $create (i32.const 16)))
    (call $put (local.get $fd) (i32.const 32) (i32.const 3))
    (if (call $fd_sync (local.get $fd)) (then (call $proc_exit (i32.const 92))))
    (local.set $fd (call $create (i32.const 24)))
    (call $put (local.get $fd) (i32.const 40) (i32.const 3))
    (call $put (i32.const 1) (i32.const 48) (i32.const 6))
    (drop (call $args_sizes_get (i32.const 96) (i32.const 100)))
    (if (i32.eq (i32.load (i32.const 96)) (i32.const 2)) (then (call $proc_exit (i32.const 0))))
    (if (i32.gt_u (i32.load (i32.const 96)) (i32.const 2)) (then (call $proc_exit (i32.const 1))))
    (loop $spin (br $spin))))
