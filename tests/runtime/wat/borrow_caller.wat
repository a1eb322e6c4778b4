;; Calls whatever function sits at index 0 of the table it imports.
(module
  (type $t (func (result i32)))
  (import "x" "tab" (table 1 funcref))
  (func (export "call") (result i32) (call_indirect (type $t) (i32.const 0))))
