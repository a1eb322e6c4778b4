;; GC micro-benchmark (bench/NOTES.md): a list of 1,000 nodes built in a
;; local, then walked 100,000 times through a call that holds it;
;; 2,000,000 nodes made and dropped; and 10,000,000 calls of a recursive
;; function that holds a node across its call (each links a frame).
(module
  (type $node (struct (field $v i32) (field $next (ref null $node))))
  (func $sum (param $l (ref null $node)) (result i32) (local $s i32)
    (block $d (loop $k
      (br_if $d (ref.is_null (local.get $l)))
      (local.set $s (i32.add (local.get $s) (struct.get $node $v (local.get $l))))
      (local.set $l (struct.get $node $next (local.get $l)))
      (br $k)))
    (local.get $s))
  (func (export "walk") (result i32) (local $l (ref null $node)) (local $i i32) (local $s i32)
    (local.set $i (i32.const 1000))
    (block $d (loop $k
      (br_if $d (i32.eqz (local.get $i)))
      (local.set $l (struct.new $node (local.get $i) (local.get $l)))
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br $k)))
    (local.set $i (i32.const 100000))
    (block $d (loop $k
      (br_if $d (i32.eqz (local.get $i)))
      (local.set $s (i32.add (local.get $s) (call $sum (local.get $l))))
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br $k)))
    (local.get $s))
  (func (export "churn") (result i32) (local $l (ref null $node)) (local $i i32)
    (local.set $i (i32.const 2000000))
    (block $d (loop $k
      (br_if $d (i32.eqz (local.get $i)))
      (local.set $l (struct.new $node (local.get $i) (ref.null $node)))
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br $k)))
    (struct.get $node $v (local.get $l)))
  (func $rec (param $x (ref null $node)) (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n)) (then (struct.get $node $v (local.get $x)))
      (else (i32.add (call $rec (local.get $x) (i32.sub (local.get $n) (i32.const 1)))
        (struct.get $node $v (local.get $x))))))
  (func (export "rec") (result i32) (local $x (ref null $node)) (local $i i32) (local $s i32)
    (local.set $x (struct.new $node (i32.const 1) (ref.null $node)))
    (local.set $i (i32.const 10000))
    (block $d (loop $k
      (br_if $d (i32.eqz (local.get $i)))
      (local.set $s (i32.add (local.get $s) (call $rec (local.get $x) (i32.const 1000))))
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br $k)))
    (local.get $s)))
