;; Counts in a global until stopped, so two runs can be compared.
(module
  (global $n (mut i64) (i64.const 0))
  (func (export "reset") (global.set $n (i64.const 0)))
  (func (export "run")
    (loop $l
      (global.set $n (i64.add (global.get $n) (i64.const 1)))
      (br $l)))
  (func (export "count_to") (param i64) (result i64)
    (local $i i64)
    (block $done
      (loop $l
        (br_if $done (i64.ge_u (local.get $i) (local.get 0)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $l)))
    (local.get $i))
  (func (export "count") (result i64) (global.get $n)))
