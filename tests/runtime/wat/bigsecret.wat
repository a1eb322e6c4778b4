;; A memory larger than the pool clears by hand (5 pages): released pages
;; are dropped with madvise instead.
(module
  (memory (export "mem") 5 5)
  (func (export "write_secret")
    (i32.store (i32.const 300000) (i32.const 0x5ec2e7))
    (i32.store (i32.const 16) (i32.const 0x5ec2e7)))
  (func (export "peek") (param i32) (result i32) (i32.load (local.get 0))))
