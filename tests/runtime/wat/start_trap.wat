;; The start function traps, after a data segment wrote an imported memory.
(module
  (import "env" "mem" (memory 1))
  (data (i32.const 0) "started")
  (func $start unreachable)
  (start $start))
