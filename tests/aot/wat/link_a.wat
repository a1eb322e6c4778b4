;; Exports add and a memory, for a module of the other engine to import.
(module
  (memory (export "mem") 1)
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "peek") (param i32) (result i32) (i32.load (local.get 0))))
