(module (func $f (result i32) (i32.const 1)))
(assert_return (invoke "f" (i32.const 1_000_000_000_000)))
