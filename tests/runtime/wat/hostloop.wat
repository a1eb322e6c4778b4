;; Calls the host's no-op n times.
(module
  (import "host" "nop" (func $nop))
  (func (export "loop") (param $n i32)
    (loop $l
      (call $nop)
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n)))))
