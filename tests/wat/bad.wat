;; A text module with a misspelt instruction on line 4, column 5.
(module
  (func (export "f") (result i32)
    i32.cnst 1))
