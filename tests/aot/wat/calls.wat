;; Calls between compiled functions, for the limits they must keep exact:
;; direct recursion ending in a leaf, the same through call_indirect, a
;; host function calling back into the module between them, and two
;; recursions that run long: one without loops, one whose calls are all
;; inside its loop.
(module
  (import "host" "back" (func $back (param i32) (result i32)))
  (type $t (func (param i32) (result i32)))
  (table 1 funcref)
  (elem (i32.const 0) $down)
  (func $leaf (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  ;; down(n): n + 1 frames below the caller's, the last a leaf.
  (func $down (export "down") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (call $leaf (i32.const 0)))
      (else (i32.add (call $down (i32.sub (local.get 0) (i32.const 1))) (i32.const 1)))))
  ;; down_loop(n): down's frames, with every call inside a loop that runs
  ;; once, so its entry checks the depth but does not tick.
  (func $down_loop (export "down_loop") (param $n i32) (result i32) (local $r i32)
    (loop $once
      (local.set $r
        (if (result i32) (i32.eqz (local.get $n))
          (then (call $leaf (i32.const 0)))
          (else (i32.add (call $down_loop (i32.sub (local.get $n) (i32.const 1)))
                         (i32.const 1))))))
    (local.get $r))
  (func (export "down_ind") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (call $leaf (i32.const 0)))
      (else (i32.add (call_indirect (type $t) (i32.sub (local.get 0) (i32.const 1))
                                    (i32.const 0))
                     (i32.const 1)))))
  ;; back(k) runs down(k) from the host (-1 when that fails), then down(n)
  ;; runs from here: the state of this call survives the other's.
  (func (export "via_host") (param i32 i32) (result i32)
    (i32.add (i32.shl (call $back (local.get 1)) (i32.const 16))
             (call $down (local.get 0))))
  ;; Exponential recursion, no loop: only the function entries tick.
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  ;; The same numbers as clang writes fib: the second call a loop, so the
  ;; only call is inside the loop, whose header ticks where the entry
  ;; does not (codegen.c, scan_body).
  (func $fib_loop (export "fib_loop") (param $n i32) (result i32) (local $acc i32)
    (block $done
      (br_if $done (i32.lt_u (local.get $n) (i32.const 2)))
      (loop $again
        (local.set $acc (i32.add (local.get $acc)
                                 (call $fib_loop (i32.sub (local.get $n) (i32.const 1)))))
        (local.set $n (i32.sub (local.get $n) (i32.const 2)))
        (br_if $again (i32.gt_u (local.get $n) (i32.const 1)))))
    (i32.add (local.get $n) (local.get $acc))))
