/*
 * This file implements the SQLite backend's checkpointer: a thread with a
 * connection of its own that copies the write-ahead log back into the
 * database file, so that the mount's connection (the writer) no longer
 * waits for that copy and its two syncs after the commit that fills the
 * log.
 *
 * Why: under synchronous=NORMAL the checkpoint is where all the waiting
 * for the disk is (a sync of the log, the copy, a sync of the database
 * file), and SQLite runs it in the connection whose commit passed the
 * threshold, before that commit returns. Writing a 64 MiB file in 1 MiB
 * writes took 205 to 380 ms, most of it in four such checkpoints; with
 * none it took 54 to 91 ms. Here the writer's commit hook (sqlite3_wal_hook, which
 * takes the place of SQLite's own autocheckpoint) only wakes the thread
 * when 4096 frames of the log are not copied yet, and the thread runs a
 * PASSIVE checkpoint: it takes no lock the writer needs, so the writer's
 * next transactions go on while it copies.
 *
 * Why it is safe: the checkpoint is SQLite's own, in a connection of the
 * same process on the same file through the same VFS (cis-walbuf, which
 * gathers its copy), so what it publishes and when is what SQLite
 * decides, as for a checkpoint run by another process. Durability is as
 * before: a commit is durable once a checkpoint has synced the log after
 * it (synchronous=NORMAL) or at once (FULL); the thread syncs the log
 * before its copy as any checkpoint does.
 *
 * The log's bound: a writer that keeps committing while the thread copies
 * keeps the log from starting again (SQLite restarts it only once every
 * frame is copied), so the log grows for as long as the writer keeps
 * ahead. Past CKPT_HARD_FRAMES the writer checkpoints itself after its
 * commits, as SQLite would have, so the log stays within some 128 MiB
 * and what the writer adds during one copy of the thread.
 *
 * The thread is started at the first checkpoint the mount needs, so a
 * mount that never fills the log has none; it and its connection end
 * before the mount's connection closes (which, as the last one, then
 * checkpoints what is left). A thread or connection that cannot be made
 * leaves the writer checkpointing itself.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "vfs/vfs_db_internal.h"

/* How long a checkpoint waits for another connection's lock. */
#define CKPT_WAIT_MS 1000u

/* The log's frames after which a checkpoint is wanted: what
 * `PRAGMA wal_autocheckpoint` had (16 MiB at 4 KiB pages). */
#define CKPT_FRAMES 4096
/* The log's frames after which the writer checkpoints itself. */
#define CKPT_HARD_FRAMES (8 * CKPT_FRAMES)

struct cis__vdb_ckpt {
  sqlite3 *writer;       /* the mount's connection, whose hook wakes the thread */
  sqlite3_file *main;    /* its database file (cis-walbuf's), for the log's backlog; or NULL */
  char *path;            /* its database file */
  bool full_sync;        /* synchronous=FULL (else NORMAL), as the mount's */
  pthread_mutex_t mu;    /* guards the fields below */
  pthread_cond_t cv;     /* signals a change of want, stop or running */
  pthread_t thread;      /* valid when started */
  bool started;          /* the thread runs */
  bool failed;           /* it could not be started, or could not open its connection */
  bool want;             /* a checkpoint is asked for */
  bool running;          /* the thread is in one */
  bool stop;             /* the thread is to end */
  cis__db_conn *conn;    /* the thread's connection (the thread's alone) */
  sqlite3 *own;          /* its handle */
};

/* Checkpointers of the process that have a checkpoint asked for or in
 * progress, for cis__vdb_sqlite_ckpt_settle. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_busy;
static uint64_t g_runs; /* checkpoints the threads made */

static void busy_add(int d) {
  pthread_mutex_lock(&g_mu);
  g_busy += d;
  if (g_busy == 0) pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
}

uint64_t cis__vdb_sqlite_ckpt_runs(void) {
  pthread_mutex_lock(&g_mu);
  uint64_t n = g_runs;
  pthread_mutex_unlock(&g_mu);
  return n;
}

void cis__vdb_sqlite_ckpt_settle(void) {
  pthread_mutex_lock(&g_mu);
  while (g_busy > 0) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
}

/* Opens the thread's connection: the same file through the same VFS,
 * with the mount's sync setting (a checkpoint syncs as its connection
 * says), and reads it once, which opens the log (a connection that has
 * not read the file does not know it is in WAL mode, and its checkpoint
 * would do nothing). */
static bool own_open(cis__vdb_ckpt *k) {
  cis__db_conn_config cfg = {.sqlite_flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                             .sqlite_vfs = cis__vdb_sqlite_walbuf()};
  int r = cis__db_conn_open_sqlite(k->path, &cfg, cis__deadline_after(CKPT_WAIT_MS, 0), &k->conn);
  k->own = k->conn ? cis__db_conn_sqlite(k->conn) : NULL;
  int persist = 1; /* as the mount's: the log is never deleted at a close */
  if (r == SQLITE_OK) sqlite3_file_control(k->own, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
  if (r == SQLITE_OK)
    r = sqlite3_exec(k->own, k->full_sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                     NULL, NULL, NULL);
  if (r == SQLITE_OK) r = sqlite3_exec(k->own, "PRAGMA schema_version", NULL, NULL, NULL);
  if (r != SQLITE_OK) {
    cis__db_conn_close(k->conn);
    k->conn = NULL;
    k->own = NULL;
  }
  return r == SQLITE_OK;
}

/* The thread: a checkpoint each time one is asked for. A checkpoint that
 * fails (a reader's lock, a full disk) leaves the log as it is; the next
 * commit past the threshold asks again. */
static void *ckpt_main(void *arg) {
  cis__vdb_ckpt *k = arg;
  pthread_mutex_lock(&k->mu);
  for (;;) {
    while (!k->want && !k->stop) pthread_cond_wait(&k->cv, &k->mu);
    if (k->stop) break;
    k->want = false;
    k->running = true;
    pthread_mutex_unlock(&k->mu);
    bool ok = k->own || own_open(k);
    /* The extent file first: the commits this checkpoint makes durable
     * have their blocks on disk (vfs_db_sqlite_ext.c). One that cannot be
     * synced is not checkpointed past: the log keeps them until a sync
     * succeeds, at a later ask. */
    if (ok && (k->full_sync || cis__vdb_ext_sync_path(k->path))) {
      cis__db_conn_arm(k->conn, cis__deadline_after(CKPT_WAIT_MS, 0)); /* a reader's or writer's lock */
      sqlite3_wal_checkpoint_v2(k->own, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
      pthread_mutex_lock(&g_mu);
      g_runs++;
      pthread_mutex_unlock(&g_mu);
    }
    pthread_mutex_lock(&k->mu);
    k->running = false;
    if (!ok) k->failed = true; /* the writer checkpoints itself from now on */
    if (!k->want) busy_add(-1);
    pthread_cond_broadcast(&k->cv);
    if (!ok) break;
  }
  if (k->want) busy_add(-1); /* asked for, never run */
  k->want = false;
  pthread_mutex_unlock(&k->mu);
  cis__db_conn_close(k->conn);
  k->conn = NULL;
  k->own = NULL;
  return NULL;
}

/* Asks the thread for a checkpoint, starting it the first time. False
 * when there is no thread to ask (the writer checkpoints itself). With
 * k->mu held. */
static bool ask(cis__vdb_ckpt *k) {
  if (k->failed || k->stop) return false;
  if (!k->started) {
    if (pthread_create(&k->thread, NULL, ckpt_main, k) != 0) {
      k->failed = true;
      return false;
    }
    k->started = true;
  }
  if (!k->want && !k->running) busy_add(1);
  k->want = true;
  pthread_cond_signal(&k->cv);
  return true;
}

/* The writer's commit hook (in place of SQLite's autocheckpoint): frames
 * is the number of frames in the log after the commit. The thread is
 * asked when 4096 of them are not copied yet, not at every commit once
 * the log holds 4096 as SQLite's own hook does: the log restarts only at
 * a commit that finds it all copied, so each commit that found the
 * thread copying asked for one more checkpoint of a few frames, and its
 * two syncs. Past the bound the writer checkpoints itself, as SQLite
 * would have; while the thread's copy holds the checkpoint lock that
 * gives SQLITE_BUSY at once, and the writer's next commit tries again
 * (the thread is not asked any more, so it is idle by then). */
static int ckpt_hook(void *arg, sqlite3 *db, const char *name, int frames) {
  cis__vdb_ckpt *k = arg;
  if (frames < CKPT_HARD_FRAMES && cis__vdb_sqlite_walbuf_backlog(k->main, frames) < CKPT_FRAMES)
    return SQLITE_OK;
  pthread_mutex_lock(&k->mu);
  bool asked = frames < CKPT_HARD_FRAMES && ask(k);
  if (!asked && k->want) { /* the writer's own copy serves it */
    k->want = false;
    if (!k->running) busy_add(-1);
  }
  pthread_mutex_unlock(&k->mu);
  if (!asked && (k->full_sync || cis__vdb_ext_sync_path(k->path)))
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
  return SQLITE_OK;
}

cis__vdb_ckpt *cis__vdb_sqlite_ckpt_start(sqlite3 *db, bool full_sync) {
  const char *path = sqlite3_db_filename(db, "main");
  if (!path || !*path) return NULL; /* a temporary or in-memory database */
  cis__vdb_ckpt *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  k->path = strdup(path);
  if (!k->path || pthread_mutex_init(&k->mu, NULL) != 0) {
    free(k->path);
    free(k);
    return NULL;
  }
  if (pthread_cond_init(&k->cv, NULL) != 0) {
    pthread_mutex_destroy(&k->mu);
    free(k->path);
    free(k);
    return NULL;
  }
  k->writer = db;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &k->main) != SQLITE_OK)
    k->main = NULL;
  k->full_sync = full_sync;
  sqlite3_wal_hook(db, ckpt_hook, k);
  return k;
}

void cis__vdb_sqlite_ckpt_stop(cis__vdb_ckpt *k) {
  if (!k) return;
  sqlite3_wal_autocheckpoint(k->writer, CKPT_FRAMES); /* SQLite's own hook back */
  pthread_mutex_lock(&k->mu);
  k->stop = true;
  pthread_cond_signal(&k->cv);
  pthread_mutex_unlock(&k->mu);
  if (k->started) pthread_join(k->thread, NULL);
  pthread_cond_destroy(&k->cv);
  pthread_mutex_destroy(&k->mu);
  free(k->path);
  free(k);
}
