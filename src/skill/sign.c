/*
 * This file implements signed skills: Ed25519 key pairs in files, the
 * signature file of a skill folder (skill.sig), the keys each tenant
 * trusts (a table of the registry), and the check that install and load
 * make (cis_skill.h, "signed skills").
 *
 * What is signed is the manifest's exact bytes, behind a domain prefix:
 * the manifest pins the module by its sha256, which install and every
 * load of the module check already, so signing the module again would add
 * nothing. The registry keeps the manifest text as installed and the
 * signature beside it, so a load can check both again: a manifest edited
 * in the registry database (say, to widen its permissions) no longer
 * verifies.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/ed25519.h"
#include "common/json.h"
#include "common/sha256.h"
#include "skill/manifest.h"
#include "skill/registry_internal.h"
#include "skill/skill_internal.h"

/* Bound on a signature file, and on a key file: a few hundred bytes are
 * enough; anything larger is not ours. */
#define SIG_MAX_BYTES 4096
#define KEY_MAX_BYTES 4096

static const char sig_domain[] = "cis-skill-signature-v1\n";

/* ------------------------------------------------------------- helpers */

static int hex_val(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Exactly 2n hex digits (either case) into n bytes. */
static bool from_hex(const char *s, size_t len, uint8_t *out, size_t n) {
  if (len != 2 * n) return false;
  for (size_t i = 0; i < n; i++) {
    int hi = hex_val(s[2 * i]), lo = hex_val(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return true;
}

static bool key_name_ok(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > 64 || name[0] == '.') return false;
  return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static cis_result fail(char *err, size_t cap, cis_result rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static cis_result fail(char *err, size_t cap, cis_result rc, const char *fmt, ...) {
  if (err && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
  }
  return rc;
}

/* The message signed for a manifest: the domain, then its bytes. */
static uint8_t *message(const char *manifest, size_t len, size_t *mlen) {
  size_t d = sizeof sig_domain - 1;
  uint8_t *m = malloc(d + len + 1);
  if (!m) return NULL;
  memcpy(m, sig_domain, d);
  memcpy(m + d, manifest, len);
  *mlen = d + len;
  return m;
}

/* ------------------------------------------------------ signature file */

cis_result cis__signature_parse(const char *text, size_t len, uint8_t pk[CIS__ED25519_PUBLIC],
                                 uint8_t sig[CIS__ED25519_SIG], char *err, size_t cap) {
  if (len > SIG_MAX_BYTES)
    return fail(err, cap, CIS_ETOOBIG, "signature: larger than %d bytes", SIG_MAX_BYTES);
  cJSON *j = NULL;
  char jerr[256];
  cis_result rc = cis__json_parse_strict(text, len, true, &j, jerr, sizeof jerr);
  if (rc != CIS_OK) return fail(err, cap, CIS_ESIGNATURE, "signature: %s", jerr);
  rc = CIS_ESIGNATURE;
  const cJSON *alg = cJSON_GetObjectItemCaseSensitive(j, "alg");
  const cJSON *k = cJSON_GetObjectItemCaseSensitive(j, "public_key");
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "signature");
  if (!cJSON_IsObject(j)) fail(err, cap, rc, "signature: not a JSON object");
  else if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "ed25519"))
    fail(err, cap, rc, "signature: \"alg\" must be \"ed25519\"");
  else if (!cJSON_IsString(k) || !from_hex(k->valuestring, strlen(k->valuestring), pk, CIS__ED25519_PUBLIC))
    fail(err, cap, rc, "signature: \"public_key\" must be %d hex digits", 2 * CIS__ED25519_PUBLIC);
  else if (!cJSON_IsString(s) || !from_hex(s->valuestring, strlen(s->valuestring), sig, CIS__ED25519_SIG))
    fail(err, cap, rc, "signature: \"signature\" must be %d hex digits", 2 * CIS__ED25519_SIG);
  else
    rc = CIS_OK;
  cJSON_Delete(j);
  return rc;
}

/* ------------------------------------------------------------ key files */

/* dir and its missing parents, each new one private to its owner. */
static bool make_dirs(const char *dir) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
    errno = ENAMETOOLONG;
    return false;
  }
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) return false;
    *p = '/';
  }
  return mkdir(buf, 0700) == 0 || errno == EEXIST;
}

static cis_result key_create(const char *dir, const char *name, char *pub_hex, char *err, size_t errcap) {
  if (pub_hex) pub_hex[0] = '\0';
  if (!dir || !*dir || !key_name_ok(name))
    return fail(err, errcap, CIS_EINVAL, "a key name is 1 to 64 of A-Z a-z 0-9 . _ - (not starting with a dot)");
  if (!make_dirs(dir)) return fail(err, errcap, CIS_EIO, "%s: %s", dir, strerror(errno));
  uint8_t pk[CIS__ED25519_PUBLIC], sk[CIS__ED25519_SECRET];
  cis_result rc = cis__ed25519_keypair(pk, sk, err, errcap);
  if (rc != CIS_OK) return rc;
  char kpath[4200], ppath[4200];
  snprintf(kpath, sizeof kpath, "%s/%s.key", dir, name);
  snprintf(ppath, sizeof ppath, "%s/%s.pub", dir, name);
  char line[2 * CIS__ED25519_SECRET + 2], pline[2 * CIS__ED25519_PUBLIC + 2];
  cis__hex(sk, sizeof sk, line);
  strcat(line, "\n");
  cis__hex(pk, sizeof pk, pline);
  strcat(pline, "\n");
  cis__wipe(sk, sizeof sk);
  /* Never over an existing key: O_EXCL, and the secret is readable by
   * its owner only from its first byte. */
  int fd = open(kpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    cis__wipe(line, sizeof line);
    return fail(err, errcap, errno == EEXIST ? CIS_EEXIST : CIS_EIO, "%s: %s", kpath, strerror(errno));
  }
  size_t n = strlen(line);
  bool ok = write(fd, line, n) == (ssize_t)n && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  cis__wipe(line, sizeof line);
  if (ok) {
    fd = open(ppath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    n = strlen(pline);
    ok = fd >= 0 && write(fd, pline, n) == (ssize_t)n;
    if (fd >= 0) ok = close(fd) == 0 && ok;
  }
  if (!ok) {
    unlink(kpath);
    unlink(ppath);
    return fail(err, errcap, CIS_EIO, "cannot write the key files in %s", dir);
  }
  if (pub_hex) {
    memcpy(pub_hex, pline, 2 * CIS__ED25519_PUBLIC);
    pub_hex[2 * CIS__ED25519_PUBLIC] = '\0';
  }
  return CIS_OK;
}

/* The secret key in path: one line of 128 hex digits. */
static cis_result read_secret(const char *path, uint8_t sk[CIS__ED25519_SECRET], char *err, size_t cap) {
  uint8_t *buf;
  size_t len;
  cis_result rc = cis__read_file(path, KEY_MAX_BYTES, &buf, &len);
  if (rc != CIS_OK) return fail(err, cap, rc, "%s: %s", path, cis_strerror(rc));
  while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) len--;
  bool ok = from_hex((const char *)buf, len, sk, CIS__ED25519_SECRET);
  cis__wipe(buf, len);
  free(buf);
  if (!ok) return fail(err, cap, CIS_EINVAL, "%s: not a secret key (%d hex digits)", path, 2 * CIS__ED25519_SECRET);
  return CIS_OK;
}

cis_result cis__signature_make(const char *manifest, size_t len, const char *key_path, char **sig_json, char *err,
                               size_t cap) {
  *sig_json = NULL;
  uint8_t sk[CIS__ED25519_SECRET], sig[CIS__ED25519_SIG];
  cis_result rc = read_secret(key_path, sk, err, cap);
  if (rc != CIS_OK) return rc;
  size_t mlen;
  uint8_t *msg = message(manifest, len, &mlen);
  if (!msg) {
    cis__wipe(sk, sizeof sk);
    return fail(err, cap, CIS_ENOMEM, "out of memory");
  }
  rc = cis__ed25519_sign(sig, msg, mlen, sk, err, cap);
  free(msg);
  char pk_hex[2 * CIS__ED25519_PUBLIC + 1], sig_hex[2 * CIS__ED25519_SIG + 1];
  cis__hex(sk + 32, CIS__ED25519_PUBLIC, pk_hex); /* libsodium's secret key ends with the public one */
  cis__wipe(sk, sizeof sk);
  if (rc != CIS_OK) return rc;
  cis__hex(sig, sizeof sig, sig_hex);
  char *out = malloc(512);
  if (!out) return fail(err, cap, CIS_ENOMEM, "out of memory");
  snprintf(out, 512, "{\"alg\":\"ed25519\",\"public_key\":\"%s\",\"signature\":\"%s\"}\n", pk_hex, sig_hex);
  *sig_json = out;
  return CIS_OK;
}

static cis_result skill_sign(const char *path, const char *key_path, char *err, size_t errcap) {
  if (!path || !key_path) return fail(err, errcap, CIS_EINVAL, "a skill path and a key are needed");
  char mpath[4200], spath[4200];
  struct stat st;
  if (stat(path, &st) != 0) return fail(err, errcap, CIS_ENOTFOUND, "%s: %s", path, strerror(errno));
  if (S_ISDIR(st.st_mode)) snprintf(mpath, sizeof mpath, "%s/skill.json", path);
  else snprintf(mpath, sizeof mpath, "%s", path);
  const char *slash = strrchr(mpath, '/');
  if (slash) snprintf(spath, sizeof spath, "%.*s/%s", (int)(slash - mpath), mpath, CIS_SIGNATURE_FILE);
  else snprintf(spath, sizeof spath, "%s", CIS_SIGNATURE_FILE);
  uint8_t *text;
  size_t len;
  cis_result rc = cis__read_file(mpath, CIS_MANIFEST_MAX_BYTES, &text, &len);
  if (rc != CIS_OK) return fail(err, errcap, rc, "%s: %s", mpath, cis_strerror(rc));
  /* Only a manifest install would take is worth a signature. */
  cis_manifest *m = NULL;
  char merr[512];
  rc = cis__manifest_parse((const char *)text, len, &m, merr, sizeof merr);
  cis__manifest_free(m);
  char *sig = NULL;
  if (rc != CIS_OK) fail(err, errcap, rc, "%s: %s", mpath, merr);
  else rc = cis__signature_make((const char *)text, len, key_path, &sig, err, errcap);
  free(text);
  if (rc != CIS_OK) return rc;
  rc = cis__write_atomic(spath, (const uint8_t *)sig, strlen(sig));
  free(sig);
  if (rc != CIS_OK) return fail(err, errcap, rc, "cannot write %s", spath);
  return CIS_OK;
}

/* The two take no handle: a failure's message is the thread's
 * (cis_errmsg(NULL)). */
cis_result cis_key_create(const char *dir, const char *name, char *pub_hex) {
  char err[512] = "";
  cis_result rc = key_create(dir, name, pub_hex, err, sizeof err);
  return rc == CIS_OK ? rc : cis__fail(&cis__no_handle, rc, "%s", err);
}

cis_result cis_skill_sign(const char *path, const char *key_path) {
  char err[512] = "";
  cis_result rc = skill_sign(path, key_path, err, sizeof err);
  return rc == CIS_OK ? rc : cis__fail(&cis__no_handle, rc, "%s", err);
}

/* ---------------------------------------------------------- trusted keys */

cis_result cis_skills_key_trust(cis_skills *s, const char *name, const char *public_key) {
  if (!s) return CIS_EINVAL;
  if (s->h.failed) return CIS_ESTATE; /* its open failed: only its message and close */
  if (!key_name_ok(name))
    return cis__skills_fail(s, CIS_EINVAL, "a key name is 1 to 64 of A-Z a-z 0-9 . _ - (not starting with a dot)");
  uint8_t pk[CIS__ED25519_PUBLIC];
  if (!public_key || !from_hex(public_key, strlen(public_key), pk, sizeof pk))
    return cis__skills_fail(s, CIS_EINVAL, "a public key is %d hex digits", 2 * CIS__ED25519_PUBLIC);
  char hex[2 * CIS__ED25519_PUBLIC + 1];
  cis__hex(pk, sizeof pk, hex); /* one spelling, so a lookup is a string compare */
  cis_result rc = s->reg->key_put(s, cis__registry_until(), name, hex, (int64_t)time(NULL));
  /* A key trusted or withdrawn changes which skills may load. */
  if (rc == CIS_OK) cis__registry_changed(s);
  return rc;
}

cis_result cis_skills_key_untrust(cis_skills *s, const char *name) {
  if (!s || !name) return CIS_EINVAL;
  if (s->h.failed) return CIS_ESTATE; /* its open failed: only its message and close */
  cis_result rc = s->reg->key_del(s, cis__registry_until(), name);
  if (rc == CIS_OK) cis__registry_changed(s);
  return rc;
}

typedef struct keys_ctx {
  cis_key_info *v;  /* the list */
  size_t n;         /* its length */
  cis_result rc;    /* CIS_ENOMEM stops the listing */
} keys_ctx;

static int key_add(void *ctx, const char *name, const char *public_key, int64_t added_at) {
  keys_ctx *c = ctx;
  cis_key_info *g = realloc(c->v, (c->n + 1) * sizeof *g);
  if (!g) {
    c->rc = CIS_ENOMEM;
    return 1;
  }
  c->v = g;
  memset(&g[c->n], 0, sizeof g[c->n]);
  snprintf(g[c->n].name, sizeof g[c->n].name, "%s", name);
  snprintf(g[c->n].public_key, sizeof g[c->n].public_key, "%s", public_key);
  g[c->n].added_at = added_at;
  c->n++;
  return 0;
}

cis_result cis_skills_keys(cis_skills *s, cis_key_info **out, size_t *n) {
  if (!s || !out || !n) return CIS_EINVAL;
  *out = NULL;
  *n = 0;
  if (s->h.failed) return CIS_ESTATE; /* its open failed: only its message and close */
  keys_ctx c = {.v = NULL, .n = 0, .rc = CIS_OK};
  cis_result rc = s->reg->key_each(s, cis__registry_until(), key_add, &c);
  if (rc == CIS_OK && c.rc != CIS_OK) rc = cis__skills_fail(s, c.rc, "out of memory");
  if (rc != CIS_OK) {
    free(c.v);
    return rc;
  }
  *out = c.v;
  *n = c.n;
  return CIS_OK;
}

/* The name under which the handle's tenant trusts pk, into name (65
 * bytes), read by until; CIS_ENOTFOUND when it does not. */
static cis_result trusted_as(cis_skills *s, uint64_t until, const uint8_t pk[CIS__ED25519_PUBLIC], char *name) {
  char hex[2 * CIS__ED25519_PUBLIC + 1];
  cis__hex(pk, CIS__ED25519_PUBLIC, hex);
  return s->reg->key_find(s, until, hex, name);
}

/* ----------------------------------------------------------------- check */

cis_result cis__signature_check(cis_skills *s, const char *skill, const char *manifest, size_t mlen, const char *sig,
                                size_t siglen) {
  return cis__signature_check_by(s, cis__registry_until(), skill, manifest, mlen, sig, siglen);
}

cis_result cis__signature_check_by(cis_skills *s, uint64_t until, const char *skill, const char *manifest, size_t mlen,
                                   const char *sig, size_t siglen) {
  if (!sig) {
    if (!s->require_signature) return CIS_OK;
    return cis__skills_fail(s, CIS_ESIGNATURE,
                            "%s is not signed, and this handle requires a signature (%s beside skill.json; "
                            "`cis skill sign`)",
                            skill, CIS_SIGNATURE_FILE);
  }
  uint8_t pk[CIS__ED25519_PUBLIC], sg[CIS__ED25519_SIG];
  char err[256];
  cis_result rc = cis__signature_parse(sig, siglen, pk, sg, err, sizeof err);
  if (rc != CIS_OK) return cis__skills_fail(s, rc, "%s: %s", skill, err);
  size_t n;
  uint8_t *msg = message(manifest, mlen, &n);
  if (!msg) return cis__skills_fail(s, CIS_ENOMEM, "out of memory");
  rc = cis__ed25519_verify(sg, msg, n, pk, err, sizeof err);
  free(msg);
  if (rc == CIS_ESIGNATURE)
    return cis__skills_fail(s, rc, "%s: the signature does not match its manifest (changed after signing?)", skill);
  if (rc != CIS_OK) return cis__skills_fail(s, rc, "%s: cannot check its signature: %s", skill, err);
  if (!s->require_signature) return CIS_OK;
  char name[65];
  rc = trusted_as(s, until, pk, name);
  if (rc == CIS_ENOTFOUND) {
    char hex[2 * CIS__ED25519_PUBLIC + 1];
    cis__hex(pk, sizeof pk, hex);
    return cis__skills_fail(s, CIS_ESIGNATURE, "%s is signed by key %.16s..., which tenant %s does not trust", skill,
                            hex, s->tenant);
  }
  return rc;
}
