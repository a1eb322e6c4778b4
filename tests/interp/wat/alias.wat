;; Deferred local.get against later writes of the same local. The
;; translator keeps a local.get as a reference to the local until it must
;; copy it; each function here would give a different answer if a deferred
;; read saw a later write.
(module
  ;; old - (old + 1) = -1; reading the new value would give 0.
  (func (export "get_then_set") (param $x i32) (result i32)
    local.get $x
    (local.set $x (i32.add (local.get $x) (i32.const 1)))
    local.get $x
    i32.sub)

  ;; old - 3*old + 3*old = old; reading the new value would give 3*old.
  (func (export "get_then_tee") (param $x i32) (result i32)
    local.get $x
    (local.tee $x (i32.mul (local.get $x) (i32.const 3)))
    i32.sub
    local.get $x
    i32.add)

  ;; The deferred read crosses a block that writes the local.
  (func (export "get_across_block") (param $x i32) (result i32)
    local.get $x
    (block (local.set $x (i32.const 100)))
    local.get $x
    i32.sub)

  ;; The write inside the block is skipped when $c is not 0: the value read
  ;; before the block must be right on both paths.
  (func (export "get_across_skip") (param $x i32) (param $c i32) (result i32)
    local.get $x
    (block (br_if 0 (local.get $c)) (local.set $x (i32.const 100)))
    local.get $x
    i32.sub)

  ;; Swap through the stack: a' = b, b' = a; returns a'*1000 + b'.
  (func (export "swap") (param $a i32) (param $b i32) (result i32)
    local.get $a
    local.get $b
    local.set $a
    local.set $b
    (i32.add (i32.mul (local.get $a) (i32.const 1000)) (local.get $b)))

  ;; Constant set while a read of the same local waits below: old*10 + 7.
  (func (export "const_set") (param $x i32) (result i32)
    local.get $x
    (local.set $x (i32.const 7))
    i32.const 10
    i32.mul
    local.get $x
    i32.add)

  ;; Local-to-local copies in a chain: a <- b <- c, with the old a kept.
  (func (export "chain") (param $a i32) (param $b i32) (param $c i32) (result i32)
    local.get $a
    (local.set $a (local.get $b))
    (local.set $b (local.get $c))
    ;; old a * 10000 + a' * 100 + b'
    i32.const 10000 i32.mul
    (i32.mul (local.get $a) (i32.const 100))
    i32.add
    local.get $b
    i32.add)

  ;; The results are the parameters in another order: the moves into the
  ;; result slots must not overwrite a parameter still to be read.
  (func (export "ret_swap") (param i32 i32) (result i32 i32)
    local.get 1
    local.get 0)
  (func (export "ret_rotate") (param i32 i32 i32) (result i32 i32 i32)
    local.get 2
    local.get 0
    local.get 1)

  ;; A value retargeted into a local, then read twice: (x+1)*(x+1).
  (func (export "tee_square") (param $x i32) (result i32)
    (local $y i32)
    (local.tee $y (i32.add (local.get $x) (i32.const 1)))
    local.get $y
    i32.mul)

  ;; Loop counter updated by one retargeted add; sum of 0..n-1.
  (func (export "sum_below") (param $n i32) (result i32)
    (local $i i32) (local $s i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
        (local.set $s (i32.add (local.get $s) (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    local.get $s)

  ;; A conditional return carrying a deferred local while the local is
  ;; written on the fall-through path.
  (func (export "ret_if") (param $x i32) (result i32)
    local.get $x
    (br_if 0 (i32.lt_s (local.get $x) (i32.const 0)))
    drop
    (local.set $x (i32.mul (local.get $x) (i32.const 2)))
    local.get $x)

  ;; i64 and f64 through the same paths.
  (func (export "get_then_set64") (param $x i64) (result i64)
    local.get $x
    (local.set $x (i64.add (local.get $x) (i64.const 0x100000000)))
    local.get $x
    i64.sub)
  (func (export "fswap") (param $a f64) (param $b f64) (result f64)
    local.get $a
    local.get $b
    local.set $a
    local.set $b
    (f64.sub (local.get $a) (local.get $b)))
;; Deferred base + constant (kept as one operand until used) against
  ;; writes of its base.
  (func (export "add_then_set") (param $x i32) (result i32)
    (i32.add (local.get $x) (i32.const 8))
    (local.set $x (i32.const 100))
    local.get $x
    i32.sub)
  ;; The base is a computed value in a stack slot, with pushes above it.
  (func (export "slot_base") (param $x i32) (result i32)
    (i32.add (i32.mul (local.get $x) (i32.const 2)) (i32.const 8))
    (i32.mul (local.get $x) (i32.const 3))
    i32.add)
  ;; Constant first, then the base is rewritten by a tee: (8 + old) + 1.
  (func (export "const_plus") (param $x i32) (result i32)
    (i32.add (i32.const 8) (local.get $x))
    (local.tee $x (i32.const 1))
    i32.add)
  ;; A chain of constants on one base: x + 5 - 3 + 10.
  (func (export "add_chain") (param $x i32) (result i32)
    (i32.add (i32.sub (i32.add (local.get $x) (i32.const 5)) (i32.const 3)) (i32.const 10)))
;; i64 eq, ne and eqz before a branch are one instruction with it; the
  ;; values below differ only in their high halves.
  (func (export "i64_eqz_br") (param $x i64) (result i32)
    (block $zero
      (br_if $zero (i64.eqz (local.get $x)))
      (return (i32.const 1)))
    (i32.const 0))
  (func (export "i64_ne_imm_br") (param $x i64) (result i32)
    (block $ne
      (br_if $ne (i64.ne (local.get $x) (i64.const 0x100000001)))
      (return (i32.const 0)))
    (i32.const 1))
  ;; The first operand from the accumulator, then the second (mirrored).
  (func (export "i64_eq_acc_br") (param $x i64) (param $y i64) (result i32)
    (block $eq
      (br_if $eq (i64.eq (i64.add (local.get $x) (i64.const 5)) (local.get $y)))
      (block $eq2
        (br_if $eq2 (i64.eq (local.get $y) (i64.sub (local.get $x) (i64.const 5))))
        (return (i32.const 0)))
      (return (i32.const 2)))
    (i32.const 1))
  ;; if branches when the compare is false: eq becomes ne.
  (func (export "i64_eq_if") (param $x i64) (param $y i64) (result i32)
    (if (result i32) (i64.eq (local.get $x) (local.get $y))
      (then (i32.const 1))
      (else (i32.const 2))))
  ;; A back edge on i64.ne, charging fuel per iteration.
  (func (export "i64_ne_loop") (param $x i64) (param $stop i64) (result i32)
    (local $n i32)
    (loop $l
      (local.set $x (i64.add (local.get $x) (i64.const 0x100000000)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $l (i64.ne (local.get $x) (local.get $stop))))
    (local.get $n))
;; Declared locals start at zero: a zero written to one not yet written,
  ;; before the first label, is dropped (two here, and the tee's); the
  ;; others are kept: a written local, a parameter, after a loop header.
  (func (export "zero_locals") (param $n i32) (result i32)
    (local $a i32) (local $b i64) (local $c i32)
    (local.set $a (i32.const 0))
    (local.set $b (i64.const 0))
    (local.set $n (i32.add (local.tee $c (i32.const 0)) (local.get $n)))
    (local.set $a (i32.add (local.get $a) (local.get $n)))
    (local.set $a (i32.const 0))
    (local.set $n (i32.const 0))
    (loop $l
      (local.set $a (i32.add (local.get $a) (i32.const 1)))
      (local.set $b (i64.add (local.get $b) (i64.const 5)))
      (local.set $c (i32.const 0))
      (br_if $l (i32.lt_u (local.get $a) (i32.const 3))))
    (i32.add (i32.add (local.get $a) (local.get $n))
             (i32.add (local.get $c) (i32.wrap_i64 (local.get $b)))))
  ;; The else arm starts at a label: its zero is kept.
  (func (export "zero_if") (param $p i32) (result i32)
    (local $a i32)
    (if (local.get $p)
      (then (local.set $a (i32.const 5)))
      (else (local.set $a (i32.const 0))))
    (local.get $a))
)
