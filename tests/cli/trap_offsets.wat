;; Traps at known instructions, for the code offsets of a trap's wasm
;; backtrace (test_cli_host finds each instruction's offset in the binary).
;; "oob" loads past the memory with its address folded into the load
;; (base + constant + offset=); "deep" calls itself until the stack ends.
(module
  (memory 1)
  (func $oob (export "oob") (param $p i32) (result i32)
    (local $x i32)
    (local.set $x (i32.mul (local.get $p) (i32.const 3)))
    (i32.load offset=4 (i32.add (local.get $x) (i32.const 8))))
  (func $deep (export "deep") (param $n i32) (result i32)
    (i32.add (call $deep (i32.add (local.get $n) (i32.const 1))) (i32.const 1))))
