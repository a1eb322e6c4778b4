;; NaN payloads: bit operations, loads, stores, reinterpretation, locals
;; and select must keep every bit; min/max/nearest edge cases.
(module
  (memory 1)
  (func (export "f32_neg") (param i32) (result i32)
    (i32.reinterpret_f32 (f32.neg (f32.reinterpret_i32 (local.get 0)))))
  (func (export "f32_abs") (param i32) (result i32)
    (i32.reinterpret_f32 (f32.abs (f32.reinterpret_i32 (local.get 0)))))
  (func (export "f32_copysign") (param i32 i32) (result i32)
    (i32.reinterpret_f32
      (f32.copysign (f32.reinterpret_i32 (local.get 0)) (f32.reinterpret_i32 (local.get 1)))))
  (func (export "f64_neg") (param i64) (result i64)
    (i64.reinterpret_f64 (f64.neg (f64.reinterpret_i64 (local.get 0)))))
  (func (export "f64_abs") (param i64) (result i64)
    (i64.reinterpret_f64 (f64.abs (f64.reinterpret_i64 (local.get 0)))))
  (func (export "f64_copysign") (param i64 i64) (result i64)
    (i64.reinterpret_f64
      (f64.copysign (f64.reinterpret_i64 (local.get 0)) (f64.reinterpret_i64 (local.get 1)))))
  ;; Through memory as floats.
  (func (export "f32_mem") (param i32) (result i32)
    (f32.store (i32.const 8) (f32.reinterpret_i32 (local.get 0)))
    (i32.reinterpret_f32 (f32.load (i32.const 8))))
  (func (export "f64_mem") (param i64) (result i64)
    (f64.store (i32.const 16) (f64.reinterpret_i64 (local.get 0)))
    (i64.reinterpret_f64 (f64.load (i32.const 16))))
  ;; Through a float local and select.
  (func (export "f32_local") (param i32 i32) (result i32)
    (local f32 f32)
    (local.set 2 (f32.reinterpret_i32 (local.get 0)))
    (local.set 3 (f32.reinterpret_i32 (local.get 1)))
    (i32.reinterpret_f32 (select (local.get 2) (local.get 3) (i32.const 1))))
  ;; Constant sNaN bits, as a deferred constant and materialized.
  (func (export "f32_const") (result i32)
    (i32.reinterpret_f32 (f32.const nan:0x200001)))
  (func (export "f64_const_neg") (result i64)
    (i64.reinterpret_f64 (f64.neg (f64.const -nan:0x4000000000001))))
  (func (export "f32_param") (param f32) (result f32) (local.get 0))

  (func (export "f32_min") (param f32 f32) (result f32) (f32.min (local.get 0) (local.get 1)))
  (func (export "f32_max") (param f32 f32) (result f32) (f32.max (local.get 0) (local.get 1)))
  (func (export "f64_min") (param f64 f64) (result f64) (f64.min (local.get 0) (local.get 1)))
  (func (export "f64_max") (param f64 f64) (result f64) (f64.max (local.get 0) (local.get 1)))
  (func (export "f32_nearest") (param f32) (result f32) (f32.nearest (local.get 0)))
  (func (export "f64_nearest") (param f64) (result f64) (f64.nearest (local.get 0)))
  (func (export "f32_add") (param f32 f32) (result f32) (f32.add (local.get 0) (local.get 1)))
  (func (export "f32_demote") (param f64) (result f32) (f32.demote_f64 (local.get 0)))
  (func (export "f64_convert_u64") (param i64) (result f64) (f64.convert_i64_u (local.get 0)))
  (func (export "f32_convert_u64") (param i64) (result f32) (f32.convert_i64_u (local.get 0)))
)
