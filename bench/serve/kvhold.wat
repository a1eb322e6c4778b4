;; A cis_v1 skill of bench/serve_tenants.sh: increments a KV key (an atomic
;; operation, which takes its namespace's write lock until the call ends:
;; the store's write lock on SQLite, the namespace's row on PostgreSQL),
;; then spins until its deadline, holding it.
(module
  (import "cis_v1" "kv_increment" (func $incr (param i32 i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "held")
  (func (export "cis_main") (result i32)
    (drop (call $incr (i32.const 0) (i32.const 4) (i64.const 1) (i32.const 16)))
    (loop $l (br $l))
    (i32.const 0))
)
