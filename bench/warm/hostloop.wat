;; bench/warm.sh's host-call loop: "calls" calls the host's no-op n times,
;; "empty" runs the same loop without the call.
(module
  (import "host" "nop" (func $nop))
  (func (export "calls") (param $n i32)
    (loop $l
      (call $nop)
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n))))
  (func (export "empty") (param $n i32)
    (loop $l
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n)))))
