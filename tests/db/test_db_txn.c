/*
 * This file implements the tests of the call's transaction (src/db/txn.c,
 * db/db_txn.h) with an owner of the test's own: the owner's offer and its
 * refusals, "is this my database?", the join that opens the owner's
 * transaction once and hands its connection to the members of the same
 * dialect and database only, the typed refusals (not joinable, another
 * dialect, another database, joined twice, the owner's opening failing),
 * and the owner's end that makes the members still in leave.
 *
 * test_db_txn WORKDIR
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/db_txn.h"

static const char *workdir;

/* The test's owner: the connections it gives (an SQLite one, open; a
 * PostgreSQL one, never connected), how often it was asked, and the
 * failure to give instead. */
typedef struct owner {
  cis__db_conn *sq, *pg;
  bool give_pg;         /* give pg (else sq) */
  int opens;            /* calls of open */
  cis_result fail;      /* CIS_OK, or what open fails with */
  bool no_conn;         /* open succeeds without a connection */
} owner;

static void owner_init(owner *o) {
  char path[1200];
  memset(o, 0, sizeof *o);
  snprintf(path, sizeof path, "%s/owner.db", workdir);
  assert_int_equal(cis__db_conn_open_sqlite(path, NULL, UINT64_MAX, &o->sq), 0);
  assert_int_equal(cis__db_conn_new_pg("host=127.0.0.1 dbname=p", NULL, &o->pg), CIS_OK);
}

static void owner_free(owner *o) {
  cis__db_conn_close(o->sq);
  cis__db_conn_close(o->pg);
}

static cis_result owner_open(void *user, cis__db_conn **conn, char *err, size_t cap) {
  owner *o = user;
  o->opens++;
  if (o->fail != CIS_OK) {
    snprintf(err, cap, "owner: busy until the deadline");
    return o->fail;
  }
  *conn = o->no_conn ? NULL : o->give_pg ? o->pg : o->sq;
  return CIS_OK;
}

/* A member that counts the times it was made to leave. */
typedef struct member {
  cis__db_txn_member m; /* first: leave finds the member from it */
  int left;
} member;

static void member_leave(cis__db_txn_member *m) {
  assert_null(m->txn); /* out already when told */
  ((member *)m)->left++;
}

static void member_init(member *x) {
  memset(x, 0, sizeof *x);
  x->m.leave = member_leave;
}

/* spec of an SQLite file name under the work folder, the file made. */
static void sqlite_file(const char *name, char *text, size_t cap, cis__db_spec *spec) {
  snprintf(text, cap, "sqlite:%s/%s", workdir, name);
  FILE *f = fopen(text + 7, "a");
  assert_non_null(f);
  fclose(f);
  assert_int_equal(cis__db_spec_parse(text, CIS__DB_NO_DEFAULT, spec, NULL, 0), CIS_OK);
}

static void parse(const char *text, cis__db_spec *spec) {
  assert_int_equal(cis__db_spec_parse(text, CIS__DB_NO_DEFAULT, spec, NULL, 0), CIS_OK);
}

static void join_err(cis__db_txn *t, const cis__db_spec *spec, member *x, cis_result rc, const char *has) {
  cis__db_conn *h = (cis__db_conn *)1;
  assert_int_equal(cis__db_txn_join(t, spec, &x->m, &h), rc);
  assert_null(h);
  if (!strstr(cis__db_txn_errmsg(t), has)) fail_msg("\"%s\" lacks \"%s\"", cis__db_txn_errmsg(t), has);
}

/* Nothing offered: not joinable (an embedder's KV backend offers
 * nothing), no database is its. */
static void unoffered_is_not_joinable(void **state) {
  (void)state;
  cis__db_txn *t;
  assert_int_equal(cis__db_txn_new(&t), CIS_OK);
  char text[1200];
  cis__db_spec s;
  sqlite_file("a.db", text, sizeof text, &s);
  assert_false(cis__db_txn_same(t, &s));
  assert_false(cis__db_txn_same(NULL, &s));
  assert_false(cis__db_txn_opened(t));
  member x;
  member_init(&x);
  join_err(t, &s, &x, CIS_EUNSUPPORTED, "no joinable transaction");
  assert_int_equal(cis__db_txn_new(NULL), CIS_EINVAL);
  cis__db_txn_end(NULL);
  cis__db_txn_free(NULL);
  cis__db_txn_free(t);
}

/* The offer: needs a database and an opening; one owner at a time,
 * another once the first ended. A database without an identity (a file
 * not made yet) is offered, and is no member's. */
static void offer_refusals(void **state) {
  (void)state;
  cis__db_txn *t;
  assert_int_equal(cis__db_txn_new(&t), CIS_OK);
  owner o;
  owner_init(&o);
  char text[1200], missing[1200];
  cis__db_spec s, none;
  sqlite_file("b.db", text, sizeof text, &s);
  snprintf(missing, sizeof missing, "sqlite:%s/not-made.db", workdir);
  parse(missing, &none);
  assert_int_equal(cis__db_txn_offer(NULL, &s, owner_open, &o), CIS_EINVAL);
  assert_int_equal(cis__db_txn_offer(t, NULL, owner_open, &o), CIS_EINVAL);
  assert_int_equal(cis__db_txn_offer(t, &s, NULL, &o), CIS_EINVAL);
  cis__db_spec nodb = {0};
  assert_int_equal(cis__db_txn_offer(t, &nodb, owner_open, &o), CIS_EINVAL); /* no dialect */
  assert_non_null(strstr(cis__db_txn_errmsg(t), "needs a database"));
  assert_int_equal(cis__db_txn_offer(t, &none, owner_open, &o), CIS_OK); /* no identity */
  assert_false(cis__db_txn_same(t, &none));
  member x;
  member_init(&x);
  join_err(t, &none, &x, CIS_EINVAL, "another database");
  cis__db_txn_end(t);
  assert_int_equal(cis__db_txn_offer(t, &s, owner_open, &o), CIS_OK);
  assert_int_equal(cis__db_txn_offer(t, &s, owner_open, &o), CIS_ESTATE); /* one owner */
  assert_true(cis__db_txn_same(t, &s)); /* the first still holds */
  cis__db_txn_end(t);
  assert_false(cis__db_txn_same(t, &s));
  assert_int_equal(cis__db_txn_offer(t, &s, owner_open, &o), CIS_OK);
  assert_int_equal(o.opens, 0); /* nobody joined: nothing opened */
  cis__db_txn_free(t);
  owner_free(&o);
}

/* Same database: the same file under another name; not another file, not
 * another dialect. */
static void same_database(void **state) {
  (void)state;
  cis__db_txn *t;
  assert_int_equal(cis__db_txn_new(&t), CIS_OK);
  owner o;
  owner_init(&o);
  char text[1200], link[1200], other[1200];
  cis__db_spec s, l, x, pg;
  sqlite_file("c.db", text, sizeof text, &s);
  assert_int_equal(cis__db_txn_offer(t, &s, owner_open, &o), CIS_OK);
  char again[1200];
  cis__db_spec s2;
  sqlite_file("c.db", again, sizeof again, &s2);
  assert_true(cis__db_txn_same(t, &s2));
  snprintf(link, sizeof link, "sqlite:%s/c-link.db", workdir);
  unlink(link + 7);
  assert_int_equal(symlink("c.db", link + 7), 0); /* beside it */
  parse(link, &l);
  assert_true(cis__db_txn_same(t, &l));
  sqlite_file("d.db", other, sizeof other, &x);
  assert_false(cis__db_txn_same(t, &x));
  parse("postgres:host=127.0.0.1 dbname=c", &pg);
  assert_false(cis__db_txn_same(t, &pg));
  assert_false(cis__db_txn_same(t, NULL));
  cis__db_txn_free(t);

  /* PostgreSQL: the connection string, whichever prefix names it. */
  assert_int_equal(cis__db_txn_new(&t), CIS_OK);
  assert_int_equal(cis__db_txn_offer(t, &pg, owner_open, &o), CIS_OK);
  parse("postgresql:host=127.0.0.1 dbname=c", &x);
  assert_true(cis__db_txn_same(t, &x));
  parse("postgres:host=127.0.0.1 dbname=d", &x);
  assert_false(cis__db_txn_same(t, &x));
  assert_false(cis__db_txn_same(t, &s2));
  cis__db_txn_free(t);
  owner_free(&o);
}

/* The first join opens the owner's transaction, the next ones share it;
 * a member leaves on its own; the owner's end makes the others leave, and
 * the transaction is then not joinable. */
static void join_opens_once_and_end_makes_members_leave(void **state) {
  (void)state;
  cis__db_txn *t;
  assert_int_equal(cis__db_txn_new(&t), CIS_OK);
  owner o;
  owner_init(&o);
  char text[1200];
  cis__db_spec s;
  sqlite_file("e.db", text, sizeof text, &s);
  assert_int_equal(cis__db_txn_offer(t, &s, owner_open, &o), CIS_OK);
  member a, b, c;
  member_init(&a);
  member_init(&b);
  member_init(&c);
  cis__db_conn *h;
  assert_int_equal(cis__db_txn_join(t, &s, &a.m, &h), CIS_OK);
  assert_ptr_equal(h, o.sq);
  assert_true(cis__db_txn_opened(t));
  assert_ptr_equal(a.m.txn, t);
  assert_int_equal(cis__db_txn_join(t, &s, &b.m, &h), CIS_OK);
  assert_int_equal(cis__db_txn_join(t, &s, &c.m, &h), CIS_OK);
  assert_ptr_equal(h, o.sq);
  assert_int_equal(o.opens, 1);
  cis__db_txn_leave(&b.m); /* written: leaves on its own, not told */
  assert_null(b.m.txn);
  cis__db_txn_leave(&b.m); /* out already: nothing */
  cis__db_txn_end(t);
  assert_int_equal(a.left, 1);
  assert_int_equal(b.left, 0);
  assert_int_equal(c.left, 1);
  assert_null(a.m.txn);
  assert_false(cis__db_txn_opened(t));
  join_err(t, &s, &a, CIS_EUNSUPPORTED, "no joinable transaction"); /* ended */
  assert_null(a.m.txn);
  cis__db_txn_end(t); /* twice: nothing */
  assert_int_equal(a.left, 1);
  /* Freed with a member still in: it is made to leave. */
  assert_int_equal(cis__db_txn_offer(t, &s, owner_open, &o), CIS_OK);
  assert_int_equal(cis__db_txn_join(t, &s, &a.m, &h), CIS_OK);
  assert_int_equal(o.opens, 2); /* a new owner's transaction */
  cis__db_txn_free(t);
  assert_int_equal(a.left, 2);
  assert_null(a.m.txn);
  owner_free(&o);
}

/* The typed refusals of a join, each leaving the member out and the
 * owner's transaction unopened. */
static void join_refusals_are_typed(void **state) {
  (void)state;
  cis__db_txn *t;
  assert_int_equal(cis__db_txn_new(&t), CIS_OK);
  owner o;
  owner_init(&o);
  char text[1200], other[1200];
  cis__db_spec s, x, pg;
  sqlite_file("f.db", text, sizeof text, &s);
  sqlite_file("g.db", other, sizeof other, &x);
  parse("postgres:host=127.0.0.1 dbname=f", &pg);
  assert_int_equal(cis__db_txn_offer(t, &s, owner_open, &o), CIS_OK);
  member a;
  member_init(&a);
  join_err(t, &pg, &a, CIS_EINVAL, "a postgres service cannot join a sqlite transaction");
  join_err(t, &x, &a, CIS_EINVAL, "another database");
  cis__db_conn *h;
  assert_int_equal(cis__db_txn_join(NULL, &s, &a.m, &h), CIS_EINVAL);
  join_err(t, NULL, &a, CIS_EINVAL, "needs a database");
  assert_int_equal(cis__db_txn_join(t, &s, NULL, &h), CIS_EINVAL);
  assert_int_equal(cis__db_txn_join(t, &s, &a.m, NULL), CIS_EINVAL);
  assert_int_equal(o.opens, 0);
  /* The owner's opening fails: its code and its words; the next join
   * asks it again. */
  o.fail = CIS_ETIMEOUT;
  join_err(t, &s, &a, CIS_ETIMEOUT, "owner: busy until the deadline");
  assert_false(cis__db_txn_opened(t));
  o.fail = CIS_OK;
  o.no_conn = true; /* an owner that opened nothing */
  join_err(t, &s, &a, CIS_EINVAL, "opened no transaction");
  o.no_conn = false;
  o.give_pg = true; /* a connection of another dialect than its offer's */
  join_err(t, &s, &a, CIS_EINVAL, "opened no transaction");
  o.give_pg = false;
  assert_int_equal(cis__db_txn_join(t, &s, &a.m, &h), CIS_OK);
  assert_int_equal(o.opens, 4);
  join_err(t, &s, &a, CIS_EINVAL, "joined a transaction already"); /* twice */
  assert_ptr_equal(a.m.txn, t); /* still in, once */
  cis__db_txn_end(t);
  assert_int_equal(a.left, 1);
  cis__db_txn_free(t);
  owner_free(&o);
}

/* PostgreSQL: the owner's connection goes to the member, compared by
 * its connection string. */
static void postgres_gives_its_connection(void **state) {
  (void)state;
  cis__db_txn *t;
  assert_int_equal(cis__db_txn_new(&t), CIS_OK);
  owner o;
  owner_init(&o);
  cis__db_spec pg, uri;
  parse("postgres:host=127.0.0.1 dbname=p", &pg);
  assert_int_equal(cis__db_txn_offer(t, &pg, owner_open, &o), CIS_OK);
  member a;
  member_init(&a);
  parse("postgres://127.0.0.1/p", &uri);
  join_err(t, &uri, &a, CIS_EINVAL, "another database"); /* a URI is compared whole */
  cis__db_conn *h;
  o.give_pg = true;
  assert_int_equal(cis__db_txn_join(t, &pg, &a.m, &h), CIS_OK);
  assert_ptr_equal(h, o.pg);
  assert_int_equal(cis__db_conn_dialect(h), CIS__DB_POSTGRES);
  cis__db_txn_free(t);
  assert_int_equal(a.left, 1);
  owner_free(&o);
}

int main(int argc, char **argv) {
  workdir = argc > 1 ? argv[1] : "test_db_txn.work";
  mkdir(workdir, 0755);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(unoffered_is_not_joinable),
      cmocka_unit_test(offer_refusals),
      cmocka_unit_test(same_database),
      cmocka_unit_test(join_opens_once_and_end_makes_members_leave),
      cmocka_unit_test(join_refusals_are_typed),
      cmocka_unit_test(postgres_gives_its_connection),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
