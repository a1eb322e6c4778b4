;; A cis_v1 skill whose entry never returns: `cis skill run --wasm` with a
;; short --timeout ends it with CIS_ETIMEOUT.
(module
  (memory (export "memory") 1)
  (func (export "cis_main") (result i32)
    (loop $l (br $l))
    (i32.const 0))
)
