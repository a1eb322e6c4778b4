;; Three functions deep to a trap, built with --debug-names so the name
;; section names them: the trap message's wasm backtrace (test_cli_operate).
(module
  (func $inner (param i32) (result i32)
    (i32.div_s (i32.const 1) (local.get 0)))
  (func $middle (param i32) (result i32)
    (i32.add (call $inner (local.get 0)) (i32.const 1)))
  (func $outer (export "run") (param i32) (result i32)
    (call $middle (local.get 0))))
