;; Exports a table and calls through it, to see what other instances
;; wrote there.
(module
  (type $t (func (result i32)))
  (table (export "tab") 4 funcref)
  (memory (export "mem") 1)
  (func (export "call") (param i32) (result i32)
    (call_indirect (type $t) (local.get 0))))
