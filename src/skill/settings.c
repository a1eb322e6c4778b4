/*
 * This file implements the operator's settings of installed skills (as
 * Extism's plug-in config): key/value strings kept in the registry
 * database, set with cis_skills_setting_set (`cis skill config set`) and
 * read by a call's config_get host function, after the call's own
 * settings (cis_invoke_options.config, `cis skill run --config`).
 *
 * The table is created by the first setting written, so opening a
 * registry still writes nothing; a registry without it has no settings.
 * A call reads a setting only when the skill asks for one, so calls that
 * never do cost nothing here.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ai/ai_internal.h"
#include "skill/skill_internal.h"

#define MAX_KEY 255u
#define MAX_VALUE (64u * 1024u)

/* Keys are printable ASCII without '=' (a --config KEY=VALUE must split one
 * way only). */
static bool key_ok(const char *k, size_t len) {
  if (len == 0 || len > MAX_KEY) return false;
  for (size_t i = 0; i < len; i++)
    if (k[i] < 0x21 || k[i] > 0x7e || k[i] == '=') return false;
  return true;
}

static bool table_missing(cis_skills *s) {
  return strstr(sqlite3_errmsg(s->db), "no such table") != NULL;
}

/* CIS_OK when name is installed (the message is the thread's otherwise). */
static cis_result installed(cis_skills *s, const char *name) {
  cis__skill_entry *e;
  cis_result rc = cis__skill_lookup(s, name, &e);
  if (rc == CIS_OK) cis__skill_entry_release(e);
  return rc;
}

cis_result cis_skills_setting_set(cis_skills *s, const char *name, const char *key, const char *value) {
  if (!s || !name || !key) return CIS_EINVAL;
  if (!key_ok(key, strlen(key)))
    return cis__skills_fail(s, CIS_EINVAL, "setting key \"%.64s\": 1 to %u printable ASCII characters, no '=' "
                            "and no space", key, MAX_KEY);
  if (value) {
    size_t vl = strlen(value);
    if (vl > MAX_VALUE) return cis__skills_fail(s, CIS_EINVAL, "setting %s: value above %u bytes", key, MAX_VALUE);
    size_t bad = cis__utf8_check(value, vl);
    if (bad != SIZE_MAX)
      return cis__skills_fail(s, CIS_EINVAL, "setting %s: value is not UTF-8 (byte %zu)", key, bad);
  }
  cis_result rc = installed(s, name);
  if (rc != CIS_OK) return rc;
  if (sqlite3_exec(s->db,
                   "CREATE TABLE IF NOT EXISTS settings(skill TEXT NOT NULL, key TEXT NOT NULL,"
                   " value TEXT NOT NULL, PRIMARY KEY(skill, key))",
                   NULL, NULL, NULL) != SQLITE_OK)
    return cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  sqlite3_stmt *st;
  const char *sql = value ? "INSERT OR REPLACE INTO settings(skill, key, value) VALUES(?, ?, ?)"
                          : "DELETE FROM settings WHERE skill=? AND key=?";
  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
    return cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
  if (value) sqlite3_bind_text(st, 3, value, -1, SQLITE_TRANSIENT);
  int r = sqlite3_step(st);
  sqlite3_finalize(st);
  if (r != SQLITE_DONE) return cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  return CIS_OK;
}

cis_result cis_skills_settings(cis_skills *s, const char *name, char **json) {
  if (!s || !name || !json) return CIS_EINVAL;
  *json = NULL;
  cis_result rc = installed(s, name);
  if (rc != CIS_OK) return rc;
  cJSON *o = cJSON_CreateObject();
  if (!o) return CIS_ENOMEM;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "SELECT key, value FROM settings WHERE skill=? ORDER BY key", -1, &st, NULL) ==
      SQLITE_OK) {
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
      cJSON_AddStringToObject(o, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) rc = cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  } else if (!table_missing(s)) {
    rc = cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  }
  if (rc == CIS_OK && !(*json = cJSON_PrintUnformatted(o))) rc = CIS_ENOMEM;
  cJSON_Delete(o);
  return rc;
}

cis_result cis__setting_get(cis_skills *s, const char *name, const char *key, size_t klen, char **val,
                            size_t *vlen) {
  *val = NULL;
  *vlen = 0;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "SELECT value FROM settings WHERE skill=? AND key=?", -1, &st, NULL) != SQLITE_OK)
    return table_missing(s) ? CIS_ENOTFOUND : CIS_EIO;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, key, (int)klen, SQLITE_TRANSIENT);
  cis_result rc = CIS_ENOTFOUND;
  int r = sqlite3_step(st);
  if (r == SQLITE_ROW) {
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    const unsigned char *t = sqlite3_column_text(st, 0);
    if (!(*val = malloc(n + 1))) rc = CIS_ENOMEM;
    else {
      memcpy(*val, t, n);
      (*val)[n] = '\0';
      *vlen = n;
      rc = CIS_OK;
    }
  } else if (r != SQLITE_DONE) {
    rc = CIS_EIO;
  }
  sqlite3_finalize(st);
  return rc;
}
