;; Roots of the garbage collector inside a call: every place a frame can
;; hold a reference while the call allocates. Run with CIS_GC_STRESS=1
;; (tests/spec/CMakeLists.txt) a collection happens at each allocation,
;; so an object a root misses is freed while still in use: a wrong value,
;; or under AddressSanitizer a use after free.

(module
  (type $s (struct (field i32)))
  (type $pair (struct (field (ref null $s)) (field (ref null $s))))
  (type $node (struct (field i32) (field (ref null $node))))
  (type $arr (array (mut (ref null $s))))
  (type $fn (func (param (ref $s)) (result i32)))
  (tag $boom (param (ref $s)))

  (global $g (mut (ref null $s)) (ref.null $s))
  (table $t 2 (ref null $s))

  ;; Makes garbage: three objects nothing keeps.
  (func $churn
    (drop (struct.new $s (i32.const 1)))
    (drop (array.new_default $arr (i32.const 8)))
    (drop (struct.new $pair (ref.null $s) (ref.null $s))))

  ;; An operand under the allocating instructions' own.
  (func (export "operand") (result i32)
    (struct.new $s (i32.const 42))
    (drop (struct.new $s (i32.const 1)))
    (drop (struct.new $s (i32.const 2)))
    (struct.get $s 0))

  ;; A local, then an object reached only through another's field.
  (func (export "local") (result i32) (local $x (ref null $pair))
    (local.set $x (struct.new $pair (struct.new $s (i32.const 40)) (struct.new $s (i32.const 3))))
    (call $churn)
    (i32.add
      (struct.get $s 0 (struct.get $pair 0 (local.get $x)))
      (struct.get $s 0 (struct.get $pair 1 (local.get $x)))))

  ;; A parameter across a call that allocates, and the caller's operand
  ;; below the call's argument.
  (func $param (param $p (ref $s)) (result i32)
    (call $churn)
    (struct.get $s 0 (local.get $p)))
  (func (export "param") (result i32) (local $r i32)
    (struct.new $s (i32.const 5))
    (local.set $r (call $param (struct.new $s (i32.const 37))))
    (call $churn)
    (struct.get $s 0)
    (local.get $r)
    (i32.add))

  ;; Through call_ref.
  (elem declare func $param)
  (func (export "call_ref") (result i32)
    (call_ref $fn (struct.new $s (i32.const 44)) (ref.func $param)))

  ;; A list of 200 nodes built while 2,000 others become garbage: the
  ;; sum of the kept ones' values.
  (func (export "list") (result i32) (local $head (ref null $node)) (local $i i32) (local $sum i32)
    (loop $make
      (if (i32.eqz (i32.rem_u (local.get $i) (i32.const 10)))
        (then (local.set $head (struct.new $node (local.get $i) (local.get $head))))
        (else (drop (struct.new $node (local.get $i) (ref.null $node)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $make (i32.lt_u (local.get $i) (i32.const 2000))))
    (block $done
      (loop $walk
        (br_if $done (ref.is_null (local.get $head)))
        (local.set $sum (i32.add (local.get $sum) (struct.get $node 0 (local.get $head))))
        (local.set $head (struct.get $node 1 (local.get $head)))
        (br $walk)))
    (local.get $sum))

  ;; An array of references.
  (func (export "array") (result i32) (local $a (ref null $arr))
    (local.set $a (array.new $arr (ref.null $s) (i32.const 4)))
    (array.set $arr (local.get $a) (i32.const 2) (struct.new $s (i32.const 46)))
    (call $churn)
    (struct.get $s 0 (array.get $arr (local.get $a) (i32.const 2))))

  ;; Tail calls passing an object along while each allocates.
  (func $countdown (param $n i32) (param $keep (ref $s)) (result i32)
    (call $churn)
    (if (result i32) (i32.eqz (local.get $n))
      (then (struct.get $s 0 (local.get $keep)))
      (else (return_call $countdown (i32.sub (local.get $n) (i32.const 1)) (local.get $keep)))))
  (func (export "tail") (result i32)
    (call $countdown (i32.const 100) (struct.new $s (i32.const 47))))

  ;; An exception carrying an object, caught, then allocation.
  (func $thrower (call $churn) (throw $boom (struct.new $s (i32.const 48))))
  (func (export "exception") (result i32) (local $got (ref null $s))
    (local.set $got
      (block $h (result (ref $s))
        (try_table (catch $boom $h) (call $thrower))
        (unreachable)))
    (call $churn)
    (struct.get $s 0 (local.get $got)))

  ;; A global and a table, roots of the instance.
  (func (export "global_table") (result i32)
    (global.set $g (struct.new $s (i32.const 20)))
    (table.set $t (i32.const 1) (struct.new $s (i32.const 29)))
    (call $churn)
    (i32.add (struct.get $s 0 (global.get $g))
             (struct.get $s 0 (table.get $t (i32.const 1)))))

  ;; An object made an externref and back across allocation, beside a
  ;; v128 local (two slots on the interpreter) and an i31.
  (func (export "mixed") (result i32) (local $v v128) (local $e externref) (local $i (ref null i31))
    (local.set $v (v128.const i32x4 1 2 3 4))
    (local.set $e (extern.convert_any (struct.new $s (i32.const 30))))
    (local.set $i (ref.i31 (i32.const 12)))
    (call $churn)
    (i32.add
      (i32.add (struct.get $s 0 (ref.cast (ref $s) (any.convert_extern (local.get $e))))
               (i31.get_u (local.get $i)))
      (i32x4.extract_lane 3 (local.get $v))))

  ;; Two objects as a block's results.
  (func (export "multi") (result i32) (local $b (ref null $s))
    (block (result (ref $s) (ref $s))
      (struct.new $s (i32.const 21))
      (call $churn)
      (struct.new $s (i32.const 22))
      (call $churn))
    (call $churn)
    (local.set $b)
    (struct.get $s 0)
    (call $churn)
    (i32.add (struct.get $s 0 (local.get $b)))))

(assert_return (invoke "operand") (i32.const 42))
(assert_return (invoke "local") (i32.const 43))
(assert_return (invoke "param") (i32.const 42))
(assert_return (invoke "call_ref") (i32.const 44))
(assert_return (invoke "list") (i32.const 199000))
(assert_return (invoke "array") (i32.const 46))
(assert_return (invoke "tail") (i32.const 47))
(assert_return (invoke "exception") (i32.const 48))
(assert_return (invoke "global_table") (i32.const 49))
(assert_return (invoke "mixed") (i32.const 46))
(assert_return (invoke "multi") (i32.const 43))
