;; A cis_v1 skill that GETs the URL in its "url" setting and answers the
;; response body as its output, or returns the error of a refused or
;; failed request: HTTP rules from a manifest or a call (sdk/python/tests).
(module
  (import "cis_v1" "config_get" (func $cfg (param i32 i32 i32 i32) (result i64)))
  (import "cis_v1" "http_request"
    (func $http (param i32 i32 i32 i32 i32 i32 i32 i32) (result i64)))
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "GET")
  (data (i32.const 8) "url")
  (func (export "cis_main") (result i32)
    (local $ulen i64) (local $n i64)
    (local.set $ulen (call $cfg (i32.const 8) (i32.const 3) (i32.const 64) (i32.const 960)))
    (if (i64.lt_s (local.get $ulen) (i64.const 0)) (then (return (i32.wrap_i64 (local.get $ulen)))))
    (if (i64.gt_s (local.get $ulen) (i64.const 960)) (then (return (i32.const -1))))
    (local.set $n (call $http (i32.const 0) (i32.const 3) (i32.const 64) (i32.wrap_i64 (local.get $ulen))
                              (i32.const 0) (i32.const 0) (i32.const 1024) (i32.const 60000)))
    (if (i64.lt_s (local.get $n) (i64.const 0)) (then (return (i32.wrap_i64 (local.get $n)))))
    (if (i64.gt_s (local.get $n) (i64.const 60000)) (then (return (i32.const -1))))
    (drop (call $out (i32.const 1024) (i32.wrap_i64 (local.get $n))))
    (i32.const 0)))
