;; One function type, (i32) -> i32: the first its engine interns.
(module
  (func (export "inc") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1))))
