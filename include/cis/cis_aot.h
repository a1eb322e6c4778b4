/*
 * cis_aot.h: the compiled engine's cache.
 *
 * The engine named "aot" (cis_engine_config.engine = "aot") compiles each
 * module to machine code through the system C compiler and keeps the
 * result in $CIS_HOME/cache (else ~/.local/share/cis/cache), one file per
 * module, compiler and cis version (docs/aot.md). Loading a module on
 * that engine compiles it when its entry is missing or fails its checks,
 * so these functions are only housekeeping: what is there, and removing
 * it.
 */
#ifndef CIS_CIS_AOT_H
#define CIS_CIS_AOT_H

#include "cis/cis.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One entry of the cache. */
typedef struct cis_cache_entry {
  const char *path;        /* the file */
  char key[65];            /* its key (hex; the file name without .cso) */
  char module_sha256[65];  /* SHA-256 of the module it was compiled from */
  char cis_version[16];    /* cis version that wrote it */
  uint64_t bytes;          /* size on disk */
  int64_t mtime;           /* last written, seconds since the epoch */
  bool sound;              /* header, length and object hash check out */
} cis_cache_entry;

/* Called for each entry; return false to stop. */
typedef bool (*cis_cache_visit)(const cis_cache_entry *e, void *user);

/* Writes the cache folder's path into buf (cap bytes). Errors: CIS_EINVAL
 * (neither CIS_HOME nor HOME set), CIS_ETOOBIG (cap too small). */
CIS_EXTERN cis_result cis_cache_dir(char *buf, size_t cap);

/* Visits every entry (in no particular order). A missing folder is an
 * empty cache. Errors: CIS_EIO (the folder cannot be read), CIS_ENOMEM. */
CIS_EXTERN cis_result cis_cache_list(cis_cache_visit fn, void *user);

/* A compile the cache knows of: running (its module's lock held by the
 * process compiling), or refused by the compiler's bounds and remembered
 * (docs/aot.md, The compiler's bounds). */
typedef struct cis_cache_compile {
  char key[65];     /* the entry's key it would write (hex) */
  char state[16];   /* "queued" (waiting for a compile slot), "generating"
                       (the C), "compiling" (the C compiler runs on a unit),
                       "linking" (the units into one object), "starting",
                       "unreadable" (a lock held, its state line garbled),
                       "refused", or "corrupt" (a refusal record that cannot
                       be read: why says which) */
  int64_t pid;      /* the process compiling; 0 when refused */
  int64_t since;    /* seconds since the epoch: the compile's start, or the refusal */
  char why[256];    /* refused, corrupt: the compiler's or the bound's message,
                       or what is wrong with the record; else "" */
  uint32_t units_done; /* compiling, linking: units of the C compiled so far */
  uint32_t units;      /* compiling, linking: units of the C (0: not yet known) */
} cis_cache_compile;

/* Called for each compile; return false to stop. */
typedef bool (*cis_cache_compile_visit)(const cis_cache_compile *c, void *user);

/* Visits the compiles running or queued in the cache folder, by any
 * process of this host, and the refusals remembered there. A missing
 * folder has none. Errors: CIS_EINVAL (no fn), CIS_EIO. */
CIS_EXTERN cis_result cis_cache_compiles(cis_cache_compile_visit fn, void *user);

/* Removes every entry, and the lock and temporary files of compiles.
 * *removed (may be NULL) gets the number of entries removed. A compile
 * running meanwhile stores its entry afterwards. Errors: CIS_EIO. */
CIS_EXTERN cis_result cis_cache_clear(uint64_t *removed);

/* Removes the entries that would never be loaded (unsound, written by
 * another cis version), those older than max_age_s seconds (0: no age
 * limit), and leftovers of compiles that did not finish (temporary files
 * older than an hour). *removed (may be NULL) gets the number of entries
 * removed. Errors: CIS_EIO. */
CIS_EXTERN cis_result cis_cache_prune(uint64_t max_age_s, uint64_t *removed);

#ifdef __cplusplus
}
#endif

#endif /* CIS_CIS_AOT_H */
