;; Imports a.inc with its real type, interned second here (after () -> ()).
(module
  (type (func))
  (import "a" "inc" (func $f (param i32) (result i32)))
  (table 1 funcref)
  (elem (i32.const 0) $f)
  (type $t (func (param i32) (result i32)))
  (func (export "run") (param i32) (result i32) (call $f (local.get 0)))
  (func (export "indirect") (param i32) (result i32)
    (call_indirect (type $t) (local.get 0) (i32.const 0))))
