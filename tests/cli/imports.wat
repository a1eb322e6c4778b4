;; Every kind of import and export, for `cis inspect`.
(module
  (import "env" "log" (func (param i32 i64) (result f32)))
  (import "env" "mem" (memory 1 2))
  (import "env" "tab" (table 10 20 funcref))
  (import "env" "g" (global (mut i64)))
  (table (export "t") 3 externref)
  (global (export "gc") f64 (f64.const 1.5))
  (func (export "f") (param f32 f64) (result i32 i32)
    (i32.const 1) (i32.const 2))
  (export "m" (memory 0))
)
