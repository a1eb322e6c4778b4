;; With pong.wat: two instances that call each other forever. "down" calls
;; table slot 1, where pong's instance puts its function, which calls
;; "down" back.
(module
  (type $t (func (param i32) (result i32)))
  (table (export "tab") 2 funcref)
  (func $down (export "down") (param i32) (result i32)
    (call_indirect (type $t) (i32.add (local.get 0) (i32.const 1)) (i32.const 1)))
  (elem (i32.const 0) $down))
