/*
 * This file implements, for the database filesystem's tests, a
 * transaction owner of the test's own: it holds a transaction open on a
 * connection of the database layer (db/db_conn.h) and offers it to the
 * mounts as the call's transaction (db/db_txn.h), as the KV store does
 * for a skill call. The test runs BEGIN (on the connection's handle)
 * before vfsdb_owner_offer and COMMIT or ROLLBACK after vfsdb_owner_end.
 */
#ifndef VFSDB_OWNER_H
#define VFSDB_OWNER_H

#include <stdint.h>
#include <string.h>

#include "common/internal.h"
#include "db/db_conn.h"
#include "db/db_conn_pg.h"
#include "db/db_txn.h"

typedef struct vfsdb_owner {
  cis__db_conn *conn; /* the connection its transaction is open on */
  cis__db_txn *txn;   /* the call's transaction it offers */
  cis__db_spec spec;  /* its database, which txn borrows */
} vfsdb_owner;

/* A connection for an owner to the database spec names (connected),
 * or NULL. */
static inline cis__db_conn *vfsdb_owner_connect(const char *spec) {
  cis__db_spec s;
  cis__db_conn *c = NULL;
  if (cis__db_spec_parse(spec, CIS__DB_NO_DEFAULT, &s, NULL, 0) != CIS_OK) return NULL;
  if (s.dialect == CIS__DB_SQLITE) {
    if (cis__db_conn_open_sqlite(s.target, NULL, UINT64_MAX, &c) == 0) return c;
  } else if (cis__db_conn_new_pg(s.target, NULL, &c) == CIS_OK) {
    cis__pgwire_report rep;
    if (cis__db_conn_connect(c, cis__now_ns() + 10000000000ull, &rep) == CIS__PGWIRE_DONE) return c;
  }
  cis__db_conn_close(c);
  return NULL;
}

static inline cis_result vfsdb_owner_give(void *user, cis__db_conn **conn, char *err, size_t cap) {
  (void)err;
  (void)cap;
  vfsdb_owner *o = user;
  *conn = o->conn;
  return CIS_OK;
}

/* Offers the transaction open on conn, over the database spec names
 * (spec lives as long as o); false when that fails. */
static inline bool vfsdb_owner_offer(vfsdb_owner *o, cis__db_conn *conn, const char *spec) {
  memset(o, 0, sizeof *o);
  o->conn = conn;
  return cis__db_spec_parse(spec, CIS__DB_NO_DEFAULT, &o->spec, NULL, 0) == CIS_OK &&
         cis__db_txn_new(&o->txn) == CIS_OK && cis__db_txn_offer(o->txn, &o->spec, vfsdb_owner_give, o) == CIS_OK;
}

/* The owner's end, before its COMMIT or ROLLBACK: the mounts still in
 * leave. */
static inline void vfsdb_owner_end(vfsdb_owner *o) {
  cis__db_txn_free(o->txn);
  o->txn = NULL;
}

#endif
