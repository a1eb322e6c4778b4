/*
 * This file declares the call's transaction (txn.c): one database
 * transaction that several services join by reference, so that a skill
 * call's KV writes and its db mounts' file changes are made durable and
 * visible by one COMMIT when they live in one database (docs/dbfs.md,
 * "One unit").
 *
 * Roles. The call makes it (cis__db_txn_new) and hands it to its services
 * through its context (cis__callctx.txn). The service that owns the
 * connection (the KV store) offers its database and a way to open its
 * transaction (cis__db_txn_offer), and ends it (cis__db_txn_end) before
 * its own COMMIT or ROLLBACK. A service that joins (a db mount) asks
 * whether it is its database (cis__db_txn_same), joins (cis__db_txn_join:
 * the owner's transaction is opened then, on the first join), runs its
 * statements on the connection it got (db_conn.h), inside that
 * transaction, and never begins, commits, rolls back or closes anything
 * on it; it leaves
 * (cis__db_txn_leave) when its work is written, and is made to leave by
 * the owner's end otherwise. No service hands another a raw handle.
 *
 * All of it runs on the call's thread.
 */
#ifndef CIS_DB_DB_TXN_H
#define CIS_DB_DB_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cis/cis.h"
#include "db/db.h"
#include "db/db_conn.h"

typedef struct cis__db_txn cis__db_txn;

/* A service in the transaction: kept inside the service (no allocation),
 * zeroed before its first join. */
typedef struct cis__db_txn_member {
  /* Called by cis__db_txn_end (or _free) on a member still in: its work
   * goes with the owner's end (dropped unless written), and it goes back
   * to its own connection. m is out of the transaction already. */
  void (*leave)(struct cis__db_txn_member *m);
  cis__db_txn *txn;                /* the transaction it is in; NULL: none */
  struct cis__db_txn_member *next; /* the next member of txn */
} cis__db_txn_member;

/* The owner's opening of its transaction, on a connection it keeps to its
 * end: gives that connection (db_conn.h), on which the members run their
 * statements and cache them. On failure it writes why (with its
 * service's prefix) to err. */
typedef cis_result (*cis__db_txn_open_fn)(void *owner, cis__db_conn **conn, char *err, size_t cap);

/* A transaction nobody offered yet. Errors: CIS_ENOMEM. */
cis_result cis__db_txn_new(cis__db_txn **out);

/* Frees t, once its owner ended (cis__db_txn_end); members still in are
 * made to leave first. NULL: nothing. */
void cis__db_txn_free(cis__db_txn *t);

/* The owner's offer: its database (spec, the owner's: it lives until the
 * owner's end), and open, called with owner on the first join. A database
 * without an identity (cis__db_identify) is no member's. Errors:
 * CIS_EINVAL (NULL, no dialect), CIS_ESTATE (offered already and not
 * ended: one owner per transaction). */
cis_result cis__db_txn_offer(cis__db_txn *t, const cis__db_spec *spec, cis__db_txn_open_fn open,
                             void *owner);

/* Whether spec names t's database (cis__db_same); false when nothing is
 * offered (no owner, or an owner that cannot share its transaction: a KV
 * backend of the embedder's) or t is NULL. */
bool cis__db_txn_same(const cis__db_txn *t, const cis__db_spec *spec);

/* Joins m (a service on the database spec names) to t: opens the owner's
 * transaction on the first join, and gives the connection it is open on.
 * The member may use it until it leaves or is made to leave; it never
 * begins, commits, rolls back, drops or closes anything on it, and finds
 * a lost PostgreSQL session as the owner does (cis__db_conn_pg NULL).
 * Errors, with the message in
 * cis__db_txn_errmsg: CIS_EUNSUPPORTED (nothing offered: not joinable),
 * CIS_EINVAL (NULL, another dialect, another database, m in a transaction
 * already), the owner's open's (CIS_ETIMEOUT, ...). */
cis_result cis__db_txn_join(cis__db_txn *t, const cis__db_spec *spec, cis__db_txn_member *m, cis__db_conn **conn);

/* Takes m out of its transaction, if any, without calling its leave (the
 * member leaves on its own: its work is written, or dropped). */
void cis__db_txn_leave(cis__db_txn_member *m);

/* The owner's end, before its COMMIT or ROLLBACK: every member still in
 * is made to leave, and nothing is offered any more (a join then fails
 * with CIS_EUNSUPPORTED). NULL: nothing. */
void cis__db_txn_end(cis__db_txn *t);

/* Whether the owner's transaction was opened (by a join) and not ended. */
bool cis__db_txn_opened(const cis__db_txn *t);

/* The last failure of a join or open ("" when none). */
const char *cis__db_txn_errmsg(const cis__db_txn *t);

#endif /* CIS_DB_DB_TXN_H */
