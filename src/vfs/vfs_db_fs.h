/*
 * This file declares what the database filesystem's own files share
 * (vfs_db.c: the backend's methods, transactions and caches; vfs_db_sql.c:
 * every statement's text): the numbers of its statements and their
 * tables. The dialects see a statement only as its number and its text
 * (vfs_db_internal.h).
 */
#ifndef CIS_VFS_DB_FS_H
#define CIS_VFS_DB_FS_H

#include "common/internal.h" /* CIS__VDB_PREP_WORDS */
#include "vfs/vfs_db_internal.h"

#define CIS__VDB_STR(x) #x
#define CIS__VDB_XSTR(x) CIS__VDB_STR(x) /* a macro's value as a string literal */

/* The statements of the files and the tree (vfs_db_sql.c says what each
 * does). */
enum {
  Q_TENANT_GET,
  Q_TENANT_ADD,
  Q_LAYER_ADD,
  Q_LOCK,
  Q_COUNTERS,
  Q_SET_TOP,
  Q_GEN,
  Q_ENT_GET,
  Q_ENT_LOWER,
  Q_ENT_PUT,
  Q_ENT_DEL,
  Q_ENT_LIST,
  Q_LOOKUP,
  Q_DVER,
  Q_INO_GET,
  Q_INO_NEW,
  Q_INO_ADD,
  Q_INO_TARGET,
  Q_INO_PUT,
  Q_INO_SET,
  Q_READ,
  Q_BLK_GET,
  Q_BLK_RANGE,
  Q_BLK_PUT,
  Q_BLK_CUT,
  Q_BLK_WHITEOUT,
  Q_BLK_DROP,
  Q_USAGE,
  Q_LAYERS,
  Q_LAYER_GET,
  Q_LAYER_FREEZE,
  Q_DROP_ENTRIES,
  Q_DROP_INODES,
  Q_DROP_BLOCKS,
  Q_DROP_LAYERS,
  Q_LOCK_CHECK,
  Q_PEEK,
  Q_CTR_NODES,
  Q_ENT_REMOVE,
  Q_LOCK_OWN,
  Q_LEASE_WAIT,
  Q_RECALL,
  Q_USAGE_SET,
  Q_GROUP_LOCK,
  Q_GROUP_SUM,
  Q_COUNT
};

_Static_assert(Q_COUNT <= CIS__VDB_MAX_STMTS, "the dialects' statement caches are too small");

extern const cis__vdb_sql cis__vdb_stmts[Q_COUNT];

/* Statements of diff, compaction and tenant deletion. They take the top of
 * the dialects' statement caches (ids CIS__VDB_MAX_STMTS - L_COUNT up), so
 * the main table (Q_*) can grow without renumbering them. */
enum {
  L_TOP,
  L_DIFF_ENTS,
  L_DIFF_NODES,
  L_INO_AT,
  L_BLK_CHANGED,
  L_ENT_NAME,
  L_ENT_BY_INO,
  L_C_ENTRIES,
  L_C_INODES,
  L_C_BLOCKS,
  L_C_ENT_WHITEOUTS,
  L_C_BLK_WHITEOUTS,
  L_C_DEAD_BLOCKS,
  L_C_DEAD_INODES,
  L_C_LAYERS,
  L_C_BOTTOM,
  L_LOWEST,
  L_DEL_BLOCKS,
  L_DEL_INODES,
  L_DEL_ENTRIES,
  L_DEL_LAYERS,
  L_DEL_TENANT,
  L_COUNT
};
/* The dialects' number of layer statement x. */
#define L_ID(x) (CIS__VDB_MAX_STMTS - L_COUNT + (x))
/* Rows of one page of a diff's candidates (the statements' LIMIT). */
#define CIS__VDB_DIFF_PAGE 1024
_Static_assert(Q_COUNT <= CIS__VDB_MAX_STMTS - L_COUNT,
               "the layer statements overlap the main table: raise CIS__VDB_MAX_STMTS");

extern const cis__vdb_sql cis__vdb_layer_stmts[L_COUNT];

#endif /* CIS_VFS_DB_FS_H */
