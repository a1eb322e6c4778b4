/*
 * cis_kv.h -- the key-value store service: a skill's persistent memory.
 *
 * A skill reads and writes its memory through host bindings; the bindings
 * call this service. The service knows nothing of WebAssembly: it takes
 * plain byte buffers, a time budget and a principal, and returns a
 * cis_result.
 *
 * Concepts
 *   cis_kv          the store: one backend, the limits, a pool of backend
 *                   connections. Shared between threads: any number of
 *                   threads may run transactions on it at the same time.
 *   cis_kv_txn      the transaction of ONE call (one skill invocation),
 *                   bound to one namespace and one deadline. Used by one
 *                   thread at a time.
 *   namespace       a (tenant, skill) pair, taken from the cis_principal
 *                   given to cis_kv_begin. Keys of different namespaces
 *                   never meet: tenant A cannot see tenant B, and skill X
 *                   cannot see skill Y of the same tenant.
 *   cis_kv_methods  a backend: a versioned method table in the style of
 *                   sqlite3_vfs. The built-in backends are SQLite and
 *                   PostgreSQL; an embedder plugs in its own the same way.
 *
 * Keys and values are binary-safe, length-counted byte strings: they may
 * hold NUL bytes. Keys are ordered byte-wise (memcmp, then shorter first).
 * A key is 1..max_key_bytes bytes; a value may be empty.
 *
 * Transactions
 *   Writes (set, delete) of a call are kept in the transaction and reach
 *   the backend only in cis_kv_commit, all in one backend transaction: they
 *   become visible together or not at all. cis_kv_rollback drops them
 *   and cannot fail, even when the database is down (it touches the
 *   backend only to end the transaction an atomic operation opened). The host commits when the guest's call succeeds and
 *   rolls back when it traps, times out or is cancelled.
 *   Reads see the committed data of the moment (read committed) plus the
 *   call's own pending writes. Concurrent calls that write the same key
 *   with plain sets: the later commit wins. Because the backend
 *   transaction lasts only as long as the commit, a slow call (a 20 s AI
 *   request) holds no database lock and no connection while it waits.
 *
 * Atomic operations (cis_kv_increment, cis_kv_cas)
 *   A read-modify-write done with get + set can lose updates: two calls
 *   read the same value and the later commit wins. The atomic operations
 *   cannot: the first one of a transaction takes the namespace's write
 *   lock. Usually it opens the backend transaction at once, on a
 *   connection the transaction then keeps (every later operation of the
 *   call runs on it), and calls the backend's lock method (PostgreSQL
 *   locks the namespace's usage row). The built-in SQLite backend, whose
 *   transactions lock the whole file, gets a lock per namespace kept by
 *   the store instead: every commit writing to the namespace takes it too,
 *   the atomic operations read outside a transaction, and the commit
 *   checks under BEGIN IMMEDIATE that what they read is unchanged
 *   (CIS_EKVCONFLICT when a writer outside the store, another process,
 *   changed it: nothing is applied). The lock is
 *   held until the call commits or rolls back, so the atomic operations
 *   of concurrent calls on one namespace take turns, each sees the result
 *   of the one before, and a value read by an atomic operation cannot
 *   change before the call commits. Their writes stay part of the call's
 *   transaction: a call that traps after an increment leaves nothing, and
 *   the next call sees the old value. The price: from its first atomic
 *   operation to its end, a call blocks the other writers of its
 *   namespace (and on PostgreSQL holds a connection), so a
 *   skill should do its slow work (AI, HTTP) before its atomic operations.
 *   Plain sets of other calls are not atomic operations: a plain set of a
 *   key that an atomic operation also changes still follows "the later
 *   commit wins".
 *
 * Limits
 *   max_key_bytes, max_value_bytes   a single key or value above them is
 *                   refused with CIS_ETOOBIG: retrying never helps.
 *   max_keys, max_bytes              the namespace quota (keys, and bytes
 *                   of keys plus values) is checked at cis_kv_set against
 *                   the committed usage plus the call's pending writes, and
 *                   checked again inside the commit (another call may have
 *                   filled the namespace meanwhile). Exceeding it gives
 *                   CIS_EKVLIMIT; deleting keys makes room again. Writes
 *                   that do not grow the usage are never refused, even in a
 *                   namespace already above a lowered quota. The committed
 *                   usage at cis_kv_set is what the store read last, when
 *                   under a second old; a write that fits even as a new
 *                   key is recorded without reading its key's size, and a
 *                   refusal is made only on exact, fresh figures (at
 *                   cis_kv_set and at commit).
 *   tenant_max_keys, tenant_max_bytes   the tenant quota: what all the
 *                   namespaces of one tenant (its skills) hold together,
 *                   checked like the namespace quota, at cis_kv_set and
 *                   again inside the commit under the tenant's lock, so
 *                   concurrent commits of one tenant cannot pass it
 *                   together. Off by default. The same CIS_EKVLIMIT, its
 *                   message naming "tenant_max_keys" or "tenant_max_bytes".
 *   A transaction may carry a tighter namespace quota of its own
 *   (cis_kv_txn_set_quota: a skill's manifest), checked the same way and
 *   failing with the same CIS_EKVLIMIT.
 *   The message of either error names the limit ("max_value_bytes").
 *
 * Deadlines
 *   cis_kv_begin takes the time left before the call's deadline
 *   (cis_call_remaining_ms); UINT64_MAX means none, 0 means it has passed.
 *   Every backend operation of the transaction, commit included, is bounded
 *   by the time left (SQLite's busy timeout and progress handler;
 *   PostgreSQL's connect and query waits, with a cancel request when time
 *   runs out) and by op_timeout_ms. Past the deadline every call returns
 *   CIS_ETIMEOUT; a commit that times out has applied nothing. On
 *   PostgreSQL, whose COMMIT is at the server when the time runs out, the
 *   commit cancels it and waits up to one second more for the server's
 *   answer: CIS_ETIMEOUT (CIS_ECANCELED for a cancelled call) once the
 *   server stopped it, CIS_OK when the COMMIT got in first, CIS_EKVDOWN
 *   when no answer came (see below).
 *
 * Errors
 *   CIS_EINVAL      NULL or malformed arguments, empty key, unknown backend
 *                   spec, a malformed connection string, a method table
 *                   older than version 4 or with a method missing
 *   CIS_ENOTFOUND   get / delete of a key that does not exist
 *   CIS_ETOOBIG     a key or value above its limit; cis_kv_get_into with a
 *                   buffer too small (the needed size is still reported)
 *   CIS_EKVLIMIT    a namespace quota (max_keys, max_bytes) or the
 *                   tenant quota (tenant_max_keys, tenant_max_bytes)
 *   CIS_ETIMEOUT    the deadline passed, or a lock wait outlasted it
 *   CIS_EKVDOWN     the backend is unreachable: connection refused or
 *                   lost (any failed connect, a refused password
 *                   included), server shutting down, disk I/O error, the
 *                   database file cannot be opened or written, disk full.
 *                   The store stays usable and reconnects on a later call.
 *                   A commit that fails with it applied nothing or, when
 *                   the connection was lost during the final COMMIT (or
 *                   the server did not answer its cancel at the deadline),
 *                   everything: never a part.
 *   CIS_EKV         any other backend failure (corrupt database file, a
 *                   SQL error, a broken user backend)
 *   CIS_ENOMEM      out of host memory
 * The detail is cis_kv_errmsg(kv) (the same as cis_errmsg(kv)): the last
 * failure of a call on this store on the calling thread; other stores'
 * failures and other services' do not touch it. A store whose open failed
 * holds why (see cis_kv_open).
 */
#ifndef CIS_CIS_KV_H
#define CIS_CIS_KV_H

#include "cis/cis.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ backends */

/* A namespace as backends see it: the tenant and skill of a principal,
 * length-counted, never NULL ("" for the default tenant). */
typedef struct cis_kv_ns {
  const char *tenant; /* bytes of the tenant name */
  size_t tenant_len;  /* 0 = the default tenant */
  const char *skill;  /* bytes of the skill name */
  size_t skill_len;   /* 0 = outside a skill */
} cis_kv_ns;

typedef struct cis_kv_methods cis_kv_methods;

#define CIS_KV_CONN_ERRMSG_MAX 256

/* The base of every backend connection. A backend's own connection struct
 * embeds it as its FIRST member, so the store can hold any connection as a
 * cis_kv_conn *:
 *
 *   typedef struct my_conn { cis_kv_conn base; MYDB *db; } my_conn;
 *
 * The store uses a connection from one thread at a time. */
typedef struct cis_kv_conn {
  const cis_kv_methods *methods;        /* the table that opened it; the store sets it
                                           after open */
  uint64_t timeout_ms;                  /* time the method now running may take, in ms;
                                           set by the store before every call; never 0 */
  char errmsg[CIS_KV_CONN_ERRMSG_MAX];  /* detail of the last failure, written by the
                                           backend; the store copies it out */
} cis_kv_conn;

/* Receives one key of a listing; anything but CIS_OK stops the listing,
 * and list returns that code. */
typedef cis_result (*cis_kv_key_fn)(void *ctx, const void *key, size_t klen);

#define CIS_KV_METHODS_VERSION 5

/* A backend. The store copies the table, so it need not outlive the
 * store, but `user` must. Fill it with named initialisers; every method of
 * the table's version is required, and version must be at least 4: open
 * changed in version 4, so calling an older table's open would be
 * undefined, and cis_kv_open refuses such a table (CIS_EINVAL) without
 * calling it. A version 4 table is still opened (the store reads none of
 * the members version 5 added): only cis_kv_namespaces and
 * cis_kv_namespace_drop, which need them, answer CIS_EUNSUPPORTED. Methods return
 * CIS_OK or a code from the "Errors" list above, with a detail in
 * c->errmsg; the store adds the backend's name.
 *
 * Transactions: begin / commit / rollback bracket the writes of one commit.
 * set and del are only called between begin and commit (or rollback).
 * get, stat, usage and list are also called outside a transaction, and
 * then each sees the latest committed data. After commit or rollback
 * returns, whatever it returned, the connection is outside a transaction.
 * After CIS_EKVDOWN the store closes the connection and opens a new one
 * when it needs one.
 *
 * Usage accounting: usage() reports the number of keys of a namespace and
 * the sum of their key and value bytes, counting the writes of the open
 * transaction. Inside a transaction a backend must make set / del / usage
 * of one namespace consistent against concurrent transactions (lock the
 * namespace), because the store checks the quota with it before commit. */
struct cis_kv_methods {
  int version;      /* CIS_KV_METHODS_VERSION */
  const char *name; /* short name for messages: "sqlite", "postgres" */
  void *user;       /* the backend's own state; read it through c->methods */

  /* Opens a connection. arg is the part of the store's spec the backend
   * reads (a path, a connection string); m is the store's copy of the
   * table. Must finish within timeout_ms. CIS_OK with *out the connection,
   * or the code of the failure with *out a half-made connection whose
   * errmsg says why (the one constructor convention of cis.h, "Errors":
   * the message lives on the handle), which the store copies into its
   * own and then closes; or *out NULL when there was no memory even for
   * that (the store then says "out of memory"). Changed in version 4
   * (there was an err, errcap buffer). */
  cis_result (*open)(const cis_kv_methods *m, const char *arg, uint64_t timeout_ms,
                     cis_kv_conn **out);
  /* Closes c and frees it; rolls back an open transaction. c may be broken,
   * or half made by a failed open. */
  void (*close)(cis_kv_conn *c);

  cis_result (*begin)(cis_kv_conn *c);
  cis_result (*commit)(cis_kv_conn *c);
  cis_result (*rollback)(cis_kv_conn *c);

  /* Reads a value into *val (malloc'd; the store frees it with free()) and
   * *vlen. An empty value may come back as *val == NULL. CIS_ENOTFOUND
   * when the key does not exist. */
  cis_result (*get)(cis_kv_conn *c, const cis_kv_ns *ns, const void *key, size_t klen,
                    void **val, size_t *vlen);
  /* Length of a key's value, without reading it. CIS_ENOTFOUND when none. */
  cis_result (*stat)(cis_kv_conn *c, const cis_kv_ns *ns, const void *key, size_t klen,
                     uint64_t *vlen);
  /* Inserts or replaces a value and updates the namespace's usage. val
   * may be NULL when vlen is 0 (an empty value, which is not a NULL). */
  cis_result (*set)(cis_kv_conn *c, const cis_kv_ns *ns, const void *key, size_t klen,
                    const void *val, size_t vlen);
  /* Deletes a key and updates the usage. CIS_ENOTFOUND when none. */
  cis_result (*del)(cis_kv_conn *c, const cis_kv_ns *ns, const void *key, size_t klen);
  /* Keys in the namespace and bytes of their keys plus values. */
  cis_result (*usage)(cis_kv_conn *c, const cis_kv_ns *ns, uint64_t *keys, uint64_t *bytes);
  /* Calls emit for at most `limit` keys of the namespace that start with
   * prefix (plen may be 0) and sort after `after` (alen 0 = from the
   * first), in ascending byte order. The store checks the order and the
   * range, and fails the listing with CIS_EKV when they are broken. */
  cis_result (*list)(cis_kv_conn *c, const cis_kv_ns *ns, const void *prefix, size_t plen,
                     const void *after, size_t alen, size_t limit, cis_kv_key_fn emit,
                     void *ctx);

  /* ---- version 2 */

  /* Inside a transaction (after begin): takes the write lock of the
   * namespace, held until commit or rollback, so that no other
   * transaction writes to the namespace meanwhile and every read on c
   * from now on sees the latest committed data. Waits for a transaction
   * that holds it, within timeout_ms (CIS_ETIMEOUT). The store calls it
   * once, right after begin, before an atomic operation reads. A backend
   * whose begin already shuts out every other writer (SQLite's BEGIN
   * IMMEDIATE) returns CIS_OK and does nothing. */
  cis_result (*lock)(cis_kv_conn *c, const cis_kv_ns *ns);

  /* ---- version 3 */

  /* Keys and bytes of every namespace of ns's tenant together (ns->skill
   * is ignored), counting the open transaction's writes, for the tenant
   * quota. With `lock` (inside a transaction, at commit) it first takes
   * the tenant's write lock, held until commit or rollback, so that the
   * commits of one tenant's namespaces check the total in turn and the
   * total read is exact; a backend whose begin already shuts out every
   * other writer need not lock again. The store calls it only when it
   * has a tenant quota (cis_kv_limits.tenant_max_*). */
  cis_result (*tenant_usage)(cis_kv_conn *c, const cis_kv_ns *ns, bool lock, uint64_t *keys,
                             uint64_t *bytes);

  /* ---- version 5: a tenant's namespaces (cis_kv_namespaces) */

  /* Calls emit for at most `limit` namespaces of ns's tenant (ns->skill
   * is ignored) that hold a key or a usage row, with the namespace's
   * skill name as the key (0 bytes for the namespace outside a skill), in
   * ascending byte order: from the first when after is NULL, else those
   * that sort after `after` (alen bytes, may be 0). The tenant is matched
   * exactly, byte for byte: never another tenant whose name starts with
   * it. Called outside a transaction. The store checks the order, and
   * fails the listing with CIS_EKV when it is broken. */
  cis_result (*namespaces)(cis_kv_conn *c, const cis_kv_ns *ns, const void *after, size_t alen,
                           size_t limit, cis_kv_key_fn emit, void *ctx);
  /* Inside a transaction (after begin): deletes at most `limit` keys of
   * namespace ns, in key order, and updates its usage as del would;
   * once none is left, deletes its usage row too. *keys receives the keys
   * deleted, *more whether any key of the namespace is left. Takes the
   * namespace's write lock as set and del do. */
  cis_result (*drop)(cis_kv_conn *c, const cis_kv_ns *ns, size_t limit, uint64_t *keys, bool *more);
};

/* The built-in backends' tables, for embedders that wrap them (a shim that
 * counts, traces or delays, like an SQLite VFS shim). */
CIS_EXTERN const cis_kv_methods *cis_kv_methods_sqlite(void);
CIS_EXTERN const cis_kv_methods *cis_kv_methods_postgres(void);

/* ============================================================== the store */

typedef struct cis_kv cis_kv;
typedef struct cis_kv_txn cis_kv_txn;

#define CIS_KV_DEFAULT_MAX_KEY_BYTES 1024u
#define CIS_KV_DEFAULT_MAX_VALUE_BYTES (1024u * 1024u)
#define CIS_KV_DEFAULT_MAX_KEYS 10000u
#define CIS_KV_DEFAULT_MAX_BYTES (64ull * 1024 * 1024)
#define CIS_KV_DEFAULT_MAX_CONNECTIONS 8u
#define CIS_KV_DEFAULT_OP_TIMEOUT_MS 30000u
#define CIS_KV_MAX_NAME_BYTES 255u /* longest tenant or skill name */

typedef struct cis_kv_limits {
  size_t max_key_bytes;   /* longest key; 0 = the default */
  size_t max_value_bytes; /* longest value; 0 = the default */
  uint64_t max_keys;      /* keys per namespace; 0 = the default */
  uint64_t max_bytes;     /* key + value bytes per namespace; 0 = the default */
  uint64_t tenant_max_keys;  /* keys of all of a tenant's namespaces together; 0 = no limit */
  uint64_t tenant_max_bytes; /* ... and their key + value bytes; 0 = no limit */
} cis_kv_limits;

typedef struct cis_kv_config {
  /* Which backend, and where:
   *   "sqlite:PATH"                  an SQLite file (created when missing)
   *   "postgres:CONNSTR"             a libpq connection string, e.g.
   *                                  "postgres:host=db port=5432 dbname=cis"
   *   "postgres://..." / "postgresql://..."   a libpq URI, as is
   * With `methods` set, the whole spec goes to methods->open unchanged. */
  const char *spec;
  const cis_kv_methods *methods; /* an embedder's backend; NULL = by spec */
  cis_kv_limits limits;          /* per key, value and namespace */
  uint32_t max_connections;      /* pool size; calls beyond it wait (within their
                                    deadline) for a free connection; 0 = default */
  uint64_t op_timeout_ms;        /* cap on any one backend operation, whatever the
                                    deadline; also bounds cis_kv_open; 0 = default */
} cis_kv_config;

/* Fills *c with the defaults above and spec = NULL. */
CIS_EXTERN void cis_kv_config_default(cis_kv_config *c);

/* Opens a store: validates the configuration and opens one connection, so
 * a wrong path or an unreachable server shows up here (the backend creates
 * its schema when missing). The configuration is copied.
 * Errors: CIS_EINVAL (NULL, unknown spec, bad method table), CIS_ETOOBIG
 * (a spec longer than 4096 bytes), CIS_EKVDOWN,
 * CIS_ETIMEOUT, CIS_EKV, CIS_ENOMEM, CIS_EUNSUPPORTED (PostgreSQL: libpq,
 * loaded at the first connect, is not installed; the detail names its
 * package). On failure *out is a failed store (cis.h, "Errors"): the
 * detail is cis_kv_errmsg(*out), on any thread; close it with
 * cis_kv_close. *out is NULL only for out NULL or no memory for it. */
CIS_EXTERN cis_result cis_kv_open(const cis_kv_config *cfg, cis_kv **out);
/* Closes every connection and frees kv. No other thread may be inside a
 * cis_kv_* call on kv; a transaction still open may only be rolled back
 * afterwards. NULL is a no-op. */
CIS_EXTERN void cis_kv_close(cis_kv *kv);

/* Detail of the last failed cis_kv_* call on kv on this thread, or of its
 * failed open. Never NULL ("" for kv NULL); valid until the next failure
 * it reports. */
CIS_EXTERN const char *cis_kv_errmsg(const cis_kv *kv);

/* Starts the transaction of one call in the namespace of `who` (tenant and
 * skill; NULL or "" are the defaults; each at most CIS_KV_MAX_NAME_BYTES).
 * timeout_ms is the time left before the call's deadline. No backend work
 * happens here. Errors: CIS_EINVAL, CIS_ETIMEOUT (timeout_ms == 0),
 * CIS_ENOMEM. */
CIS_EXTERN cis_result cis_kv_begin(cis_kv *kv, const cis_principal *who, uint64_t timeout_ms,
                                   cis_kv_txn **out);
/* Moves the transaction's deadline: now + timeout_ms (UINT64_MAX = none).
 * A skill call's transaction follows the call's deadline instead, and
 * ignores this (docs/embedding.md, "One call in four stages"). */
CIS_EXTERN void cis_kv_txn_set_timeout(cis_kv_txn *t, uint64_t timeout_ms);
/* Gives the transaction a namespace quota of its own (a skill's manifest:
 * permissions.kv.max_keys / max_bytes; 0 = not set). The tighter of it and
 * the store's limits applies, at cis_kv_set and again at commit, with the
 * same CIS_EKVLIMIT; it only ever tightens. Call it before the first
 * write. */
CIS_EXTERN void cis_kv_txn_set_quota(cis_kv_txn *t, uint64_t max_keys, uint64_t max_bytes);

/* Reads a value: *val is malloc'd (free it with cis_kv_free; it holds one
 * extra NUL byte after the value, for convenience) and *vlen its length.
 * Errors: CIS_ENOTFOUND, CIS_EINVAL, CIS_ETOOBIG (key), CIS_ETIMEOUT,
 * CIS_EKVDOWN, CIS_EKV, CIS_ENOMEM. */
CIS_EXTERN cis_result cis_kv_get(cis_kv_txn *t, const void *key, size_t klen, void **val,
                                 size_t *vlen);
/* Reads a value into dst (cap bytes). *vlen is the value's length whether
 * or not it fits. When it does not fit nothing is copied and the result is
 * CIS_ETOOBIG, so the caller can retry with a larger buffer. Other errors
 * as cis_kv_get. */
CIS_EXTERN cis_result cis_kv_get_into(cis_kv_txn *t, const void *key, size_t klen, void *dst,
                                      size_t cap, size_t *vlen);
/* Writes a value (kept in the transaction until commit; the bytes are
 * copied). Errors: CIS_EINVAL, CIS_ETOOBIG (key or value), CIS_EKVLIMIT,
 * CIS_ETIMEOUT, CIS_EKVDOWN / CIS_EKV (reading the current usage),
 * CIS_ENOMEM. A refused write leaves the transaction as it was. */
CIS_EXTERN cis_result cis_kv_set(cis_kv_txn *t, const void *key, size_t klen, const void *val,
                                 size_t vlen);
/* Deletes a key (at commit). CIS_ENOTFOUND when it does not exist (neither
 * committed nor written by this transaction). Other errors as cis_kv_get. */
CIS_EXTERN cis_result cis_kv_delete(cis_kv_txn *t, const void *key, size_t klen);

/* One page of a key listing. */
typedef struct cis_kv_key {
  uint8_t *key; /* malloc'd bytes (plus a NUL after them) */
  size_t len;   /* bytes in key */
} cis_kv_key;

typedef struct cis_kv_keys {
  cis_kv_key *keys; /* ascending byte order */
  size_t n;         /* keys in this page */
  bool more;        /* further keys follow: list again with after = the last key */
} cis_kv_keys;

/* Lists up to `limit` keys (0 = 1000) that start with prefix (plen 0 = all)
 * and sort after `after` (NULL / alen 0 = from the first), committed keys
 * and this transaction's pending writes merged. Free the page with
 * cis_kv_keys_free. Errors: CIS_EINVAL, CIS_ETIMEOUT, CIS_EKVDOWN, CIS_EKV,
 * CIS_ENOMEM. */
CIS_EXTERN cis_result cis_kv_list(cis_kv_txn *t, const void *prefix, size_t plen,
                                  const void *after, size_t alen, size_t limit,
                                  cis_kv_keys *out);
CIS_EXTERN void cis_kv_keys_free(cis_kv_keys *k);

/* ---------------------------------------------------- atomic operations */

/* Longest text an integer value of cis_kv_increment takes ("-9223372036854775808"). */
#define CIS_KV_INT_MAX_BYTES 20u

/* Adds delta to the integer value of key and returns the new value in
 * *out. The value is stored as its decimal text ("42", "-7": ASCII, no
 * sign for positives, no leading zeros), so cis_kv_get reads it as such;
 * an absent key counts as 0. delta 0 reads the value under the lock.
 * Atomic against the atomic operations of concurrent calls (see "Atomic
 * operations" above); the new value is written like cis_kv_set (quota
 * included) and commits or vanishes with the call. Errors: CIS_EINVAL
 * (the value is not such an integer, or the sum overflows int64), those
 * of cis_kv_set. */
CIS_EXTERN cis_result cis_kv_increment(cis_kv_txn *t, const void *key, size_t klen,
                                       int64_t delta, int64_t *out);
/* Compare-and-swap: when key holds exactly `expect` (elen bytes; expect
 * NULL = the key must be absent, and elen must be 0), writes val as
 * cis_kv_set would and sets *swapped; otherwise writes nothing and clears
 * *swapped (not an error). Atomic as cis_kv_increment. Errors: those of
 * cis_kv_set. */
CIS_EXTERN cis_result cis_kv_cas(cis_kv_txn *t, const void *key, size_t klen, const void *expect,
                                 size_t elen, const void *val, size_t vlen, bool *swapped);

/* Keys and bytes the namespace would hold if the transaction committed
 * now. Errors as cis_kv_get. */
CIS_EXTERN cis_result cis_kv_usage(cis_kv_txn *t, uint64_t *keys, uint64_t *bytes);

/* Applies the pending writes in one backend transaction, re-checking the
 * namespace quota inside it, and ends the transaction: t is freed whatever
 * the result. A transaction without writes commits without backend work.
 * Errors: CIS_ETIMEOUT, CIS_EKVLIMIT, CIS_EKVCONFLICT (SQLite: see "Atomic
 * operations"), CIS_EKVDOWN, CIS_EKV, CIS_ENOMEM; on any of them nothing
 * was applied, except as told for CIS_EKVDOWN above.
 * A lost connection before the final COMMIT is retried once on a new one. */
CIS_EXTERN cis_result cis_kv_commit(cis_kv_txn *t);
/* Drops the pending writes and frees t. Touches the backend only when an
 * atomic operation opened the backend transaction (it is rolled back, and
 * a failure only closes that connection). NULL is a no-op. */
CIS_EXTERN void cis_kv_rollback(cis_kv_txn *t);

/* ------------------------------------------------- a tenant's namespaces */

/* Lists up to `limit` (0 = 1000) namespaces of `tenant` (NULL or "" = the
 * default tenant of cis_kv_ns) that hold a key or a usage row: each key of
 * the page is a namespace's skill name (0 bytes for the namespace outside
 * a skill), in ascending byte order, from the first when after is NULL,
 * else after `after` (alen bytes); out->more says whether more follow
 * (list again from the last). The tenant is matched exactly: "alice" never
 * lists a namespace of "alice2". Read committed, outside any transaction;
 * timeout_ms bounds it as cis_kv_begin's does. Free the page with
 * cis_kv_keys_free. Errors: CIS_EINVAL, CIS_EUNSUPPORTED (an embedder's
 * method table older than version 5), CIS_ETIMEOUT, CIS_EKVDOWN, CIS_EKV,
 * CIS_ENOMEM. */
CIS_EXTERN cis_result cis_kv_namespaces(cis_kv *kv, const char *tenant, const void *after, size_t alen,
                                        size_t limit, uint64_t timeout_ms, cis_kv_keys *out);
/* Deletes the keys of the namespace of `who` (as cis_kv_begin names it),
 * at most `limit` of them (0 = 1000) in one backend transaction, bounded
 * by timeout_ms, so that a namespace of any size goes in transactions of
 * a bounded size: call it again while *more is set. With its last key the
 * namespace's usage row goes too, and cis_kv_namespaces no longer lists
 * it. *keys (may be NULL) receives the keys deleted. A transaction of
 * another call that writes the namespace meanwhile commits before or
 * after, whole; an atomic operation of this store on it is waited for.
 * Errors: CIS_EINVAL, CIS_EUNSUPPORTED (a method table older than version
 * 5), CIS_ETIMEOUT, CIS_EKVDOWN, CIS_EKV, CIS_ENOMEM; on any of them
 * nothing of this transaction was applied, except as cis_kv_commit says
 * of CIS_EKVDOWN (all or nothing): calling it again finishes the job. */
CIS_EXTERN cis_result cis_kv_namespace_drop(cis_kv *kv, const cis_principal *who, uint64_t timeout_ms,
                                            size_t limit, uint64_t *keys, bool *more);

/* Frees a value returned by cis_kv_get. */
CIS_EXTERN void cis_kv_free(void *p);

#ifdef __cplusplus
}
#endif
#endif /* CIS_CIS_KV_H */
