;; Answers 1: the module whose cache entry the tests damage.
(module (func (export "f") (result i32) (i32.const 1)))
