;; GC micro-benchmark (bench/NOTES.md): an array of 4,096 i32 written and
;; summed 20,000 times, element by element, by a function that holds it.
(module
  (type $a (array (mut i32)))
  (func $pass (param $x (ref $a)) (param $k i32) (result i32) (local $i i32) (local $s i32)
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $i) (array.len (local.get $x))))
      (array.set $a (local.get $x) (local.get $i) (i32.add (local.get $i) (local.get $k)))
      (local.set $s (i32.add (local.get $s) (array.get $a (local.get $x) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $s))
  (func (export "run") (result i32) (local $x (ref null $a)) (local $k i32) (local $s i32)
    (local.set $x (array.new_default $a (i32.const 4096)))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $k) (i32.const 20000)))
      (local.set $s (i32.add (local.get $s) (call $pass (ref.as_non_null (local.get $x)) (local.get $k))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $l)))
    (local.get $s)))
