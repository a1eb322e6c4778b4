;; Values: every argu00000000))
(assert_return (invoke "x" (f32.const ;; Instantiation is genera(i32.load $m0x1p-149) (f64.constem2 -inf))  (i32.co