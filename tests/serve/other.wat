;; A cis_v1 skill that answers {"who":"other"} whatever its input: installed
;; under the same name as echo by another tenant, its answer tells which
;; of the two ran.
(module
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\22who\22:\22other\22}")
  (func (export "cis_main") (result i32)
    (drop (call $out (i32.const 0) (i32.const 15)))
    (i32.const 0))
)
