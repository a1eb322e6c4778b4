;; A memory of 100 pages (6.25 MiB) and a table, each growable from wasm:
;; both draw on the instance's one memory account. The table is exported so
;; that another instance can import it and grow it.
(module
  (memory (export "mem") 100)
  (table $t (export "tab") 0 externref)
  (func (export "grow_mem") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "grow_tab") (param i32) (result i32)
    (table.grow $t (ref.null extern) (local.get 0)))
  (func (export "mem_pages") (result i32) (memory.size))
  (func (export "tab_size") (result i32) (table.size $t)))
