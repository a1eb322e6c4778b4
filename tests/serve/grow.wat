;; A cis_v1 skill that grows its memory by 32 pages (2 MiB), then answers
;; {}: its call's memory peak is above that of one that grows nothing.
(module
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{}")
  (func (export "cis_main") (result i32)
    (drop (memory.grow (i32.const 32)))
    (drop (call $out (i32.const 0) (i32.const 2)))
    (i32.const 0))
)
