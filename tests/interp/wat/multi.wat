;; Multi-value blocks, branches that carry values across stack heights,
;; br_table stubs, loops and ifs with parameters, block types by type index.
(module
  (type $pair (func (param i32) (result i32 i32)))

  (func (export "block_params") (param i32 i32) (result i32)
    local.get 0
    local.get 1
    (block (param i32 i32) (result i32) i32.sub))

  ;; (1, p + 10): the block's results are taken from above junk values.
  (func (export "br_values") (param i32) (result i32 i32)
    i32.const 1
    (block (result i32 i32)
      i32.const 7
      i32.const 8
      local.get 0
      i32.const 10
      br 0)
    i32.add)

  ;; p != 0: p + 1, else -1.
  (func (export "br_if_values") (param i32) (result i32)
    (block (result i32)
      i32.const 99
      (i32.add (local.get 0) (i32.const 1))
      local.get 0
      br_if 0
      drop
      drop
      i32.const -1))

  ;; p=0: 0+1+2, p=1: 10+2, p>=2: 10p.
  (func (export "br_table_values") (param i32) (result i32)
    (block $a (result i32)
      (block $b (result i32)
        (block $c (result i32)
          i32.const 100
          (i32.mul (local.get 0) (i32.const 10))
          local.get 0
          br_table $c $b $a)
        i32.const 1
        i32.add)
      i32.const 2
      i32.add))

  ;; Values that are still constants and locals when the branch copies them.
  (func (export "br_deferred") (param i32) (result i32 i32)
    (block (result i32 i32)
      i32.const 5
      i32.const 6
      i32.const 7
      local.get 0
      i32.const 42
      br 0))

  ;; n + (n-1) + ... + 1 with the accumulator and counter as loop params.
  (func (export "loop_params") (param $n i32) (result i32)
    (local $i i32)
    i32.const 0
    local.get $n
    (loop $l (param i32 i32) (result i32 i32)
      local.tee $i
      i32.add
      (i32.sub (local.get $i) (i32.const 1))
      local.tee $i
      local.get $i
      br_if $l)
    drop)

  ;; A br_table that jumps back to a loop with a parameter: counts n down
  ;; to 0, summing into $s; returns s*1000 + iterations.
  (func (export "loop_table") (param $n i32) (result i32)
    (local $s i32) (local $k i32)
    (block $out (result i32)
      local.get $n
      (loop $l (param i32) (result i32)
        local.tee $n
        local.get $s
        i32.add
        local.set $s
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (i32.sub (local.get $n) (i32.const 1))
        (i32.le_s (i32.sub (local.get $n) (i32.const 1)) (i32.const 0))
        br_table $l $out))
    drop
    (i32.add (i32.mul (local.get $s) (i32.const 1000)) (local.get $k)))

  (func (export "if_params") (param i32 i32) (result i32)
    local.get 0
    local.get 1
    (i32.gt_s (local.get 0) (i32.const 0))
    (if (param i32 i32) (result i32) (then i32.add) (else i32.sub)))

  (func (export "if_noelse") (param i32) (result i32)
    local.get 0
    (i32.lt_s (local.get 0) (i32.const 10))
    (if (param i32) (result i32) (then i32.const 100 i32.add)))

  ;; Block type given by type index: the block turns x into (3x, x),
  ;; then 3x - x = 2x.
  (func (export "typed_block") (param i32) (result i32)
    local.get 0
    (block (type $pair) local.tee 0 i32.const 3 i32.mul local.get 0)
    i32.sub)

  ;; A two-result function called and consumed.
  (func $divmod (param i32 i32) (result i32 i32)
    (i32.div_u (local.get 0) (local.get 1))
    (i32.rem_u (local.get 0) (local.get 1)))
  (func (export "divmod") (param i32 i32) (result i32)
    (call $divmod (local.get 0) (local.get 1))
    i32.const 1000
    i32.mul
    i32.add)

  ;; Unreachable code after branches, with nested blocks and ifs inside it.
  (func (export "dead_code") (param i32) (result i32)
    (block $b (result i32)
      local.get 0
      br $b
      (block (if (i32.const 1) (then (loop (br 0))) (else unreachable)))
      i32.const 5
      i32.add))

  ;; else reached after a branch in the then arm.
  (func (export "if_br") (param i32) (result i32)
    (block $b (result i32)
      (if (result i32) (local.get 0)
        (then (br $b (i32.const 11)))
        (else (i32.const 22)))))

  ;; if as the last thing before a loop back edge, compare fused.
  (func (export "count_odd") (param $n i32) (result i32)
    (local $i i32) (local $c i32)
    (loop $l
      (if (i32.and (local.get $i) (i32.const 1))
        (then (local.set $c (i32.add (local.get $c) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    local.get $c)

  ;; Compare with the constant on the left (operands swapped).
  (func (export "const_left") (param i32) (result i32)
    (i32.add
      (i32.mul (i32.lt_s (i32.const 5) (local.get 0)) (i32.const 10))
      (i32.sub (i32.const 100) (local.get 0))))

  ;; select with typed and untyped forms, deferred operands.
  (func (export "select") (param i32 i32 i32) (result i32)
    (select (local.get 0) (local.get 1) (local.get 2)))
  (func (export "select_t") (param i64 i64 i32) (result i64)
    (select (result i64) (local.get 0) (local.get 1) (local.get 2)))
;; Constants read inside loops come from slots filled on entry; the
  ;; recursion checks that every frame gets its own, bit-exact.
  (func $loop_consts (export "loop_consts") (param $n i32) (result f64)
    (local $i i32) (local $s f64)
    (loop $l
      (local.set $s (f64.add (local.get $s) (f64.const 0.5)))
      (local.set $s (f64.sub (local.get $s)
        (f64.reinterpret_i64 (i64.and (i64.const 0x3fc0000000000000) (i64.const -1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (if (result f64) (i32.gt_u (local.get $n) (i32.const 1))
      (then (f64.add (local.get $s) (call $loop_consts (i32.sub (local.get $n) (i32.const 1)))))
      (else (local.get $s))))
  (func (export "loop_nan") (param $n i32) (result i32)
    (local $i i32) (local $r i32)
    (loop $l
      (local.set $r (i32.reinterpret_f32 (f32.abs (f32.const -nan:0x200001))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    local.get $r)
;; The accumulators (a value kept in a register for the next instruction)
  ;; must not be trusted at a label: a loop header is also reached from the
  ;; back edge, the end of an if from both arms.
  (func (export "acc_loop_header") (param i32) (result i32)
    (local $x i32)
    (local.set $x (i32.mul (local.get 0) (i32.const 3)))
    (loop $l
      (local.set $x (i32.add (local.get $x) (i32.const 1)))
      (drop (i32.mul (local.get $x) (i32.const 100)))
      (br_if $l (i32.lt_s (local.get $x) (i32.const 20))))
    (local.get $x))
  (func (export "acc_if_merge") (param i32) (result i32)
    (local $x i32)
    (local.set $x (i32.const 10))
    (if (local.get 0) (then (local.set $x (i32.mul (local.get $x) (i32.const 7)))))
    (i32.add (local.get $x) (i32.const 1)))
  ;; The compare's second operand is the value just computed: n > 2i runs
  ;; as 2i < n with 2i from the accumulator.
  (func (export "acc_mirror") (param $n i32) (result i32)
    (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.gt_u (local.get $n) (i32.mul (local.get $i) (i32.const 2)))))
    local.get $i)
  ;; f64 values passed along in the f64 accumulator, either operand.
  (func (export "f64_chain") (param f64 f64 f64) (result f64)
    (f64.div (f64.sub (local.get 0) (f64.mul (local.get 1) (local.get 2)))
             (f64.add (local.get 1) (f64.const 1))))
;; A shift or rotate by a constant feeding xor or or: one op each, the
  ;; shift's result either operand, counts mod the width.
  (func (export "shift_bits32a") (param $x i32) (param $y i32) (result i32)
    (i32.xor (i32.or (i32.xor (i32.shl (local.get $x) (i32.const 35)) (local.get $y))
                     (i32.shr_u (local.get $x) (i32.const 29)))
             (i32.rotl (local.get $x) (i32.const 39))))
  (func (export "shift_bits32b") (param $x i32) (param $y i32) (result i32)
    (i32.or (i32.or (i32.xor (local.get $y) (i32.shr_u (local.get $x) (i32.const 33)))
                    (i32.shl (local.get $x) (i32.const 4)))
            (i32.rotl (local.get $x) (i32.const 12))))
  (func (export "shift_bits64a") (param $x i64) (param $y i64) (result i64)
    (i64.xor (i64.or (i64.xor (i64.shl (local.get $x) (i64.const 67)) (local.get $y))
                     (i64.shr_u (local.get $x) (i64.const 61)))
             (i64.rotl (local.get $x) (i64.const 71))))
  (func (export "shift_bits64b") (param $x i64) (param $y i64) (result i64)
    (i64.or (i64.or (i64.xor (local.get $y) (i64.shr_u (local.get $x) (i64.const 65)))
                    (i64.shl (local.get $x) (i64.const 4)))
            (i64.rotl (local.get $x) (i64.const 44))))
  ;; shr_s is not fused; a shift kept in a local is not either.
  (func (export "shift_bits_kept") (param $x i32) (param $y i32) (result i32)
    (local $s i32)
    (i32.xor (i32.shr_s (local.get $x) (i32.const 4)) (local.get $y))
    (i32.xor (local.tee $s (i32.shl (local.get $x) (i32.const 2))) (local.get $y))
    i32.add
    local.get $s
    i32.add)
  ;; h = rotl(h, 5) ^ n while n counts down to 0.
  (func (export "shift_bits_loop") (param $n i32) (result i32)
    (local $h i32)
    (loop $l
      (local.set $h (i32.xor (i32.rotl (local.get $h) (i32.const 5)) (local.get $n)))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    local.get $h)
  ;; i32.eqz added to a count (i32, and i64 through extend): one op each.
  (func (export "count_zeros") (param $a i32) (param $b i32) (param $c i32) (result i32)
    (i32.add (i32.add (i32.eqz (local.get $a)) (local.get $c)) (i32.eqz (local.get $b))))
  (func (export "count_zeros64") (param $a i32) (param $n i64) (result i64)
    (i64.add (local.get $n) (i64.extend_i32_u (i32.eqz (local.get $a)))))
  ;; zeros among n, n - 1, ... 1 after masking with m, counted in a loop.
  (func (export "count_zeros_loop") (param $n i32) (param $m i32) (result i64)
    (local $k i64)
    (loop $l
      (local.set $k (i64.add (i64.extend_i32_u (i32.eqz (i32.and (local.get $n) (local.get $m))))
                             (local.get $k)))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    local.get $k)
  ;; (i + 1) & 1023, a probe step round a table: one op; the sum kept in
  ;; a local by local.tee stays apart.
  (func (export "add_and") (param $i i32) (result i32)
    (i32.and (i32.add (local.get $i) (i32.const 1)) (i32.const 1023)))
  (func (export "add_and_tee") (param $i i32) (result i32)
    (local $t i32)
    (i32.add (i32.and (local.tee $t (i32.add (local.get $i) (i32.const 9))) (i32.const 7)) (local.get $t)))
  ;; i32.wrap_i64 of an i64 below 2^32 by its op: no code. (x * k) >> 44
  ;; (a hash's bucket) and a mask of 32 bits are; >> 31 and a mask of 33
  ;; bits are not, their wrap keeps its code.
  (func (export "wrap_shr44") (param $x i64) (result i32)
    (i32.wrap_i64 (i64.shr_u (i64.mul (local.get $x) (i64.const 0x9e3779b97f4a7c15)) (i64.const 44))))
  (func (export "wrap_shr31") (param $x i64) (result i32)
    (i32.wrap_i64 (i64.shr_u (local.get $x) (i64.const 31))))
  (func (export "wrap_and32") (param $x i64) (result i32)
    (i32.wrap_i64 (i64.and (local.get $x) (i64.const 0xffffffff))))
  (func (export "wrap_and33") (param $x i64) (result i32)
    (i32.wrap_i64 (i64.and (local.get $x) (i64.const 0x1ffffffff))))
  ;; a step kept in two locals (local.tee, then local.set of the tee'd
  ;; local): the add and the move one op, i32 and i64
  (func (export "step_two") (param $i i32) (result i32)
    (local $a i32) (local $b i32)
    (local.set $b (local.tee $a (i32.add (local.get $i) (i32.const 7))))
    (i32.add (i32.mul (local.get $a) (i32.const 1000)) (local.get $b)))
  (func (export "step_two64") (param $i i64) (result i64)
    (local $a i64) (local $b i64)
    (local.set $b (local.tee $a (i64.add (local.get $i) (i64.const 0x100000001))))
    (i64.sub (i64.mul (local.get $a) (i64.const 3)) (local.get $b)))
  ;; (x * k) >> 7: the multiply and the shift one op; a product also
  ;; kept in a local stays apart
  (func (export "mul_shr") (param $x i64) (result i64)
    (i64.shr_u (i64.mul (local.get $x) (i64.const 0x9e3779b97f4a7c15)) (i64.const 7)))
  (func (export "mul_shr_tee") (param $x i64) (result i64)
    (local $p i64)
    (i64.add (i64.shr_u (local.tee $p (i64.mul (local.get $x) (i64.const 0x9e3779b97f4a7c15))) (i64.const 7))
             (local.get $p)))
  ;; two adds of constants in a row, the second reading the first's sum:
  ;; one op
  (func (export "add_two") (param $i i32) (param $j i32) (result i32)
    (local.set $i (i32.add (local.get $i) (i32.const 3)))
    (local.set $j (i32.add (local.get $i) (i32.const -5)))
    (i32.add (i32.mul (local.get $i) (i32.const 1000)) (local.get $j)))
)
