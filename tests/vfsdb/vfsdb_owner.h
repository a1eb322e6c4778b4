/*
 * This file implements, for the database filesystem's tests, a
 * transaction owner of the test's own: it holds a transaction open on a
 * database handle (a sqlite3 * or a PGconn *) and offers it to the
 * mounts as the call's transaction (db/db_txn.h), as the KV store does
 * for a skill call. The test runs BEGIN before vfsdb_owner_offer and COMMIT or
 * ROLLBACK after vfsdb_owner_end.
 */
#ifndef VFSDB_OWNER_H
#define VFSDB_OWNER_H

#include <stdint.h>
#include <string.h>

#include "common/internal.h" /* CIS__VDB_PREP_WORDS */
#include "db/db_txn.h"

typedef struct vfsdb_owner {
  void *handle;                           /* the database handle */
  uint64_t prepared[CIS__VDB_PREP_WORDS]; /* PostgreSQL: the session's record */
  cis__db_txn *txn;                       /* the call's transaction it offers */
  cis__db_spec spec;                      /* its database, which txn borrows */
} vfsdb_owner;

static inline cis_result vfsdb_owner_give(void *user, void **handle, uint64_t **prepared, char *err, size_t cap) {
  (void)err;
  (void)cap;
  vfsdb_owner *o = user;
  *handle = o->handle;
  *prepared = o->prepared;
  return CIS_OK;
}

/* Offers the transaction open on handle, over the database spec names
 * (spec lives as long as o); false when that fails. */
static inline bool vfsdb_owner_offer(vfsdb_owner *o, void *handle, const char *spec) {
  memset(o, 0, sizeof *o);
  o->handle = handle;
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
