;; A memory of 4 pages (256 KiB), above a --max-memory of 64 KiB.
(module
  (memory (export "memory") 4)
  (func (export "pages") (result i32) (memory.size))
)
