;; Lazy translation: which functions get translated, and when. The order
;; of the functions is their index, which the tests name.
(module
  (type $ii (func (param i32) (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $via_table_target $h1)
  (global $started (mut i32) (i32.const 0))
  (func $a (export "a") (param i32) (result i32)          ;; 0: calls h1
    (i32.add (call $h1 (local.get 0)) (i32.const 1)))
  (func $b (export "b") (param i32) (result i32)          ;; 1: calls h2
    (call $h2 (local.get 0)))
  (func $c (export "c") (param i32) (result i32)          ;; 2: calls nobody
    (i32.mul (local.get 0) (i32.const 3)))
  (func $h1 (param i32) (result i32)                      ;; 3
    (i32.add (local.get 0) (i32.const 100)))
  (func $h2 (param i32) (result i32)                      ;; 4: calls h1
    (i32.sub (call $h1 (local.get 0)) (i32.const 7)))
  (func $unused (param i32) (result i32)                  ;; 5: never called
    (i32.div_u (local.get 0) (i32.const 0)))
  (func $via_table_target (param i32) (result i32)        ;; 6: only in the table
    (i32.xor (local.get 0) (i32.const 0x55)))
  (func (export "via_table") (param i32 i32) (result i32) ;; 7
    (call_indirect (type $ii) (local.get 1) (local.get 0)))
  (func $start                                            ;; 8: the start function
    (global.set $started (call $from_start (i32.const 5))))
  (func $from_start (param i32) (result i32)              ;; 9: called by start only
    (i32.mul (local.get 0) (i32.const 11)))
  (func (export "started") (param i32) (result i32)       ;; 10
    (global.get $started))
  ;; 11: calls h3 only when its argument is not zero.
  (func (export "maybe") (param i32) (result i32)
    (if (result i32) (local.get 0)
      (then (call $h3 (local.get 0)))
      (else (i32.const -1))))
  (func $h3 (param i32) (result i32)                      ;; 12
    (local $i i32) (local $s i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get 0)))
        (local.set $s (i32.add (local.get $s) (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $s))
  ;; 13: exported for another instance to import; never called here.
  (func (export "square") (param i32) (result i32)
    (i32.mul (local.get 0) (local.get 0)))
  (start $start))
