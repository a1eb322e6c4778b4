;; A cis_v1 skill that says whether it starts fresh ({"fresh":true}: its
;; memory word at 512 is zero, its global holds its initial 7 and its data
;; segments are intact), then leaves a secret in all three for the next
;; call to find if instances or memories leaked between calls.
(module
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 7))
  (data (i32.const 0) "{\"fresh\":true}")
  (data (i32.const 32) "{\"fresh\":false}")
  (func (export "cis_main") (result i32)
    (if (i32.and (i32.eqz (i32.load (i32.const 512)))
                 (i32.eq (global.get $g) (i32.const 7)))
      (then (drop (call $out (i32.const 0) (i32.const 14))))
      (else (drop (call $out (i32.const 32) (i32.const 15)))))
    (i32.store (i32.const 512) (i32.const 0x5ec2e7))
    (global.set $g (i32.const 0x5ec2e7))
    (i32.store8 (i32.const 0) (i32.const 88))
    (i32.store8 (i32.const 32) (i32.const 88))
    (i32.const 0)))
