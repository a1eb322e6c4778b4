;; Imports a memory and a table and grows them: growth is charged to the
;; account that pays for each object, not necessarily this instance's.
(module
  (import "x" "mem" (memory 0))
  (import "x" "tab" (table $t 0 externref))
  (func (export "grow_mem") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "grow_tab") (param i32) (result i32)
    (table.grow $t (ref.null extern) (local.get 0))))
