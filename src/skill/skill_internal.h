/*
 * This file declares what the skill layer's files share: the cis_skills
 * host object, the module cache and the registry helpers.
 */
#ifndef CIS_SKILL_INTERNAL_H
#define CIS_SKILL_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>

#include "cis/cis_http.h"
#include "cis/cis_skill.h"
#include "skill/manifest.h"

#define CIS__MAX_MODULE_BYTES (256u * 1024 * 1024) /* refuse larger modules */

typedef struct cache_entry {
  char sha256[65];            /* key */
  cis_module *module;         /* decoded, validated; counted reference */
  struct cache_entry *next;   /* list (skills per host are few) */
} cache_entry;

struct cis_skills {
  char home[4096];            /* registry folder */
  cis_engine *engine;         /* one engine for every skill */
  sqlite3 *db;                /* registry metadata */
  pthread_mutex_t cache_lock; /* guards cache */
  cache_entry *cache;         /* sha256 -> module */
  cis_kv *kv;                 /* KV service */
  bool own_kv;                /* opened by us */
  cis_ai *ai;                 /* AI service */
  bool own_ai;                /* created by us */
  cis_http *http;             /* HTTP client */
  cis_log_sink sink;          /* where log lines go besides the capture */
  cis_log_format log_format;  /* text or JSON */
  cis_limits limits;          /* defaults */
  size_t max_input, max_output; /* JSON caps */
  char *vfs_db_spec;          /* database of "db" mounts (malloc'd) */
};

/* Sets the calling thread's message for s and returns code. */
cis_result cis__skills_fail(cis_skills *s, cis_result code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

void cis__sha256_hex(const uint8_t *data, size_t len, char out[65]);
cis_result cis__read_file(const char *path, size_t max, uint8_t **out, size_t *len);
cis_result cis__registry_open(cis_skills *s);
/* The manifest of an installed skill and (dir may be NULL) the folder it
 * was installed from (malloc'd; NULL when registered from memory). */
cis_result cis__registry_get(cis_skills *s, const char *name, cis_manifest **m, char **dir);
/* Where a host mount's source is: source itself when absolute (or dir is
 * NULL), else dir/source. */
void cis__mount_source_path(const char *dir, const char *source, char *out, size_t cap);
/* A decoded module by sha256 (bytes NULL: read from the store). The
 * caller frees its reference. */
cis_result cis__module_cached(cis_skills *s, const char *sha, const uint8_t *bytes, size_t len,
                              cis_module **out);

#endif /* CIS_SKILL_INTERNAL_H */
