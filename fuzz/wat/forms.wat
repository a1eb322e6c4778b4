(module
  (type $t (func (param i32) (result i32)))
  (import "m" "f" (func $f (type $t)))
  (func $g (export "g") (param $x i32) (result i32) (local $y i64)
    (block $b (result i32)
      (loop $l
        (br_if $l (i32.eqz (local.get $x))))
      (if (result i32) (local.get $x) (then (i32.const 1)) (else (i32.const -0x8000_0000))))
    drop
    block $c
      local.get 0
      br_table $c 0
    end $c
    (f64.const nan:0x4) drop (f32.const -0x1.fffffep127) drop (f64.const 1_000.5e-3) drop
    (v128.const f32x4 inf -inf nan 0.5) (v128.const i8x16 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 255)
    (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 31) drop
    (call_indirect (type $t) (local.get $x) (i32.const 0)))
  (table 1 funcref) (elem (i32.const 0) $g)
  (memory 1) (data (i32.const 0) "\00\u{1f600}\ff")
  (global $gl (mut f32) (f32.const 0))
  (;; nested (; comment ;) ;)
)
