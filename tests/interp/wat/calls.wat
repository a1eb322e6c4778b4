;; Calls: call_indirect with every failure mode, host functions (also ones
;; that call back into the instance), and imported functions of another
;; instance.
(module
  (type $ii (func (param i32) (result i32)))
  (type $v (func (result i32)))
  (import "host" "twice" (func $twice (param i32) (result i32)))
  (import "host" "reenter" (func $reenter (param i32) (result i32)))
  (import "host" "fail" (func $fail))
  (table $t (export "table") 5 funcref)
  (elem (i32.const 0) $double $answer $double $twice)
  (func $double (export "double") (param i32) (result i32)
    (i32.mul (local.get 0) (i32.const 2)))
  (func $answer (result i32) (i32.const 42))
  (func (export "dispatch") (param i32 i32) (result i32)
    (call_indirect (type $ii) (local.get 1) (local.get 0)))
  (func (export "dispatch_v") (param i32) (result i32)
    (call_indirect (type $v) (local.get 0)))
  ;; Calls the host in a loop, keeping values live across the calls.
  (func (export "host_loop") (param $n i32) (result i32)
    (local $i i32) (local $s i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $s (i32.add (local.get $s) (call $twice (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    local.get $s)
  ;; The host calls "double" back before returning: 1 + 2*(x+1) + 100.
  (func (export "via_host") (param i32) (result i32)
    (i32.add (i32.const 1)
      (call $reenter (i32.add (local.get 0) (i32.const 1)))))
  (func (export "call_fail") (result i32)
    (call $fail)
    (i32.const 5))
  ;; Recursion of several frames, each with a value live across the call.
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func $fac (export "fac") (param i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0))
      (then (i64.const 1))
      (else (i64.mul (local.get 0) (call $fac (i64.sub (local.get 0) (i64.const 1)))))))
  ;; Many locals: each call must see them zeroed again.
  (func $fresh (param i32) (result i32)
    (local i32 i64 f32 f64)
    (local.set 1 (i32.add (local.get 1) (local.get 0)))
    (local.get 1))
  (func (export "fresh_locals") (result i32)
    (i32.add (call $fresh (i32.const 5)) (call $fresh (i32.const 7))))
  ;; n calls deep, then the host, which calls "double" back: the depth the
  ;; host's call starts at counts the n frames. 2*1 + 100 + n.
  (func $deep_host (export "deep_host") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (call $reenter (i32.const 1)))
      (else (i32.add (call $deep_host (i32.sub (local.get 0) (i32.const 1))) (i32.const 1)))))
)
