;; Guest -> host -> guest recursion: "down" calls the host, which calls
;; "down" back (tests/runtime/test_runtime_nesting.c).
(module
  (import "host" "reenter" (func $h (param i32) (result i32)))
  (func (export "down") (param i32) (result i32)
    (call $h (i32.add (local.get 0) (i32.const 1)))))
