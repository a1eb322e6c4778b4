/*
 * This file holds the text of every statement of the layered database
 * filesystem (vfs_db.c), once: written with SQLite's "?N" placeholders,
 * which the PostgreSQL dialect rewrites to "$N", and with a PostgreSQL
 * text of its own where the two SQLs really differ (casts of NULL and of
 * literals, advisory locks, notifications, and the statements only a
 * dialect without a version runs, "SELECT 0" for the other). The schema
 * they run on is described at the top of vfs_db.c; each dialect creates
 * it in its own DDL.
 */
#include "vfs/vfs_db_fs.h"

/* The lease's advisory lock (vfs_db_internal.h), of tenant ?1. */
#define LEASE_KEY CIS__VDB_XSTR(CIS__VDB_LEASE_CLASS) ", CAST(?1 % 2147483648 AS int4)"

/* The class of the advisory lock under which the commits of a group of
 * trees check its total (two-key form; the object is a hash of the
 * group's prefix): apart from the lease's and the KV tenant quota's. */
#define GROUP_CLASS "1667855224"

/* The parts of PostgreSQL's commit statement (Q_CTR_NODES, below). */
#define CTR_E                                                                              \
  "WITH e AS (INSERT INTO cis_vfs_entries(tenant_id, parent_ino, name, layer_id, eid, ino, "  \
  "type) SELECT ?1, ?23, ?24, ?25, ?26, ?27, ?28 WHERE ?22<>0 "                              \
  "ON CONFLICT(tenant_id, parent_ino, name, layer_id) DO UPDATE SET "                       \
  "eid=excluded.eid, ino=excluded.ino, type=excluded.type), "
#define CTR_B                                                                              \
  "b AS (INSERT INTO cis_vfs_blocks(tenant_id, ino, blk, layer_id, data) "                  \
  "SELECT ?1, ?30, ?31, ?32, ?33 WHERE ?29<>0 ON CONFLICT(tenant_id, ino, blk, layer_id) "  \
  "DO UPDATE SET data=excluded.data), "
#define CTR_A                                                                              \
  "a AS (INSERT INTO cis_vfs_inodes(tenant_id, ino, layer_id, type, nlink, size, atim, "    \
  "mtim, ctim, parent, target) SELECT ?1, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "          \
  "CAST(NULL AS bytea) WHERE ?4<>0), "
#define CTR_U                                                                              \
  "u AS (UPDATE cis_vfs_inodes SET nlink=?15, size=?16, atim=?17, mtim=?18, ctim=?19, "     \
  "parent=?20 WHERE tenant_id=?1 AND ino=?13 AND layer_id=?5 AND ?14=?5) "
#define CTR_TENANT                                                                         \
  "UPDATE cis_vfs_tenants SET next_ino=?2, next_eid=CASE WHEN next_eid=?21 THEN ?3 ELSE "   \
  "CAST('" CIS__VDB_GEN_MOVED ":' || next_eid AS bigint) END, used_nodes=used_nodes+?34, "  \
  "used_bytes=used_bytes+?35 WHERE tenant_id=?1"

/* The rows of entries that are visible: no row of a higher layer for the
 * same name. */
#define VISIBLE(e)                                                                 \
  "NOT EXISTS (SELECT 1 FROM cis_vfs_entries h WHERE h.tenant_id=?1 AND "          \
  "h.parent_ino=" e ".parent_ino AND h.name=" e ".name AND h.layer_id>" e ".layer_id)"

const cis__vdb_sql cis__vdb_stmts[Q_COUNT] = {
    [Q_TENANT_GET] = {"SELECT tenant_id, block_size FROM cis_vfs_tenants WHERE name=?1", NULL, false},
    [Q_TENANT_ADD] = {"INSERT INTO cis_vfs_tenants(name, block_size, top_layer, next_layer, "
                      "next_ino, next_eid, used_nodes, used_bytes) VALUES(?1, ?2, 2, 3, 2, 1, 0, 0) "
                      "ON CONFLICT(name) DO NOTHING RETURNING tenant_id",
                      NULL, false},
    [Q_LAYER_ADD] = {"INSERT INTO cis_vfs_layers(tenant_id, layer_id, parent, name, created, "
                     "writable) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                     NULL, false},
    /* PostgreSQL: with the lease's lock taken shared first, so the row is
     * neither returned nor locked while another mount holds the lease
     * (tenant_lock then recalls it). */
    [Q_LOCK] = {"SELECT top_layer, next_layer, next_ino, next_eid FROM cis_vfs_tenants "
                "WHERE tenant_id=?1",
                "SELECT top_layer, next_layer, next_ino, next_eid FROM cis_vfs_tenants "
                "WHERE tenant_id=?1 AND pg_try_advisory_xact_lock_shared(" LEASE_KEY ") "
                "FOR UPDATE", false},
    /* Every commit's counters, and what it changed the tree's usage by
     * (?5 nodes, ?6 bytes); on PostgreSQL the transaction fails
     * (CIS__VDB_GEN_MOVED) unless the generation is still ?4, the one it
     * began from: a check that costs nothing where the begin checked
     * already, and the only one of a transaction begun on the lease. */
    [Q_COUNTERS] = {"UPDATE cis_vfs_tenants SET next_ino=?2, next_eid=?3, "
                    "used_nodes=used_nodes+?5, used_bytes=used_bytes+?6 WHERE tenant_id=?1 "
                    "AND ?4 IS NOT NULL",
                    "UPDATE cis_vfs_tenants SET next_ino=?2, next_eid=CASE WHEN next_eid=?4 "
                    "THEN ?3 ELSE CAST('" CIS__VDB_GEN_MOVED ":' || next_eid AS bigint) END, "
                    "used_nodes=used_nodes+?5, used_bytes=used_bytes+?6 WHERE tenant_id=?1", false},
    [Q_SET_TOP] = {"UPDATE cis_vfs_tenants SET top_layer=?2, next_layer=?3 WHERE tenant_id=?1",
                   NULL, false},
    /* next_eid moves with every commit of the tenant: its generation. */
    [Q_GEN] = {"SELECT next_eid, top_layer, next_layer, next_ino FROM cis_vfs_tenants "
               "WHERE tenant_id=?1",
               NULL, false},
    [Q_ENT_GET] = {"SELECT ino, type, layer_id FROM cis_vfs_entries WHERE tenant_id=?1 AND "
                   "parent_ino=?2 AND name=?3 ORDER BY layer_id DESC LIMIT 1",
                   NULL, false},
    [Q_ENT_LOWER] = {"SELECT 1 FROM cis_vfs_entries WHERE tenant_id=?1 AND parent_ino=?2 AND "
                     "name=?3 AND layer_id<?4 LIMIT 1",
                     NULL, false},
    [Q_ENT_PUT] = {"INSERT INTO cis_vfs_entries(tenant_id, parent_ino, name, layer_id, eid, ino, "
                   "type) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                   "ON CONFLICT(tenant_id, parent_ino, name, layer_id) DO UPDATE SET "
                   "eid=excluded.eid, ino=excluded.ino, type=excluded.type",
                   NULL, .holdable = true},
    [Q_ENT_DEL] = {"DELETE FROM cis_vfs_entries WHERE tenant_id=?1 AND parent_ino=?2 AND "
                   "name=?3 AND layer_id=?4",
                   NULL, false},
    [Q_ENT_LIST] = {"SELECT e.eid, e.name, e.ino, e.type FROM cis_vfs_entries e "
                    "WHERE e.tenant_id=?1 AND e.parent_ino=?2 AND e.eid>=?3 AND e.type<>0 "
                    "AND " VISIBLE("e") " ORDER BY e.eid LIMIT 1",
                    /* On the listings' index alone (vfs_db_postgres.c). */
                    "SELECT e.eid, e.name, e.ino, e.type FROM cis_vfs_entries e "
                    "WHERE e.tenant_id + 0=?1 AND e.parent_ino + 0=?2 AND e.eid>=?3 AND e.type<>0 "
                    "AND " VISIBLE("e") " ORDER BY e.eid LIMIT 1", false},
    /* Only run where the dialect has a version (SQLite): a read that
     * lets sq_version see whether another connection committed. */
    [Q_DVER] = {"PRAGMA data_version", "SELECT 1", false},
    [Q_LOOKUP] = {"SELECT i.ino, i.type, i.nlink, i.size, i.atim, i.mtim, i.ctim, i.parent, "
                  "i.layer_id "
                  "FROM cis_vfs_inodes i WHERE i.tenant_id=?1 AND i.ino=("
                  "SELECT e.ino FROM cis_vfs_entries e WHERE e.tenant_id=?1 AND "
                  "e.parent_ino=?2 AND e.name=?3 ORDER BY e.layer_id DESC LIMIT 1) "
                  "ORDER BY i.layer_id DESC LIMIT 1",
                  NULL, false},
    [Q_INO_GET] = {"SELECT type, nlink, size, atim, mtim, ctim, parent, layer_id "
                   "FROM cis_vfs_inodes WHERE tenant_id=?1 AND ino=?2 "
                   "ORDER BY layer_id DESC LIMIT 1",
                   NULL, false},
    [Q_INO_NEW] = {"INSERT INTO cis_vfs_inodes(tenant_id, ino, layer_id, type, nlink, size, "
                   "atim, mtim, ctim, parent, target) "
                   "VALUES(?1, ?2, ?3, ?4, 1, ?5, ?6, ?6, ?6, ?7, ?8)",
                   NULL, false},
    /* A node made in this transaction, written once with what it holds
     * by the commit (regular files and directories: no target). */
    [Q_INO_ADD] = {"INSERT INTO cis_vfs_inodes(tenant_id, ino, layer_id, type, nlink, size, "
                   "atim, mtim, ctim, parent, target) "
                   "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL)",
                   "INSERT INTO cis_vfs_inodes(tenant_id, ino, layer_id, type, nlink, size, "
                   "atim, mtim, ctim, parent, target) "
                   "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, CAST(NULL AS bytea))", false},
    [Q_INO_TARGET] = {"SELECT target FROM cis_vfs_inodes WHERE tenant_id=?1 AND ino=?2 "
                      "ORDER BY layer_id DESC LIMIT 1",
                      NULL, false},
    /* A node's metadata written to the top layer (?3): copied up from layer
     * ?4 (its target with it) or, when ?4 is the top, updated in place. */
    [Q_INO_PUT] = {"INSERT INTO cis_vfs_inodes(tenant_id, ino, layer_id, type, nlink, size, "
                   "atim, mtim, ctim, parent, target) "
                   "SELECT tenant_id, ino, ?3, type, ?5, ?6, ?7, ?8, ?9, ?10, target "
                   "FROM cis_vfs_inodes WHERE tenant_id=?1 AND ino=?2 AND layer_id=?4 "
                   "ON CONFLICT(tenant_id, ino, layer_id) DO UPDATE SET nlink=excluded.nlink, "
                   "size=excluded.size, atim=excluded.atim, mtim=excluded.mtim, "
                   "ctim=excluded.ctim, parent=excluded.parent",
                   NULL, false},
    /* The same when the row is in the top layer already: an INSERT that
     * selects from the table it fills made SQLite copy the row through a
     * temporary table and open a statement journal (31 k of a small
     * file's create's 161 k instructions, for the directory's new
     * mtime). */
    [Q_INO_SET] = {"UPDATE cis_vfs_inodes SET nlink=?4, size=?5, atim=?6, mtim=?7, ctim=?8, "
                   "parent=?9 WHERE tenant_id=?1 AND ino=?2 AND layer_id=?3",
                   NULL, false},
    /* A read in one statement, so in one snapshot without a transaction:
     * the node's size first (blk -1; no such row: the node is gone), then
     * its visible blocks ?3 <= blk < ?4. */
    [Q_READ] = {"SELECT -1, NULL, i.size FROM (SELECT size FROM cis_vfs_inodes WHERE "
                "tenant_id=?1 AND ino=?2 ORDER BY layer_id DESC LIMIT 1) i UNION ALL "
                "SELECT b.blk, b.data, 0 FROM cis_vfs_blocks b WHERE b.tenant_id=?1 AND "
                "b.ino=?2 AND b.blk>=?3 AND b.blk<?4 AND b.layer_id=("
                "SELECT max(m.layer_id) FROM cis_vfs_blocks m WHERE m.tenant_id=?1 AND "
                "m.ino=?2 AND m.blk=b.blk) ORDER BY 1",
                "SELECT -1::int8, NULL::bytea, i.size FROM (SELECT size FROM cis_vfs_inodes "
                "WHERE tenant_id=?1 AND ino=?2 ORDER BY layer_id DESC LIMIT 1) i UNION ALL "
                "SELECT b.blk, b.data, 0::int8 FROM cis_vfs_blocks b WHERE b.tenant_id=?1 AND "
                "b.ino=?2 AND b.blk>=?3 AND b.blk<?4 AND b.layer_id=("
                "SELECT max(m.layer_id) FROM cis_vfs_blocks m WHERE m.tenant_id=?1 AND "
                "m.ino=?2 AND m.blk=b.blk) ORDER BY 1", false},
    [Q_BLK_GET] = {"SELECT data FROM cis_vfs_blocks WHERE tenant_id=?1 AND ino=?2 AND blk=?3 "
                   "ORDER BY layer_id DESC LIMIT 1",
                   NULL, false},
    [Q_BLK_RANGE] = {"SELECT b.blk, b.data FROM cis_vfs_blocks b WHERE b.tenant_id=?1 AND "
                     "b.ino=?2 AND b.blk>=?3 AND b.blk<?4 AND b.layer_id=("
                     "SELECT max(m.layer_id) FROM cis_vfs_blocks m WHERE m.tenant_id=?1 AND "
                     "m.ino=?2 AND m.blk=b.blk) ORDER BY b.blk",
                     NULL, false},
    [Q_BLK_PUT] = {"INSERT INTO cis_vfs_blocks(tenant_id, ino, blk, layer_id, data) "
                   "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(tenant_id, ino, blk, layer_id) "
                   "DO UPDATE SET data=excluded.data",
                   NULL, .holdable = true},
    [Q_BLK_CUT] = {"DELETE FROM cis_vfs_blocks WHERE tenant_id=?1 AND ino=?2 AND layer_id=?3 "
                   "AND blk>=?4",
                   NULL, false},
    /* One whiteout per block of a lower layer at or past ?4 (run after
     * Q_BLK_CUT, so the top holds none of them). */
    [Q_BLK_WHITEOUT] = {"INSERT INTO cis_vfs_blocks(tenant_id, ino, blk, layer_id, data) "
                        "SELECT ?1, ?2, b.blk, ?3, NULL FROM cis_vfs_blocks b WHERE "
                        "b.tenant_id=?1 AND b.ino=?2 AND b.layer_id<?3 AND b.blk>=?4 "
                        "GROUP BY b.blk",
                        "INSERT INTO cis_vfs_blocks(tenant_id, ino, blk, layer_id, data) "
                        "SELECT ?1, ?2, b.blk, ?3, CAST(NULL AS bytea) FROM cis_vfs_blocks b "
                        "WHERE b.tenant_id=?1 AND b.ino=?2 AND b.layer_id<?3 AND b.blk>=?4 "
                        "GROUP BY b.blk", false},
    [Q_BLK_DROP] = {"DELETE FROM cis_vfs_blocks WHERE tenant_id=?1 AND ino=?2 AND layer_id=?3",
                    NULL, false},
    [Q_USAGE] = {"SELECT count(*), CAST(coalesce(sum(CASE WHEN v.type=1 THEN ("
                 "SELECT i.size FROM cis_vfs_inodes i WHERE i.tenant_id=?1 AND i.ino=v.ino "
                 "ORDER BY i.layer_id DESC LIMIT 1) ELSE 0 END), 0) AS bigint) "
                 "FROM cis_vfs_entries v WHERE v.tenant_id=?1 AND v.type<>0 AND " VISIBLE("v"),
                 NULL, false},
    [Q_LAYERS] = {"SELECT layer_id, parent, name, created, writable FROM cis_vfs_layers "
                  "WHERE tenant_id=?1 ORDER BY layer_id",
                  NULL, false},
    [Q_LAYER_GET] = {"SELECT writable FROM cis_vfs_layers WHERE tenant_id=?1 AND layer_id=?2",
                     NULL, false},
    [Q_LAYER_FREEZE] = {"UPDATE cis_vfs_layers SET writable=0, name=?3 WHERE tenant_id=?1 AND "
                        "layer_id=?2",
                        NULL, false},
    [Q_DROP_ENTRIES] = {"DELETE FROM cis_vfs_entries WHERE tenant_id=?1 AND layer_id>?2", NULL, false},
    [Q_DROP_INODES] = {"DELETE FROM cis_vfs_inodes WHERE tenant_id=?1 AND layer_id>?2", NULL, false},
    [Q_DROP_BLOCKS] = {"DELETE FROM cis_vfs_blocks WHERE tenant_id=?1 AND layer_id>?2", NULL, false},
    [Q_DROP_LAYERS] = {"DELETE FROM cis_vfs_layers WHERE tenant_id=?1 AND layer_id>?2", NULL, false},
    /* PostgreSQL's optimistic begin (tx_begin_opt): the tenant's row
     * locked, and the transaction failed (CIS__VDB_GEN_MOVED, which the
     * dialect reads as CIS_VFS_ECONFLICT) unless its generation is still
     * ?2. A row locked after another writer's commit is returned (and
     * checked) as that commit left it. */
    [Q_LOCK_CHECK] = {"SELECT 0",
                      "SELECT CAST(CASE WHEN NOT pg_try_advisory_xact_lock_shared(" LEASE_KEY
                      ") THEN '" CIS__VDB_GEN_MOVED ":leased' WHEN next_eid=?2 THEN '0' ELSE '"
                      CIS__VDB_GEN_MOVED ":' || next_eid END AS bigint) FROM cis_vfs_tenants "
                      "WHERE tenant_id=?1 FOR UPDATE", false},
    /* PostgreSQL's check of a call (peek) with the lookup it needs, in one
     * statement, so in one snapshot: the tenant's generation (blk -2),
     * with the rest of its row as Q_GEN's), then the visible node named
     * dir ?2 / name ?3 (blk -1: no such row,
     * no such name), then, when it is a regular file of at most ?4 bytes,
     * its visible blocks below ?5 (rows as Q_READ's); and first the
     * directory's own node (blk -3). ?6 is CIS_VFS_REG. */
    [Q_PEEK] = {"SELECT 0",
                "WITH n AS (SELECT i.ino, i.type, i.nlink, i.size, i.atim, i.mtim, i.ctim, "
                "i.parent, i.layer_id FROM cis_vfs_inodes i WHERE i.tenant_id=?1 AND i.ino=("
                "SELECT e.ino FROM cis_vfs_entries e WHERE e.tenant_id=?1 AND e.parent_ino=?2 "
                "AND e.name=?3 ORDER BY e.layer_id DESC LIMIT 1) ORDER BY i.layer_id DESC LIMIT 1) "
                "SELECT -2::int8, NULL::bytea, t.next_eid, t.top_layer, t.next_layer, "
                "t.next_ino, 0::int8, 0::int8, 0::int8, 0::int8, 0::int8 FROM cis_vfs_tenants t "
                "WHERE t.tenant_id=?1 "
                "UNION ALL SELECT -1::int8, NULL::bytea, n.ino, n.type, n.nlink, n.size, n.atim, "
                "n.mtim, n.ctim, n.parent, n.layer_id FROM n "
                "UNION ALL SELECT * FROM (SELECT -3::int8, NULL::bytea, d.ino, d.type, d.nlink, "
                "d.size, d.atim, d.mtim, d.ctim, d.parent, d.layer_id FROM cis_vfs_inodes d "
                "WHERE d.tenant_id=?1 AND d.ino=?2 ORDER BY d.layer_id DESC LIMIT 1) p "
                "UNION ALL SELECT b.blk, b.data, 0::int8, 0::int8, 0::int8, 0::int8, 0::int8, "
                "0::int8, 0::int8, 0::int8, 0::int8 FROM n JOIN cis_vfs_blocks b ON "
                "b.tenant_id=?1 AND b.ino=n.ino WHERE n.type=?6 AND n.nlink>0 AND n.size<=?4 AND "
                "b.blk<?5 AND b.layer_id=(SELECT max(m.layer_id) FROM cis_vfs_blocks m WHERE "
                "m.tenant_id=?1 AND m.ino=n.ino AND m.blk=b.blk) ORDER BY 1", false},
    /* PostgreSQL's commit (commit_counters): the counters (?2, ?3, checked
     * against the generation ?21 as Q_COUNTERS does) with what a small
     * file's creation writes, in one statement: a node made in this
     * transaction, written whole into the top layer ?5 (as Q_INO_ADD; none
     * when ?4 is 0); a changed node whose row is in the top layer already
     * (?14 is ?5), updated in place (none when ?13 is 0: no inode 0
     * exists); the entry held for it (as Q_ENT_PUT's ?2..?7 in ?23..?28;
     * none when ?22 is 0), the block (as Q_BLK_PUT's ?2..?5 in
     * ?30..?33; none when ?29 is 0) and what the transaction changed the
     * tree's usage by (?34 nodes, ?35 bytes). A node to be copied up from a lower
     * layer goes first in a statement of its own (Q_INO_PUT): as a part
     * of this one, its plan, started by every execution, cost a creation
     * some 9 µs (pgbench, in turns). */
    [Q_CTR_NODES] = {"SELECT 0", CTR_E CTR_B CTR_A CTR_U CTR_TENANT, false},
    /* PostgreSQL's ent_remove in one statement that returns no rows, so it
     * waits for no answer: a whiteout in the top layer ?4 when a lower
     * layer has dir ?2 / name ?3, else the top layer's row deleted. */
    [Q_ENT_REMOVE] = {"SELECT 0",
                      "WITH l AS (SELECT 1 FROM cis_vfs_entries WHERE tenant_id=?1 AND "
                      "parent_ino=?2 AND name=?3 AND layer_id<?4 LIMIT 1), "
                      "d AS (DELETE FROM cis_vfs_entries WHERE tenant_id=?1 AND parent_ino=?2 AND "
                      "name=?3 AND layer_id=?4 AND NOT EXISTS (SELECT 1 FROM l)) "
                      "INSERT INTO cis_vfs_entries(tenant_id, parent_ino, name, layer_id, eid, ino, "
                      "type) SELECT ?1, ?2, ?3, ?4, 0, 0, 0 FROM l "
                      "ON CONFLICT(tenant_id, parent_ino, name, layer_id) DO UPDATE SET "
                      "eid=excluded.eid, ino=excluded.ino, type=excluded.type", false},
    /* PostgreSQL: Q_LOCK of the mount holding the lease, which takes no
     * shared lock of it (tenant_lock). */
    [Q_LOCK_OWN] = {"SELECT 0",
                    "SELECT top_layer, next_layer, next_ino, next_eid FROM cis_vfs_tenants "
                    "WHERE tenant_id=?1 FOR UPDATE", false},
    /* PostgreSQL: waits (within statement_timeout) for another mount's
     * lease to be given back, and takes its lock shared. */
    [Q_LEASE_WAIT] = {"SELECT 0",
                      "SELECT 1 FROM (SELECT pg_advisory_xact_lock_shared(" LEASE_KEY ")) w", false},
    /* PostgreSQL: asks whoever holds the tenant's lease to give it back
     * (outside a transaction: a notification is sent at commit). */
    [Q_RECALL] = {"SELECT 0", "SELECT pg_notify('cis_vfs_lease_' || ?1, '')", false},
    /* The tree's usage row, counted from its rows where it is NULL (a
     * tree an older cis made), under the tenant's lock. */
    [Q_USAGE_FILL] = {"UPDATE cis_vfs_tenants SET used_nodes=" CIS__VDB_SCAN_NODES("?1")
                      ", used_bytes=" CIS__VDB_SCAN_BYTES("?1") " WHERE tenant_id=?1 AND "
                      "(used_nodes IS NULL OR used_bytes IS NULL)",
                      NULL, false},
    /* The tree's usage row: nodes and bytes, -1 where NULL (not counted). */
    [Q_USAGE_ROW] = {"SELECT coalesce(used_nodes, -1), coalesce(used_bytes, -1) FROM "
                     "cis_vfs_tenants WHERE tenant_id=?1",
                     NULL, false},
    /* What the tree holds as layer ?2 shows it (a rollback to it, before
     * it drops anything), and the usage row set to that. */
    [Q_USAGE_AT] = {"SELECT CAST(" CIS__VDB_SCAN_NODES_AT("?1", "?2") " AS bigint), "
                    CIS__VDB_SCAN_BYTES_AT("?1", "?2"),
                    NULL, false},
    [Q_USAGE_PUT] = {"UPDATE cis_vfs_tenants SET used_nodes=?2, used_bytes=?3 WHERE tenant_id=?1",
                     NULL, false},
    /* PostgreSQL: the commits that grow a group of trees (names starting
     * with ?1) check its total in turn (GROUP_CLASS); SQLite's write lock
     * orders every commit already. */
    [Q_GROUP_LOCK] = {"SELECT 0", "SELECT pg_advisory_xact_lock(" GROUP_CLASS
                                  ", ('x' || left(md5(?1), 8))::bit(32)::int4)", false},
    /* What the trees named in [?1, ?2) hold, from their usage columns (a
     * tree not counted yet: from its rows). */
    [Q_GROUP_SUM] = {"SELECT CAST(coalesce(sum(coalesce(t.used_nodes, "
                     CIS__VDB_SCAN_NODES("t.tenant_id") ")), 0) AS bigint), "
                     "CAST(coalesce(sum(coalesce(t.used_bytes, "
                     CIS__VDB_SCAN_BYTES("t.tenant_id") ")), 0) AS bigint) "
                     "FROM cis_vfs_tenants t WHERE t.name>=?1 AND t.name<?2",
                     NULL, false},
};

/* An entry row of key (parent_ino, name) as view ?V shows it: the highest
 * row at or below layer V. */
#define AT_VIEW(col, v)                                                               \
  "(SELECT a." col " FROM cis_vfs_entries a WHERE a.tenant_id=?1 AND "                \
  "a.parent_ino=c.parent_ino AND a.name=c.name AND a.layer_id<=" v                    \
  " ORDER BY a.layer_id DESC LIMIT 1)"
/* No row of the same key in a layer above row `t` and at or below ?2 (the
 * row is the one view ?2 shows, or lies above it). */
#define SHOWN_AT(tab, t, key)                                                          \
  "NOT EXISTS (SELECT 1 FROM " tab " h WHERE h.tenant_id=?1 AND " key                  \
  " AND h.layer_id>" t ".layer_id AND h.layer_id<=?2)"
#define E_KEY(t) "h.parent_ino=" t ".parent_ino AND h.name=" t ".name"

/* The bytes a block row holds (SQLite): a reference to the extent file
 * (TEXT, vfs_db_sqlite_ext.c) counts the bytes it names. */
#define DATA_BYTES                                                                          \
  "CASE WHEN typeof(data)='text' THEN CAST(substr(data, 32, 10) AS INTEGER) "              \
  "ELSE coalesce(length(data), 0) END"

const cis__vdb_sql cis__vdb_layer_stmts[L_COUNT] = {
    [L_TOP] = {"SELECT top_layer FROM cis_vfs_tenants WHERE tenant_id=?1", NULL, false},
    /* The names with a row in a layer of (?2, ?3], after (?4, ?5), each
     * with its node and kind in both views (no row: 0, a whiteout: 0). */
    [L_DIFF_ENTS] = {"SELECT c.parent_ino, c.name, " AT_VIEW("ino", "?2") ", " AT_VIEW("type", "?2")
                     ", " AT_VIEW("ino", "?3") ", " AT_VIEW("type", "?3")
                     " FROM (SELECT DISTINCT parent_ino, name FROM cis_vfs_entries WHERE "
                     "tenant_id=?1 AND layer_id>?2 AND layer_id<=?3 AND "
                     "(parent_ino>?4 OR (parent_ino=?4 AND name>?5))) c "
                     "ORDER BY c.parent_ino, c.name LIMIT " CIS__VDB_XSTR(CIS__VDB_DIFF_PAGE),
                     NULL, false},
    /* The nodes whose metadata or blocks have a row in (?2, ?3], above ?4. */
    [L_DIFF_NODES] = {"SELECT x.ino FROM (SELECT ino FROM cis_vfs_inodes WHERE tenant_id=?1 AND "
                      "layer_id>?2 AND layer_id<=?3 UNION SELECT ino FROM cis_vfs_blocks WHERE "
                      "tenant_id=?1 AND layer_id>?2 AND layer_id<=?3) x WHERE x.ino>?4 "
                      "ORDER BY 1 LIMIT " CIS__VDB_XSTR(CIS__VDB_DIFF_PAGE),
                      NULL, false},
    [L_INO_AT] = {"SELECT type, nlink, size, mtim, parent FROM cis_vfs_inodes WHERE tenant_id=?1 "
                  "AND ino=?2 AND layer_id<=?3 ORDER BY layer_id DESC LIMIT 1",
                  NULL, false},
    [L_BLK_CHANGED] = {"SELECT 1 FROM cis_vfs_blocks WHERE tenant_id=?1 AND ino=?2 AND "
                       "layer_id>?3 AND layer_id<=?4 LIMIT 1",
                       NULL, false},
    /* The name of node ?3 in directory ?4 as view ?2 shows it. */
    [L_ENT_NAME] = {"SELECT e.name FROM cis_vfs_entries e WHERE e.tenant_id=?1 AND "
                    "e.parent_ino=?4 AND e.ino=?3 AND e.type<>0 AND e.layer_id<=?2 AND "
                    SHOWN_AT("cis_vfs_entries", "e", E_KEY("e")) " LIMIT 1",
                    NULL, false},
    /* The same in any directory (a file moved away from where it was made). */
    [L_ENT_BY_INO] = {"SELECT e.parent_ino, e.name FROM cis_vfs_entries e WHERE e.tenant_id=?1 "
                      "AND e.ino=?3 AND e.type<>0 AND e.layer_id<=?2 AND "
                      SHOWN_AT("cis_vfs_entries", "e", E_KEY("e")) " LIMIT 1",
                      NULL, false},
    /* Compaction, ?2 = K: rule 1 (rows below K hidden at view K). */
    [L_C_ENTRIES] = {"DELETE FROM cis_vfs_entries WHERE tenant_id=?1 AND layer_id<?2 AND EXISTS ("
                     "SELECT 1 FROM cis_vfs_entries h WHERE h.tenant_id=?1 AND "
                     "h.parent_ino=cis_vfs_entries.parent_ino AND h.name=cis_vfs_entries.name AND "
                     "h.layer_id>cis_vfs_entries.layer_id AND h.layer_id<=?2) RETURNING 0",
                     NULL, false},
    [L_C_INODES] = {"DELETE FROM cis_vfs_inodes WHERE tenant_id=?1 AND layer_id<?2 AND EXISTS ("
                    "SELECT 1 FROM cis_vfs_inodes h WHERE h.tenant_id=?1 AND "
                    "h.ino=cis_vfs_inodes.ino AND h.layer_id>cis_vfs_inodes.layer_id AND "
                    "h.layer_id<=?2) RETURNING 0",
                    NULL, false},
    [L_C_BLOCKS] = {"DELETE FROM cis_vfs_blocks WHERE tenant_id=?1 AND layer_id<?2 AND EXISTS ("
                    "SELECT 1 FROM cis_vfs_blocks h WHERE h.tenant_id=?1 AND "
                    "h.ino=cis_vfs_blocks.ino AND h.blk=cis_vfs_blocks.blk AND "
                    "h.layer_id>cis_vfs_blocks.layer_id AND h.layer_id<=?2) "
                    "RETURNING " DATA_BYTES,
                    "DELETE FROM cis_vfs_blocks WHERE tenant_id=?1 AND layer_id<?2 AND EXISTS ("
                    "SELECT 1 FROM cis_vfs_blocks h WHERE h.tenant_id=?1 AND "
                    "h.ino=cis_vfs_blocks.ino AND h.blk=cis_vfs_blocks.blk AND "
                    "h.layer_id>cis_vfs_blocks.layer_id AND h.layer_id<=?2) "
                    "RETURNING coalesce(length(data), 0)", false},
    /* Rule 2: whiteouts with nothing below them. */
    [L_C_ENT_WHITEOUTS] = {"DELETE FROM cis_vfs_entries WHERE tenant_id=?1 AND type=0 AND NOT "
                           "EXISTS (SELECT 1 FROM cis_vfs_entries l WHERE l.tenant_id=?1 AND "
                           "l.parent_ino=cis_vfs_entries.parent_ino AND "
                           "l.name=cis_vfs_entries.name AND "
                           "l.layer_id<cis_vfs_entries.layer_id) RETURNING 0",
                           NULL, false},
    [L_C_BLK_WHITEOUTS] = {"DELETE FROM cis_vfs_blocks WHERE tenant_id=?1 AND data IS NULL AND "
                           "NOT EXISTS (SELECT 1 FROM cis_vfs_blocks l WHERE l.tenant_id=?1 AND "
                           "l.ino=cis_vfs_blocks.ino AND l.blk=cis_vfs_blocks.blk AND "
                           "l.layer_id<cis_vfs_blocks.layer_id) RETURNING 0",
                           NULL, false},
    /* Rule 3, after rule 1: a row below K left is the one view K shows, so
     * a node is alive in some kept view exactly when one of its rows has
     * nlink > 0. */
    [L_C_DEAD_BLOCKS] = {"DELETE FROM cis_vfs_blocks WHERE tenant_id=?1 AND ino IN (SELECT ino "
                         "FROM cis_vfs_inodes WHERE tenant_id=?1 GROUP BY ino HAVING "
                         "max(nlink)=0) RETURNING " DATA_BYTES,
                         "DELETE FROM cis_vfs_blocks WHERE tenant_id=?1 AND ino IN (SELECT ino "
                         "FROM cis_vfs_inodes WHERE tenant_id=?1 GROUP BY ino HAVING "
                         "max(nlink)=0) RETURNING coalesce(length(data), 0)", false},
    [L_C_DEAD_INODES] = {"DELETE FROM cis_vfs_inodes WHERE tenant_id=?1 AND ino IN (SELECT ino "
                         "FROM cis_vfs_inodes WHERE tenant_id=?1 GROUP BY ino HAVING "
                         "max(nlink)=0) RETURNING 0",
                         NULL, false},
    [L_C_LAYERS] = {"DELETE FROM cis_vfs_layers WHERE tenant_id=?1 AND layer_id<?2 RETURNING 0",
                    NULL, false},
    [L_C_BOTTOM] = {"UPDATE cis_vfs_layers SET parent=0 WHERE tenant_id=?1 AND layer_id=?2", NULL, false},
    [L_LOWEST] = {"SELECT min(layer_id) FROM cis_vfs_layers WHERE tenant_id=?1", NULL, false},
    [L_DEL_BLOCKS] = {"DELETE FROM cis_vfs_blocks WHERE tenant_id=?1", NULL, false},
    [L_DEL_INODES] = {"DELETE FROM cis_vfs_inodes WHERE tenant_id=?1", NULL, false},
    [L_DEL_ENTRIES] = {"DELETE FROM cis_vfs_entries WHERE tenant_id=?1", NULL, false},
    [L_DEL_LAYERS] = {"DELETE FROM cis_vfs_layers WHERE tenant_id=?1", NULL, false},
    [L_DEL_TENANT] = {"DELETE FROM cis_vfs_tenants WHERE tenant_id=?1", NULL, false},
    /* The names in [?1, ?2) after ?3, ?4 of them: a prefix's trees. */
    [L_TENANT_LIST] = {"SELECT name FROM cis_vfs_tenants WHERE name>=?1 AND name<?2 AND name>?3 "
                       "ORDER BY name LIMIT ?4",
                       NULL, false},
};
