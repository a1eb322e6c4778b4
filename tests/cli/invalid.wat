;; Valid text, invalid module: the function returns an i64 as an i32.
;; Built with wat2wasm --no-check.
(module
  (func (export "bad") (result i32) (i64.const 1))
)
