;; A cis_v1 skill that GETs a URL with a path and a query string the
;; allow-list refuses, and answers {} whatever happens: the host's log line
;; must name scheme, host and port only (tests/skill/test_operate.c).
(module
  (import "cis_v1" "http_request"
    (func $http (param i32 i32 i32 i32 i32 i32 i32 i32) (result i64)))
  (import "cis_v1" "output_write" (func $out (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "GET")
  (data (i32.const 16) "http://denied.example:8089/private/path?token=s3cr3t")
  (data (i32.const 128) "{}")
  (func (export "cis_main") (result i32)
    (drop (call $http (i32.const 0) (i32.const 3) (i32.const 16) (i32.const 52)
                      (i32.const 0) (i32.const 0) (i32.const 1024) (i32.const 1024)))
    (drop (call $out (i32.const 128) (i32.const 2)))
    (i32.const 0)))
