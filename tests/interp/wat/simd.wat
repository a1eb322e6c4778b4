;; v128 values in the interpreter's frames (two slots each): parameters
;; and locals between scalars, calls inside the instance and to the host,
;; globals, blocks, branches, loops and select carrying v128, loads and
;; stores at the edge of memory.
(module
  (import "host" "vswap" (func $vswap (param i32 v128 i64) (result v128 i32)))
  (memory (export "mem") 1)
  (global $g (export "g") (mut v128) (v128.const i32x4 1 2 3 4))
  (global $k v128 (v128.const i64x2 -1 7))

  ;; v128 between scalars: a + b lane-wise, and x + y.
  (func $mix (export "mix") (param $x i32) (param $a v128) (param $y i64) (param $b v128)
        (result v128 i64)
    (local $t v128) (local $u i32)
    (local.set $t (i32x4.add (local.get $a) (local.get $b)))
    (local.set $u (i32.const 5))
    (local.get $t)
    (i64.add (i64.extend_i32_u (local.get $x)) (local.get $y)))

  ;; An internal call with v128 arguments and results, values live around it.
  (func (export "call_mix") (param $a v128) (result v128 i64)
    (local $keep v128)
    (local.set $keep (i32x4.splat (i32.const 100)))
    (call $mix (i32.const 1) (local.get $a) (i64.const 2) (local.get $a))
    (drop)
    (i32x4.add (local.get $keep))
    (i64.const 3))

  ;; The host gets (i32, v128, i64) and returns (v128, i32).
  (func (export "via_host") (param $a v128) (result v128 i32)
    (call $vswap (i32.const 9) (local.get $a) (i64.const 11)))

  (func (export "get_g") (result v128) (global.get $g))
  (func (export "set_g") (param v128) (global.set $g (local.get 0)))
  (func (export "get_k") (result v128) (global.get $k))

  ;; Sums the four lanes of a, n times, in a loop carrying a v128 and
  ;; leaving through br_if with a v128 value.
  (func (export "loop_sum") (param $a v128) (param $n i32) (result v128)
    (local $acc v128)
    (block $out (result v128)
      (loop $l
        (local.set $acc (i32x4.add (local.get $acc) (local.get $a)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br_if $out (local.get $acc) (i32.eqz (local.get $n)))
        (drop)
        (br $l))
      (unreachable)))

  ;; select and if/else with v128 results.
  (func (export "pick") (param $c i32) (param $a v128) (param $b v128) (result v128)
    (select (local.get $a) (local.get $b) (local.get $c)))
  (func (export "pick_if") (param $c i32) (param $a v128) (param $b v128) (result v128)
    (if (result v128) (local.get $c)
      (then (local.get $a))
      (else (i8x16.add (local.get $b) (local.get $b)))))

  ;; Memory: store then load back at address p; lanes in and out.
  (func (export "store_load") (param $p i32) (param $v v128) (result v128)
    (v128.store (local.get $p) (local.get $v))
    (v128.load (local.get $p)))
  (func (export "load") (param $p i32) (result v128) (v128.load offset=0 (local.get $p)))
  (func (export "lane_rw") (param $p i32) (param $v v128) (result v128)
    (v128.store32_lane 2 (local.get $p) (local.get $v))
    (v128.load8_lane 0 (local.get $p) (local.get $v)))
  (func (export "shuffle") (param $a v128) (param $b v128) (result v128)
    (i8x16.shuffle 31 0 16 15 1 17 2 18 3 19 4 20 5 21 6 22 (local.get $a) (local.get $b)))
  (func (export "extract") (param $a v128) (result i32 i64 f32 f64)
    (i32x4.extract_lane 3 (local.get $a))
    (i64x2.extract_lane 0 (local.get $a))
    (f32x4.extract_lane 1 (local.get $a))
    (f64x2.extract_lane 1 (local.get $a)))
)
