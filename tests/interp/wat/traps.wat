;; Every trap code the interpreter raises, with the edge values around each
;; check, in slot and immediate forms.
(module
  (memory 1)
  (func $boom (export "unreachable") unreachable)
  (func (export "div_s") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "div_u") (param i32 i32) (result i32) (i32.div_u (local.get 0) (local.get 1)))
  (func (export "rem_s") (param i32 i32) (result i32) (i32.rem_s (local.get 0) (local.get 1)))
  (func (export "rem_u") (param i32 i32) (result i32) (i32.rem_u (local.get 0) (local.get 1)))
  (func (export "div_s_by0") (param i32) (result i32) (i32.div_s (local.get 0) (i32.const 0)))
  (func (export "div_s_bym1") (param i32) (result i32) (i32.div_s (local.get 0) (i32.const -1)))
  (func (export "rem_s_bym1") (param i32) (result i32) (i32.rem_s (local.get 0) (i32.const -1)))
  (func (export "div_s64") (param i64 i64) (result i64) (i64.div_s (local.get 0) (local.get 1)))
  (func (export "rem_s64") (param i64 i64) (result i64) (i64.rem_s (local.get 0) (local.get 1)))
  (func (export "div_u64_by0") (param i64) (result i64) (i64.div_u (local.get 0) (i64.const 0)))
  (func (export "rem_s64_bym1") (param i64) (result i64) (i64.rem_s (local.get 0) (i64.const -1)))

  (func (export "trunc_f32_s") (param f32) (result i32) (i32.trunc_f32_s (local.get 0)))
  (func (export "trunc_f32_u") (param f32) (result i32) (i32.trunc_f32_u (local.get 0)))
  (func (export "trunc_f64_s") (param f64) (result i32) (i32.trunc_f64_s (local.get 0)))
  (func (export "trunc_f64_u") (param f64) (result i32) (i32.trunc_f64_u (local.get 0)))
  (func (export "trunc64_f32_s") (param f32) (result i64) (i64.trunc_f32_s (local.get 0)))
  (func (export "trunc64_f64_s") (param f64) (result i64) (i64.trunc_f64_s (local.get 0)))
  (func (export "trunc64_f64_u") (param f64) (result i64) (i64.trunc_f64_u (local.get 0)))
  (func (export "sat_f64_s") (param f64) (result i32) (i32.trunc_sat_f64_s (local.get 0)))
  (func (export "sat64_f32_u") (param f32) (result i64) (i64.trunc_sat_f32_u (local.get 0)))

  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "load_max_offset") (param i32) (result i32)
    (i32.load offset=0xffffffff (local.get 0)))
  (func (export "load8") (param i32) (result i32) (i32.load8_u offset=65535 (local.get 0)))
  (func (export "store64") (param i32 i64) (i64.store (local.get 0) (local.get 1)))
  (func (export "byte") (param i32) (result i32) (i32.load8_u (local.get 0)))

  ;; A trap several frames deep, in a named function.
  (func $inner (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0)))
  (func $middle (param i32) (result i32) (call $inner (local.get 0)))
  (func (export "deep_trap") (param i32) (result i32) (call $middle (local.get 0)))

  ;; Recursion to a chosen depth (fits), and without end (traps).
  (func $depth (export "depth") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (call $depth (i32.sub (local.get 0) (i32.const 1))) (i32.const 1)))))
  (func $forever (export "forever") (param i32) (result i32)
    (call $forever (i32.add (local.get 0) (i32.const 1))))
)
