(module
  (func (export "f") (result i32)
 (i32.const 1) ;; comment (return (i32.const 2))))
(assert_return (invoke "f") (i32.const 2))
(assert_return (invoke "f") "unclosed