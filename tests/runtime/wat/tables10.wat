;; Ten tables of externref, each grown by "fillN" in chunks of 65536
;; elements until table.grow returns -1; "fillN" returns the final size.
;; Under one memory account the ten together stop at the account's limit.
(module
  (table $t0 0 externref)
  (table $t1 0 externref)
  (table $t2 0 externref)
  (table $t3 0 externref)
  (table $t4 0 externref)
  (table $t5 0 externref)
  (table $t6 0 externref)
  (table $t7 0 externref)
  (table $t8 0 externref)
  (table $t9 0 externref)
  (func (export "fill0") (result i32)
    (block $done
      (loop $more
        (br_if $done (i32.eq (table.grow $t0 (ref.null extern) (i32.const 65536)) (i32.const -1)))
        (br $more)))
    (table.size $t0))
  (func (export "fill1") (result i32)
    (block $done
      (loop $more
        (br_if $done (i32.eq (table.grow $t1 (ref.null extern) (i32.const 65536)) (i32.const -1)))
        (br $more)))
    (table.size $t1))
  (func (export "fill2") (result i32)
    (block $done
      (loop $more
        (br_if $done (i32.eq (table.grow $t2 (ref.null extern) (i32.const 65536)) (i32.const -1)))
        (br $more)))
    (table.size $t2))
  (func (export "fill3") (result i32)
    (block $done
      (loop $more
        (br_if $done (i32.eq (table.grow $t3 (ref.null extern) (i32.const 65536)) (i32.const -1)))
        (br $more)))
    (table.size $t3))
  (func (export "fill4") (result i32)
    (block $done
      (loop $more
        (br_if $done (i32.eq (table.grow $t4 (ref.null extern) (i32.const 65536)) (i32.const -1)))
        (br $more)))
    (table.size $t4))
  (func (export "fill5") (result i32)
    (block $done
      (loop $more
        (br_if $done (i32.eq (table.grow $t5 (ref.null extern) (i32.const 65536)) (i32.const -1)))
        (br $more)))
    (table.size $t5))
  (func (export "fill6") (result i32)
    (block $done
      (loop $more
        (br_if $done (i32.eq (table.grow $t6 (ref.null extern) (i32.const 65536)) (i32.const -1)))
        (br $more)))
    (table.size $t6))
  (func (export "fill7") (result i32)
    (block $done
      (loop $more
        (br_if $done (i32.eq (table.grow $t7 (ref.null extern) (i32.const 65536)) (i32.const -1)))
        (br $more)))
    (table.size $t7))
  (func (export "fill8") (result i32)
    (block $done
      (loop $more
        (br_if $done (i32.eq (table.grow $t8 (ref.null extern) (i32.const 65536)) (i32.const -1)))
        (br $more)))
    (table.size $t8))
  (func (export "fill9") (result i32)
    (block $done
      (loop $more
        (br_if $done (i32.eq (table.grow $t9 (ref.null extern) (i32.const 65536)) (i32.const -1)))
        (br $more)))
    (table.size $t9))
  (func (export "grow0") (param i32) (result i32)
    (table.grow $t0 (ref.null extern) (local.get 0))))
