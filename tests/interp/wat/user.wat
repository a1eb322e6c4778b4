;; Imports a function and the table of calls.wat's instance, and puts one
;; of its own functions in that table.
(module
  (type $ii (func (param i32) (result i32)))
  (import "calls" "double" (func $d (param i32) (result i32)))
  (import "calls" "table" (table 5 funcref))
  (func $own (param i32) (result i32) (i32.add (local.get 0) (i32.const 1000)))
  (elem (i32.const 4) $own)
  (func (export "use") (param i32) (result i32) (call $d (local.get 0)))
  (func (export "via_table") (param i32 i32) (result i32)
    (call_indirect (type $ii) (local.get 1) (local.get 0))))
