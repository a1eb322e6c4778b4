;; Loops forever; "spin_signal" first tells the host it is running.
(module
  (import "host" "started" (func $started))
  (global $n (mut i64) (i64.const 0))
  (func (export "spin")
    (loop $l (br $l)))
  (func (export "spin_signal")
    (call $started)
    (loop $l
      (global.set $n (i64.add (global.get $n) (i64.const 1)))
      (br $l)))
  (func (export "count") (result i64) (global.get $n)))
