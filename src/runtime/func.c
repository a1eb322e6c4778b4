/*
 * This file implements function objects as the public API sees them: host
 * functions declared with signature strings, their reference counts, the
 * signature of any function, and the names that trap and link messages use.
 *
 * A signature string lists parameter letters in parentheses, then result
 * letters: i i32, I i64, f f32, F f64, r externref, R funcref ("(ii)i",
 * "(I)", "()iI"). Anything else, including spaces, is rejected, so a typo
 * never silently changes a host function's type.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rt_internal.h"

/* The value type of a signature letter, or 0. */
static uint8_t sig_type(char c) {
  switch (c) {
  case 'i': return CIS__I32;
  case 'I': return CIS__I64;
  case 'f': return CIS__F32;
  case 'F': return CIS__F64;
  case 'r': return CIS__EXTERNREF;
  case 'R': return CIS__FUNCREF;
  case 'v': return CIS__V128;
  default: return 0;
  }
}

cis_result cis__sig_parse(const char *sig, cis__functype *out) {
  memset(out, 0, sizeof *out);
  if (!sig || sig[0] != '(') return CIS_EINVAL;
  const char *close = strchr(sig, ')');
  if (!close) return CIS_EINVAL;
  size_t np = (size_t)(close - sig - 1), nr = strlen(close + 1);
  if (np > CIS__MAX_PARAMS || nr > CIS__MAX_RESULTS) return CIS_EINVAL;
  uint8_t *types = malloc(np + nr + 1);
  if (!types) return CIS_ENOMEM;
  for (size_t i = 0; i < np; i++)
    if (!(types[i] = sig_type(sig[1 + i]))) goto fail;
  for (size_t i = 0; i < nr; i++)
    if (!(types[np + i] = sig_type(close[1 + i]))) goto fail;
  out->nparams = (uint32_t)np;
  out->nresults = (uint32_t)nr;
  out->types = types;
  return CIS_OK;
fail:
  free(types);
  return CIS_EINVAL;
}

/* Copies of the definition's names, as "module.name", for messages. */
static char *host_label(const cis_host_func_def *def) {
  const char *mod = def->module ? def->module : "";
  const char *name = def->name ? def->name : "";
  size_t n = strlen(mod) + strlen(name) + 2;
  char *s = malloc(n);
  if (s) snprintf(s, n, "%s.%s", mod, name);
  return s;
}

static void host_func_destroy(cis__host_func *h) {
  free(h->pub.own_type.types);
  free(h->vtypes);
  free(h->label);
  free(h);
}

cis_result cis__host_func_new(cis_engine *e, const cis_host_func_def *def, void *msg_handle,
                              cis_func **out) {
  cis_result rc = CIS_OK;
  cis__host_func *h = NULL;
  *out = NULL;
  if (!def || !def->fn)
    return cis__fail(msg_handle, CIS_EINVAL, "host function definition has no callback");
  h = calloc(1, sizeof *h);
  if (!h) return cis__fail(msg_handle, CIS_ENOMEM, "out of memory creating a host function");
  rc = cis__sig_parse(def->signature, &h->pub.own_type);
  if (rc != CIS_OK) {
    cis__fail(msg_handle, rc, "host function %s.%s: bad signature \"%s\"",
              def->module ? def->module : "", def->name ? def->name : "",
              def->signature ? def->signature : "(null)");
    goto fail;
  }
  size_t n = (size_t)h->pub.own_type.nparams + h->pub.own_type.nresults;
  h->vtypes = malloc((n ? n : 1) * sizeof *h->vtypes);
  h->label = host_label(def);
  if (!h->vtypes || !h->label) {
    rc = cis__fail(msg_handle, CIS_ENOMEM, "out of memory creating a host function");
    goto fail;
  }
  for (size_t i = 0; i < n; i++) h->vtypes[i] = (cis_valtype)h->pub.own_type.types[i];
  rc = cis__engine_intern_type(e, &h->pub.own_type, &h->pub.type_id);
  if (rc != CIS_OK) {
    cis__fail(msg_handle, rc, "cannot intern a host function type: %s", cis_strerror(rc));
    goto fail;
  }
  h->pub.kind = CIS__FUNC_HOST;
  h->pub.type = &h->pub.own_type;
  cis__func_set_slots(&h->pub);
  h->pub.fn = def->fn;
  h->pub.user = def->user;
  h->flags = def->flags;
  atomic_init(&h->pub.refs, 1);
  *out = &h->pub;
  return CIS_OK;
fail:
  host_func_destroy(h);
  return rc;
}

cis_result cis_func_new_host(cis_engine *e, const cis_host_func_def *def, cis_func **out) {
  if (!out) return CIS_EINVAL;
  *out = NULL;
  if (!e) return CIS_EINVAL;
  return cis__host_func_new(e, def, e, out);
}

cis_func *cis__func_ref(cis_func *f) {
  if (f && f->kind == CIS__FUNC_HOST) atomic_fetch_add(&f->refs, 1);
  return f;
}

/* Drops a reference to a host function. A module's own functions belong to
 * their instance and are not counted, so freeing one does nothing. */
void cis_func_free(cis_func *f) {
  if (!f || f->kind != CIS__FUNC_HOST) return;
  if (atomic_fetch_sub(&f->refs, 1) == 1) host_func_destroy((cis__host_func *)f);
}

void cis_func_type(const cis_func *f, uint32_t *nparams, const cis_valtype **params,
                   uint32_t *nresults, const cis_valtype **results) {
  const cis_valtype *v = NULL;
  uint32_t np = 0, nr = 0;
  if (f) {
    np = f->type->nparams;
    nr = f->type->nresults;
    if (f->kind == CIS__FUNC_HOST)
      v = ((const cis__host_func *)f)->vtypes;
    else
      v = cis__module_valtypes(f->inst->module, f->inst->m->func_type[f->index]);
  }
  if (nparams) *nparams = np;
  if (nresults) *nresults = nr;
  if (params) *params = v;
  if (results) *results = v ? v + np : NULL;
}

/* ------------------------------------------------------------- messages */

void cis__fmt_name(char *buf, size_t n, const char *s, size_t len) {
  if (n < 8) {
    if (n) buf[0] = '\0';
    return;
  }
  /* Keep room for "..." and the closing quote and NUL after the text. */
  size_t o = 0, lim = n - 6, i = 0;
  buf[o++] = '"';
  for (; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    bool plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
    if (o + (plain ? 1 : 3) > lim) break;
    if (plain) {
      buf[o++] = (char)c;
    } else {
      snprintf(buf + o, 4, "\\%02x", c);
      o += 3;
    }
  }
  if (i < len) {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o++] = '"';
  buf[o] = '\0';
}

void cis__fmt_func(char *buf, size_t n, const cis_func *f) {
  if (!f) {
    snprintf(buf, n, "a null function");
  } else if (f->kind == CIS__FUNC_HOST) {
    snprintf(buf, n, "host function %s", ((const cis__host_func *)f)->label);
  } else {
    const cis__module *m = f->inst->m;
    if (m->func_names && m->func_names[f->index]) {
      char name[128];
      cis__fmt_name(name, sizeof name, m->func_names[f->index], m->func_name_lens[f->index]);
      snprintf(buf, n, "function %u (%s)", f->index, name);
    } else {
      snprintf(buf, n, "function %u", f->index);
    }
  }
}
