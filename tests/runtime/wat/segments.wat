;; Imports a table and a memory and fills them with segments whose last
;; one is out of bounds: instantiation traps after the earlier writes.
(module
  (import "env" "tab" (table 4 funcref))
  (import "env" "mem" (memory 1))
  (func $seven (result i32) (i32.const 7))
  (elem (i32.const 1) $seven)
  (elem (i32.const 3) $seven $seven)
  (data (i32.const 0) "never"))
