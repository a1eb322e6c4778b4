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

#include "common/utf8.h"
#include "skill/registry_internal.h"
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

/* CIS_OK when name is installed (the message is the thread's otherwise). */
static cis_result installed(cis_skills *s, const char *name) {
  cis__skill_entry *e;
  cis_result rc = cis__skill_lookup(s, name, &e);
  if (rc == CIS_OK) cis__skill_entry_release(e);
  return rc;
}

cis_result cis_skills_setting_set(cis_skills *s, const char *name, const char *key, const char *value) {
  if (!s || !name || !key) return CIS_EINVAL;
  if (s->h.failed) return CIS_ESTATE; /* its open failed: only its message and close */
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
  return s->reg->setting_put(s, cis__registry_until(), name, key, value);
}

static int setting_add(void *ctx, const char *key, const char *value) {
  return cJSON_AddStringToObject(ctx, key, value) ? 0 : 1;
}

cis_result cis_skills_settings(cis_skills *s, const char *name, char **json) {
  if (!s || !name || !json) return CIS_EINVAL;
  *json = NULL;
  if (s->h.failed) return CIS_ESTATE; /* its open failed: only its message and close */
  cis_result rc = installed(s, name);
  if (rc != CIS_OK) return rc;
  cJSON *o = cJSON_CreateObject();
  if (!o) return CIS_ENOMEM;
  rc = s->reg->setting_each(s, cis__registry_until(), name, setting_add, o);
  if (rc == CIS_OK && !(*json = cJSON_PrintUnformatted(o))) rc = CIS_ENOMEM;
  cJSON_Delete(o);
  return rc;
}

cis_result cis__setting_get(cis_skills *s, const cis__callctx *x, const char *name, const char *key, size_t klen,
                            char **val, size_t *vlen) {
  *val = NULL;
  *vlen = 0;
  if (cis__callctx_cancelled(x)) return cis__skills_fail(s, CIS_ECANCELED, "settings of %s: the call was cancelled", name);
  cis__registry_serve(s, x); /* its waits on the database end on the call's cancel too */
  cis_result rc = s->reg->setting_get(s, cis__registry_call_until(x ? x->deadline_ns : 0), name, key, klen, val, vlen);
  cis__registry_serve(s, NULL);
  return rc;
}
