;; A WASI skill that sleeps 1.5 s (poll_oneoff on the monotonic clock,
;; bounded by the call's deadline), then answers {"slept":true}: a call
;; that stays in flight long enough to fill a queue or to be drained.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 200) "{\22slept\22:true}")
  (func (export "_start")
    ;; subscription at 0: userdata 0, tag 0 (clock), clock id 1
    ;; (monotonic) at 16, relative timeout at 24, precision 32, flags 40
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 1500000000))
    (drop (call $poll (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 180)))
    (i32.store (i32.const 184) (i32.const 200))
    (i32.store (i32.const 188) (i32.const 14))
    (drop (call $write (i32.const 1) (i32.const 184) (i32.const 1) (i32.const 192))))
)
