/*
 * This file implements the call's transaction (db_txn.h): the database
 * its owner offered, the owner's transaction once a member's join opened
 * it, and the members in it, which the owner's end makes leave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/internal.h"
#include "db/db_txn.h"

struct cis__db_txn {
  bool offered;                  /* an owner offered its database and not ended */
  const cis__db_spec *spec;      /* the owner's database (the owner's, borrowed to its end) */
  cis__db_txn_open_fn open;      /* the owner's opening */
  void *owner;                   /* its argument */
  cis__db_conn *conn;            /* the connection the transaction is open on; NULL: not opened */
  cis__db_txn_member *members;   /* the members in it */
  char err[CIS_ERRMSG_MAX];      /* the last failure of a join */
};

static cis_result txn_fail(cis__db_txn *t, cis_result code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static cis_result txn_fail(cis__db_txn *t, cis_result code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->err, sizeof t->err, fmt, ap);
  va_end(ap);
  return code;
}

cis_result cis__db_txn_new(cis__db_txn **out) {
  if (!out) return CIS_EINVAL;
  *out = calloc(1, sizeof **out);
  return *out ? CIS_OK : CIS_ENOMEM;
}

void cis__db_txn_free(cis__db_txn *t) {
  if (!t) return;
  cis__db_txn_end(t);
  free(t);
}

cis_result cis__db_txn_offer(cis__db_txn *t, const cis__db_spec *spec, cis__db_txn_open_fn open,
                             void *owner) {
  if (!t) return CIS_EINVAL;
  if (!spec || !open || spec->dialect == CIS__DB_NONE)
    return txn_fail(t, CIS_EINVAL, "db: an offer needs a database and an opening");
  if (t->offered) return txn_fail(t, CIS_ESTATE, "db: the call's transaction has an owner already");
  /* Not identified here: every call with KV offers, few have a mount to
   * join, and the identity of an SQLite file is a stat. */
  t->spec = spec;
  t->open = open;
  t->owner = owner;
  t->offered = true;
  t->err[0] = '\0';
  return CIS_OK;
}

bool cis__db_txn_same(const cis__db_txn *t, const cis__db_spec *spec) {
  return t && t->offered && cis__db_same(t->spec, spec);
}

cis_result cis__db_txn_join(cis__db_txn *t, const cis__db_spec *spec, cis__db_txn_member *m, cis__db_conn **conn) {
  if (conn) *conn = NULL;
  if (!t) return CIS_EINVAL;
  if (!spec || !m || !conn)
    return txn_fail(t, CIS_EINVAL, "db: a join needs a database and a member");
  if (!t->offered)
    return txn_fail(t, CIS_EUNSUPPORTED, "db: no joinable transaction (its owner cannot share one)");
  if (m->txn) return txn_fail(t, CIS_EINVAL, "db: joined a transaction already");
  if (spec->dialect != t->spec->dialect)
    return txn_fail(t, CIS_EINVAL, "db: a %s service cannot join a %s transaction",
                    cis__db_dialect_name(spec->dialect), cis__db_dialect_name(t->spec->dialect));
  if (!cis__db_same(t->spec, spec))
    return txn_fail(t, CIS_EINVAL, "db: the transaction is on another database");
  if (!t->conn) {
    cis__db_conn *c = NULL;
    t->err[0] = '\0';
    cis_result rc = t->open(t->owner, &c, t->err, sizeof t->err);
    if (rc == CIS_OK && (!c || cis__db_conn_dialect(c) != t->spec->dialect))
      rc = txn_fail(t, CIS_EINVAL, "db: the owner opened no transaction");
    if (rc != CIS_OK) {
      if (!t->err[0]) txn_fail(t, rc, "db: the owner's transaction: %s", cis_strerror(rc));
      return rc;
    }
    t->conn = c;
  }
  m->txn = t;
  m->next = t->members;
  t->members = m;
  *conn = t->conn;
  return CIS_OK;
}

void cis__db_txn_leave(cis__db_txn_member *m) {
  if (!m || !m->txn) return;
  for (cis__db_txn_member **p = &m->txn->members; *p; p = &(*p)->next)
    if (*p == m) {
      *p = m->next;
      break;
    }
  m->txn = NULL;
  m->next = NULL;
}

void cis__db_txn_end(cis__db_txn *t) {
  if (!t) return;
  /* One at a time: a member's leave may take others out too. */
  while (t->members) {
    cis__db_txn_member *m = t->members;
    cis__db_txn_leave(m);
    if (m->leave) m->leave(m);
  }
  t->offered = false;
  t->spec = NULL;
  t->open = NULL;
  t->owner = NULL;
  t->conn = NULL;
}

bool cis__db_txn_opened(const cis__db_txn *t) { return t && t->conn; }

const char *cis__db_txn_errmsg(const cis__db_txn *t) { return t ? t->err : ""; }
