;; Bulk memory: overlapping copies, fills, passive segments, and bounds
;; checks that must refuse the whole range before writing any of it.
(module
  (memory (export "mem") 1 4)
  (data $d "\01\02\03\04\05")
  (func (export "init_bytes")
    (local $i i32)
    (loop $l
      (i32.store8 (local.get $i) (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 16)))))
  (func (export "copy") (param i32 i32 i32)
    (memory.copy (local.get 0) (local.get 1) (local.get 2)))
  (func (export "fill") (param i32 i32 i32)
    (memory.fill (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init") (param i32 i32 i32)
    (memory.init $d (local.get 0) (local.get 1) (local.get 2)))
  (func (export "drop") (data.drop $d))
  (func (export "size") (result i32) memory.size)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "load16_s") (param i32) (result i32) (i32.load16_s (local.get 0)))
  (func (export "load8_s64") (param i32) (result i64) (i64.load8_s (local.get 0)))
  (func (export "load32_u64") (param i32) (result i64) (i64.load32_u (local.get 0)))
  (func (export "load32_s64") (param i32) (result i64) (i64.load32_s (local.get 0)))
  (func (export "store16") (param i32 i32) (i32.store16 (local.get 0) (local.get 1)))
  (func (export "store32_64") (param i32 i64) (i64.store32 (local.get 0) (local.get 1)))
  (func (export "load64") (param i32) (result i64) (i64.load (local.get 0)))
;; Address arithmetic wraps at 32 bits before the offset is added: with
  ;; p = 4, (p - 8) is 0xfffffffc and offset 8 takes it past 4 GiB.
  (func (export "load_wrapped") (param $p i32) (result i32)
    (i32.load offset=8 (i32.add (local.get $p) (i32.const -8))))
  (func (export "store_wrapped") (param $p i32) (param $v i32)
    (i32.store offset=8 (i32.sub (local.get $p) (i32.const 8)) (local.get $v)))
  ;; The store's address is taken before the value rewrites its base.
  (func (export "store_base_rewritten") (param $p i32) (result i32)
    (i32.store (i32.add (local.get $p) (i32.const 4))
               (i32.add (local.tee $p (i32.const 500)) (i32.const 7)))
    (i32.load (i32.const 104)))
  ;; Base in a stack slot, used by a load and a store.
  (func (export "slot_based") (param $i i32) (result i32)
    (i32.store16 offset=2 (i32.add (i32.mul (local.get $i) (i32.const 4)) (i32.const 200))
                 (i32.const 0x1234))
    (i32.load16_u offset=2 (i32.add (i32.mul (local.get $i) (i32.const 4)) (i32.const 200))))
;; An f64 computed and stored, then loaded and used at once.
  (func (export "f64_store_load") (param f64 f64) (result f64)
    (f64.store (i32.const 64) (f64.add (local.get 0) (local.get 1)))
    (f64.mul (f64.load (i32.const 64)) (f64.const 2)))
  ;; An integer computed and stored through a computed address.
  (func (export "i32_store_load") (param $i i32) (param $v i32) (result i32)
    (i32.store (i32.shl (local.get $i) (i32.const 2)) (i32.xor (local.get $v) (i32.const 0xff)))
    (i32.add (i32.load (i32.shl (local.get $i) (i32.const 2))) (i32.const 1)))
  ;; f64 arithmetic on a loaded value: the load is fused into the op.
  (func (export "store_f64") (param i32 f64) (f64.store (local.get 0) (local.get 1)))
  (func (export "f64_sub_load") (param $a f64) (param $p i32) (result f64)
    (f64.sub (local.get $a) (f64.load offset=8 (local.get $p))))
  ;; The load first: mul takes it as its second operand, sub cannot.
  (func (export "f64_load_mul") (param $p i32) (param $b f64) (result f64)
    (f64.mul (f64.load (local.get $p)) (local.get $b)))
  (func (export "f64_load_sub") (param $p i32) (param $b f64) (result f64)
    (f64.sub (f64.load (local.get $p)) (local.get $b)))
  ;; Base + imm wraps at 32 bits before the offset, as for the load alone.
  (func (export "f64_div_load_wrapped") (param $a f64) (param $p i32) (result f64)
    (f64.div (local.get $a) (f64.load offset=8 (i32.add (local.get $p) (i32.const -8)))))
  ;; A load kept in a local by local.tee is not fused: the local must get it.
  (func (export "f64_add_load_tee") (param $a f64) (param $p i32) (result f64)
    (local $t f64)
    (f64.add (f64.add (local.get $a) (local.tee $t (f64.load (local.get $p)))) (local.get $t)))
  ;; A trap in a fused op comes after the ops before it, before those after.
  (func (export "f64_load_trap_after_store") (param $p i32) (param $a f64) (result f64)
    (i32.store8 (i32.const 0) (i32.const 7))
    (f64.add (local.get $a) (f64.load (local.get $p)))
    (i32.store8 (i32.const 1) (i32.const 9)))
;; A scaled index: i32.shl by a constant, i32.add, then the load, become
  ;; one op (_x with a base in a slot, _xi with an immediate base). The
  ;; store before each is mapped to its own offset; the loads' offsets
  ;; (1234 ..) make their bytes easy to find for the trap offsets.
  (func (export "idx_load32") (param $base i32) (param $i i32) (result i32)
    (i32.store8 (i32.const 0) (i32.const 7))
    (i32.load offset=1234 (i32.add (i32.shl (local.get $i) (i32.const 34)) (local.get $base))))
  (func (export "idx_load64_imm") (param $i i32) (result i64)
    (i32.store8 (i32.const 0) (i32.const 7))
    (i64.load offset=1235 (i32.add (i32.shl (local.get $i) (i32.const 3)) (i32.const -16))))
  (func (export "idx_loadf64") (param $base i32) (param $i i32) (result f64)
    (i32.store8 (i32.const 0) (i32.const 7))
    (f64.load offset=1236 (i32.add (local.get $base) (i32.shl (local.get $i) (i32.const 3)))))
  (func (export "idx_load8") (param $a i32) (param $b i32) (result i32)
    (i32.store8 (i32.const 0) (i32.const 7))
    (i32.load8_u offset=1237 (i32.add (local.get $a) (local.get $b))))
  ;; The address kept in a local: the shift and add fuse, the load stays.
  (func (export "idx_kept") (param $base i32) (param $i i32) (result i32)
    (local $p i32)
    (i32.add (i32.load (local.tee $p (i32.add (i32.shl (local.get $i) (i32.const 2)) (local.get $base))))
             (local.get $p)))
  ;; A loop over a[i] (a at 64), for the fuel of fused code.
  (func (export "idx_sum") (param $n i32) (result i32)
    (local $i i32) (local $s i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $s (i32.add (local.get $s)
                               (i32.load (i32.add (i32.shl (local.get $i) (i32.const 2)) (i32.const 64)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $s))
  (func (export "store32") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
;; An i32 load whose value goes straight into a compare-and-branch: one
  ;; op that loads, keeps the value and branches.
  (func (export "ldcmp_count") (param $p i32) (param $stop i32) (result i32)
    (local $n i32)
    (loop $l
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br_if $l (i32.ne (i32.load8_u offset=1238 (local.get $p)) (local.get $stop))))
    (local.get $n))
  (func (export "ldcmp_if") (param $p i32) (result i32)
    (i32.store8 (i32.const 0) (i32.const 7))
    (if (result i32) (i32.gt_s (i32.const 5) (i32.load offset=2000 (local.get $p)))
      (then (i32.const 1))
      (else (i32.const 2))))
  ;; The value kept in a local by local.tee: the fused op writes it.
  (func (export "ldcmp_tee") (param $p i32) (result i32)
    (local $v i32)
    (block $b
      (br_if $b (i32.eq (local.tee $v (i32.load offset=2010 (local.get $p))) (i32.const 0)))
      (local.set $v (i32.add (local.get $v) (i32.const 100))))
    (local.get $v))
  ;; A read of the tee'd local still deferred below the compare: the if
  ;; writes it to its slot before branching, so the load stays apart.
  (func (export "ldcmp_deferred") (param $p i32) (result i32)
    (local $v i32)
    (local.tee $v (i32.load offset=2020 (local.get $p)))
    (local.get $v)
    (i32.const 3)
    (i32.lt_u)
    (if (result i32) (then (i32.const 10)) (else (i32.const 20)))
    (i32.add))
;; An integer add of a loaded value: the load is fused into the add.
  (func (export "add_load") (param $a i32) (param $p i32) (result i32)
    (i32.store8 (i32.const 0) (i32.const 7))
    (i32.add (local.get $a) (i32.load offset=2030 (local.get $p))))
  (func (export "load_add64") (param $p i32) (param $b i64) (result i64)
    (i32.store8 (i32.const 0) (i32.const 7))
    (i64.add (i64.load offset=2040 (i32.add (local.get $p) (i32.const -8))) (local.get $b)))
  ;; i64.extend_i32_u of an i32 just computed into its slot costs nothing;
  ;; of a local it is an instruction.
  (func (export "extend_free") (param $x i32) (param $y i32) (result i64)
    (i64.add (i64.extend_i32_u (i32.sub (local.get $x) (local.get $y))) (i64.const 1)))
  (func (export "extend_kept") (param $x i32) (result i64)
    (i64.extend_i32_u (local.get $x)))
  (func (export "store64") (param i32 i64) (i64.store (local.get 0) (local.get 1)))

  ;; A store and the i32.add right after it are one op. v at p + 4001,
  ;; then p += s (a slot), while p < n (unsigned).
  (func (export "store_step8") (param $p i32) (param $n i32) (param $s i32) (param $v i32) (result i32)
    (loop $l
      (i32.store8 offset=3001 (i32.add (local.get $p) (i32.const 1000)) (local.get $v))
      (local.set $p (i32.add (local.get $p) (local.get $s)))
      (br_if $l (i32.lt_u (local.get $p) (local.get $n))))
    local.get $p)
  ;; x + 0.5 at p + 3011, then p += 8, while p < n.
  (func (export "store_stepf64") (param $p i32) (param $n i32) (param $x f64) (result i32)
    (loop $l
      (f64.store offset=3011 (local.get $p) (f64.add (local.get $x) (f64.const 0.5)))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (br_if $l (i32.lt_u (local.get $p) (local.get $n))))
    local.get $p)
  ;; v * 3 at p + 16 + 3021, then p -= 4, while p > n (signed).
  (func (export "store_step32") (param $p i32) (param $n i32) (param $v i32) (result i32)
    (loop $l
      (i32.store offset=3021 (i32.add (local.get $p) (i32.const 16)) (i32.mul (local.get $v) (i32.const 3)))
      (local.set $p (i32.sub (local.get $p) (i32.const 4)))
      (br_if $l (i32.gt_s (local.get $p) (local.get $n))))
    local.get $p)
  ;; v at p + 8 + 3031, q at p + 3061, then the sum p - 1 + q (q a slot),
  ;; wrapping.
  (func (export "store_step64") (param $p i32) (param $q i32) (param $v i64) (result i32)
    (local $r i32)
    (i64.store offset=3031 (i32.add (local.get $p) (i32.const 8)) (local.get $v))
    (local.set $r (i32.add (local.get $p) (i32.const -1)))
    (i32.store offset=3061 (local.get $p) (local.get $q))
    (i32.add (local.get $r) (local.get $q)))
  ;; Linear probing for key k among the i64s at 4216 + 8 * i: an i64 load
  ;; at a scaled index feeding i64.eq or i64.ne with a slot is one op (a
  ;; forward branch, then a back edge with the load second), the value
  ;; kept in the tee'd local; the index at i + 1 without a mask walks off
  ;; the end of memory when k is missing and no slot is 0. Returns the
  ;; index of k, or -1 at an empty (0) slot.
  (func (export "probe64") (param $i i32) (param $k i64) (result i32)
    (local $v i64)
    (block $found
      (block $empty
        (br_if $found (i64.eq (local.tee $v (i64.load offset=4200
                                 (i32.add (i32.shl (local.get $i) (i32.const 3)) (i32.const 16))))
                              (local.get $k)))
        (loop $l
          (br_if $empty (i64.eqz (local.get $v)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i64.ne (local.get $k)
                            (local.tee $v (i64.load offset=4208
                                             (i32.add (i32.shl (local.get $i) (i32.const 3)) (i32.const 8)))))))
        (br $found))
      (return (i32.const -1)))
    (local.get $i))
  ;; x * k added into the f64 at p + 4400, then p += 8, n times: the load,
  ;; the add, the store and the pointer step one op.
  (func (export "f64_accum") (param $p i32) (param $n i32) (param $k f64) (param $x f64) (result i32)
    (loop $l
      (f64.store offset=4400 (local.get $p)
        (f64.add (f64.mul (local.get $x) (local.get $k)) (f64.load offset=4400 (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $p))
  ;; x added into the f64 at p + 4500 (the load first), one op; then a
  ;; byte stored, which a trap in it does not reach.
  (func (export "f64_add_into") (param $p i32) (param $x f64) (result i32)
    (f64.store offset=4500 (local.get $p) (f64.add (f64.load offset=4500 (local.get $p)) (local.get $x)))
    (i32.store8 (i32.const 1) (i32.const 9))
    (local.get $p))
  ;; s + the i32 at (i << 2) + base + 4600: the load at a scaled index
  ;; and the add one op.
  (func (export "idx_add32") (param $s i32) (param $base i32) (param $i i32) (result i32)
    (i32.add (i32.load offset=4600 (i32.add (i32.shl (local.get $i) (i32.const 2)) (local.get $base)))
             (local.get $s)))
  ;; v stored at p + 4700 (p + 4400, offset 300), then p += step, while
  ;; p < n (unsigned): the store, the step and the back edge one op.
  (func (export "cross8") (param $p i32) (param $n i32) (param $step i32) (param $v i32) (result i32)
    (loop $l
      (i32.store8 offset=300 (i32.add (local.get $p) (i32.const 4400)) (local.get $v))
      (br_if $l (i32.lt_u (local.tee $p (i32.add (local.get $p) (local.get $step))) (local.get $n))))
    (local.get $p))
  (func (export "cross8_ne") (param $p i32) (param $n i32) (param $step i32) (param $v i32) (result i32)
    (loop $l
      (i32.store8 offset=300 (i32.add (local.get $p) (i32.const 4400)) (local.get $v))
      (br_if $l (i32.ne (local.tee $p (i32.add (local.get $p) (local.get $step))) (local.get $n))))
    (local.get $p))
  ;; x * k added into the f64s at p + 4800, p stepping by 8 while it is
  ;; not 24: the load, add, store, step and back edge one op.
  (func (export "f64_accum_ne") (param $p i32) (param $k f64) (param $x f64) (result i32)
    (loop $l
      (f64.store offset=4800 (local.get $p)
        (f64.add (f64.mul (local.get $x) (local.get $k)) (f64.load offset=4800 (local.get $p))))
      (br_if $l (i32.ne (local.tee $p (i32.add (local.get $p) (i32.const 8))) (i32.const 24))))
    (local.get $p))
  ;; the same loop left while the step is not 24: not joined
  (func (export "f64_accum_eq") (param $p i32) (param $k f64) (param $x f64) (result i32)
    (loop $l
      (f64.store offset=4800 (local.get $p)
        (f64.add (f64.mul (local.get $x) (local.get $k)) (f64.load offset=4800 (local.get $p))))
      (br_if $l (i32.eq (local.tee $p (i32.add (local.get $p) (i32.const 8))) (i32.const 24))))
    (local.get $p))
  ;; x added into the i64 at p + 4900 (the load first), one op; then a
  ;; byte stored, which a trap in it does not reach.
  (func (export "i64_add_into") (param $p i32) (param $x i64) (result i32)
    (i64.store offset=4900 (local.get $p) (i64.add (i64.load offset=4900 (local.get $p)) (local.get $x)))
    (i32.store8 (i32.const 1) (i32.const 9))
    (local.get $p))
  ;; the same stored at another offset: not fused
  (func (export "i64_add_moved") (param $p i32) (param $x i64) (result i32)
    (i64.store offset=4908 (local.get $p) (i64.add (i64.load offset=4900 (local.get $p)) (local.get $x)))
    (local.get $p))
)
