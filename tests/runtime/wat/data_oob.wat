;; Two data segments into an imported memory; the second is out of bounds.
(module
  (import "env" "mem" (memory 1))
  (data (i32.const 100) "kept")
  (data (i32.const 65534) "oob"))
