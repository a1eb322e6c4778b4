;; A cis_v1 skill that answers {"ok":true}: what cli_aot.sh installs and
;; runs on each engine.
(module
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\"ok\":true}")
  (func (export "cis_main") (result i32)
    (drop (call $out (i32.const 0) (i32.const 11)))
    (i32.const 0))
)
