;; A memory without a maximum: its reservation reaches the memory cap.
(module
  (memory (export "mem") 1)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))
