;; See ping.wat.
(module
  (type $t (func (param i32) (result i32)))
  (import "ping" "down" (func $down (type $t)))
  (import "ping" "tab" (table 2 funcref))
  (func $pong (param i32) (result i32) (call $down (local.get 0)))
  (elem (i32.const 1) $pong))
