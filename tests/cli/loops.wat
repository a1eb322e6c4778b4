;; Loops for the limits: `spin` never ends, `count` runs n iterations and
;; returns n.
(module
  (func (export "spin")
    (loop $l (br $l)))
  (func (export "count") (param $n i32) (result i32)
    (local $i i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $i))
)
