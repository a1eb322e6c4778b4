;; Imports add and the memory of link_a (whatever engine runs it) and
;; calls back into it; exports its own function for link_a's engine.
(module
  (import "a" "add" (func $add (param i32 i32) (result i32)))
  (import "a" "mem" (memory 1))
  (import "a" "peek" (func $peek (param i32) (result i32)))
  (table 1 funcref)
  (elem (i32.const 0) $add)
  (func (export "twice") (param i32) (result i32)
    (call $add (local.get 0) (local.get 0)))
  (func (export "indirect") (param i32) (result i32)
    (call_indirect (param i32 i32) (result i32) (local.get 0) (i32.const 10) (i32.const 0)))
  (func (export "poke_peek") (param i32 i32) (result i32)
    (i32.store (local.get 0) (local.get 1))
    (call $peek (local.get 0))))
