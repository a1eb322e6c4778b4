;; Imports lazy.wat's "square" and calls it: the first call of square
;; comes from this instance.
(module
  (import "lazy" "square" (func $square (param i32) (result i32)))
  (func (export "use_square") (param i32) (result i32)
    (i32.add (call $square (local.get 0)) (i32.const 1))))
