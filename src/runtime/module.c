/*
 * This file implements the module handle: loading (decode, validate,
 * intern the function types, let the engine prepare its code), reference
 * counting, and the import/export descriptors of the public API.
 *
 * A module is immutable once built, so it is shared between threads; only
 * its reference count changes, atomically. Load errors are reported on the
 * engine (per thread) with the decoder's or validator's message, which
 * starts with the spec's wording and carries the byte offset.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/rt_internal.h"

/* ------------------------------------------------------- export index */

typedef struct export_key {
  const cis__module *m; /* whose exports */
  const char *name;     /* looked-up name */
  size_t len;           /* its length */
} export_key;

static bool export_match(const void *ctx, uint32_t entry) {
  const export_key *k = ctx;
  const cis__export *x = &k->m->exports[entry];
  return x->name_len == k->len && memcmp(x->name, k->name, k->len) == 0;
}

uint32_t cis__module_find_export(const cis_module *mod, const char *name, size_t len) {
  export_key k = {mod->m, name, len};
  return cis__index_find(&cis__mod_rt(mod)->exports, cis__hash_bytes(0, name, len),
                         export_match, &k);
}

/* Indexes the exports by name. A decode-only module may repeat a name; the
 * first one wins, as a lookup would find it first anyway. */
static cis_result index_exports(cis__module_rt *r) {
  const cis__module *m = r->pub.m;
  for (uint32_t i = 0; i < m->nexports; i++) {
    const cis__export *x = &m->exports[i];
    if (cis__module_find_export(&r->pub, x->name, x->name_len) != UINT32_MAX) continue;
    cis_result rc = cis__index_add(&r->exports, cis__hash_bytes(0, x->name, x->name_len), i);
    if (rc != CIS_OK) return rc;
  }
  return CIS_OK;
}

/* Builds the cis_valtype arrays the descriptors and cis_func_type hand
 * out: the public enum is int-sized while the module keeps bytes. */
static cis_result build_valtypes(cis__module_rt *r) {
  const cis__module *m = r->pub.m;
  size_t total = 0;
  r->valtype_off = malloc(((size_t)m->ntypes + 1) * sizeof *r->valtype_off);
  if (!r->valtype_off) return CIS_ENOMEM;
  for (uint32_t i = 0; i < m->ntypes; i++) {
    r->valtype_off[i] = (uint32_t)total;
    total += (size_t)m->types[i].nparams + m->types[i].nresults;
    if (total > UINT32_MAX) return CIS_ETOOBIG;
  }
  r->valtypes = malloc((total ? total : 1) * sizeof *r->valtypes);
  if (!r->valtypes) return CIS_ENOMEM;
  for (uint32_t i = 0; i < m->ntypes; i++) {
    size_t n = (size_t)m->types[i].nparams + m->types[i].nresults;
    for (size_t j = 0; j < n; j++)
      r->valtypes[r->valtype_off[i] + j] = (cis_valtype)m->types[i].types[j];
  }
  return CIS_OK;
}

/* Gives every type of the module its canonical id, for import matching
 * and call_indirect, group by group. */
static cis_result intern_types(cis_engine *e, cis__module_rt *r) {
  const cis__module *m = r->pub.m;
  r->pub.type_ids = malloc(((size_t)m->ntypes + 1) * sizeof *r->pub.type_ids);
  if (!r->pub.type_ids) return CIS_ENOMEM;
  (void)e;
  for (uint32_t i = 0; i < m->ntypes;) {
    uint32_t n = m->types[i].nrec ? m->types[i].nrec : 1;
    cis_result rc = cis__engine_intern_group(m->types, i, n, r->pub.type_ids, &r->pub.type_ids[i]);
    if (rc != CIS_OK) return rc;
    i += n;
  }
  return CIS_OK;
}

/* Frees a module handle whatever state loading left it in. */
static void module_destroy(cis__module_rt *r) {
  if (r->prepared && r->pub.engine->ops->unprepare) r->pub.engine->ops->unprepare(&r->pub);
  cis__index_free(&r->exports);
  free(r->valtypes);
  free(r->valtype_off);
  free(r->pub.type_ids);
  cis__module_free(r->pub.m);
  free(r);
}

/* Shared by cis_module_new and cis_module_decode_only: decode, then (when
 * validate) validate, intern and prepare. Errors go to the engine. */
/* held and owner (may be NULL): bytes the engine holds already, known
 * to be the module's (known_file), decoded in place. */
static cis_result module_load(cis_engine *e, const uint8_t *bytes, size_t len, bool validate,
                              uint64_t deadline, const uint8_t *held, void *owner,
                              cis_module **out) {
  cis_result rc = CIS_OK;
  cis__module_rt *r = NULL;
  cis__diag d;
  memset(&d, 0, sizeof d);
  if (!out) return cis__fail(e, CIS_EINVAL, "module output pointer is NULL");
  *out = NULL;
  if (!e) return CIS_EINVAL;
  if (!bytes && !held && len) return cis__fail(e, CIS_EINVAL, "module bytes are NULL");
  r = calloc(1, sizeof *r);
  if (!r) {
    if (held) e->ops->release_bytes(owner);
    return cis__fail(e, CIS_ENOMEM, "out of memory loading a module");
  }
  cis__handle_init(&r->pub.hdr, CIS__H_MODULE);
  atomic_init(&r->pub.refs, 1);
  r->pub.engine = e;
  r->pub.load_deadline = deadline;

  /* Bytes the engine holds already and nothing changes (the compiled
   * tier's cache entry, mapped) are decoded in place, not copied. */
  if (held || (validate && bytes && e->ops->known_bytes &&
               e->ops->known_bytes(bytes, len, e->cfg.standard, &held, &owner) == CIS_OK))
    rc = cis__module_decode_held(held, len, e->cfg.standard, e->ops->release_bytes, owner, &r->pub.m, &d);
  else
    rc = cis__module_decode_std(bytes ? bytes : (const uint8_t *)"", len, e->cfg.standard, &r->pub.m, &d);
  if (rc != CIS_OK) {
    cis__fail(e, rc, "%s", d.msg[0] ? d.msg : cis_strerror(rc));
    goto fail;
  }
  /* A module whose bytes equal those the engine's code was made from (an
   * entry of the compiled tier's cache) was validated then: the engine
   * says so, and validation is not repeated (docs/aot.md, Cached start):
   * under the same standard, which is part of the cache's key. */
  bool known = validate && e->ops->prepare_known && e->ops->prepare_known(&r->pub) == CIS_OK;
  if (known) r->prepared = true;
  if (validate && !known) {
    rc = cis__module_validate(r->pub.m, &d);
    if (rc != CIS_OK) {
      cis__fail(e, rc, "%s", d.msg[0] ? d.msg : cis_strerror(rc));
      goto fail;
    }
  }
  rc = build_valtypes(r);
  if (rc == CIS_OK) rc = index_exports(r);
  if (rc == CIS_OK && validate) rc = intern_types(e, r);
  if (rc != CIS_OK) {
    cis__fail(e, rc, "cannot index the module: %s", cis_strerror(rc));
    goto fail;
  }
  if (validate) r->validated = true;
  if (validate && !known) {
    rc = e->ops->prepare ? e->ops->prepare(&r->pub) : CIS_OK;
    if (rc != CIS_OK) {
      const char *msg = cis_errmsg(&r->pub);
      cis__fail(e, rc, "%s", msg[0] ? msg : cis_strerror(rc));
      goto fail;
    }
    r->prepared = true;
  }
  cis__clear_error(e);
  *out = &r->pub;
  return CIS_OK;
fail:
  module_destroy(r);
  return rc;
}

cis_result cis_module_new(cis_engine *e, const uint8_t *bytes, size_t len, cis_module **out) {
  return module_load(e, bytes, len, true, 0, NULL, NULL, out);
}

cis_result cis_module_new_until(cis_engine *e, const uint8_t *bytes, size_t len,
                                uint64_t deadline_ns, cis_module **out) {
  return module_load(e, bytes, len, true, deadline_ns, NULL, NULL, out);
}

cis_result cis_module_decode_only(cis_engine *e, const uint8_t *bytes, size_t len,
                                  cis_module **out) {
  return module_load(e, bytes, len, false, 0, NULL, NULL, out);
}

/* ------------------------------------------------------ module files */

/* Files from this size on are mapped, not read: each 4 KB read into
 * anonymous memory is a page fault and a copy, and the decoder copies the
 * bytes again. */
#define MODULE_FILE_MAP_MIN (1u << 20)
/* A change within this many seconds of a file's times could leave them as
 * they were (the clock's tick, coarse file systems' second): such a file
 * is not recorded by its identity until it has settled. */
#define MODULE_FILE_SETTLE_S 2

void cis__file_id_of(const struct stat *st, cis__file_id *id) {
  memset(id, 0, sizeof *id);
  id->dev = (uint64_t)st->st_dev;
  id->ino = (uint64_t)st->st_ino;
  id->size = (uint64_t)st->st_size;
  id->mtime_s = (int64_t)st->st_mtim.tv_sec;
  id->mtime_ns = (int64_t)st->st_mtim.tv_nsec;
  id->ctime_s = (int64_t)st->st_ctim.tv_sec;
  id->ctime_ns = (int64_t)st->st_ctim.tv_nsec;
}

static int settle_s = MODULE_FILE_SETTLE_S + 1; /* whole seconds: more than the settling time */
void cis__module_test_settle_s(int s) { settle_s = s; }

/* Whether the file fd still has identity id and has not changed for the
 * settling time (git's rule for a file changed within the clock's tick of
 * its record): only then may a record of its identity stand for its
 * bytes. */
static bool file_settled(int fd, const cis__file_id *id) {
  struct stat st;
  cis__file_id now_id;
  struct timespec now;
  if (fstat(fd, &st) != 0 || clock_gettime(CLOCK_REALTIME, &now) != 0) return false;
  cis__file_id_of(&st, &now_id);
  int64_t newest = id->mtime_s > id->ctime_s ? id->mtime_s : id->ctime_s;
  return !memcmp(&now_id, id, sizeof *id) && (int64_t)now.tv_sec - newest >= settle_s;
}

/* The len bytes of fd: mapped when no one but this user (or root) may
 * write the file (MAP_PRIVATE does not keep others' writes out, and a
 * file truncated under a mapping raises SIGBUS where it is read), else
 * read. *mapped says which, for file_bytes_free. */
static cis_result file_bytes(int fd, const struct stat *st, size_t len, uint8_t **out, bool *mapped) {
  *mapped = false;
  if (len >= MODULE_FILE_MAP_MIN && (st->st_uid == geteuid() || st->st_uid == 0) &&
      !(st->st_mode & (S_IWGRP | S_IWOTH))) {
    void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
      *mapped = true;
      *out = p;
      return CIS_OK;
    }
  }
  uint8_t *b = malloc(len ? len : 1);
  if (!b) return CIS_ENOMEM;
  size_t n = 0;
  while (n < len) {
    ssize_t r = pread(fd, b + n, len - n, (off_t)n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) { /* an error, or the file shrank while read */
      free(b);
      return CIS_EIO;
    }
    n += (size_t)r;
  }
  *out = b;
  return CIS_OK;
}

static void file_bytes_free(uint8_t *b, size_t len, bool mapped) {
  if (mapped) munmap(b, len);
  else free(b);
}

cis_result cis__module_load_file(cis_engine *e, const char *path, uint64_t deadline_ns,
                                 const cis__module_text_loader *text, cis_module **out) {
  if (!out) return cis__fail(e, CIS_EINVAL, "module output pointer is NULL");
  *out = NULL;
  if (!e) return CIS_EINVAL;
  if (!path) return cis__fail(e, CIS_EINVAL, "module path is NULL");
  /* Never waiting: a FIFO named as the module is opened without blocking
   * and refused for not being a regular file. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return cis__fail(e, errno == ENOENT ? CIS_ENOTFOUND : CIS_EIO, "%s: cannot open: %s", path,
                     strerror(errno));
  struct stat st;
  cis_result rc = CIS_OK;
  if (fstat(fd, &st) != 0)
    rc = cis__fail(e, CIS_EIO, "%s: cannot stat: %s", path, strerror(errno));
  else if (!S_ISREG(st.st_mode))
    rc = cis__fail(e, CIS_EINVAL, "%s: not a regular file", path);
  else if ((uint64_t)st.st_size > CIS__MODULE_FILE_MAX)
    rc = cis__fail(e, CIS_ETOOBIG, "%s: %llu bytes, larger than a module file may be (%llu)", path,
                   (unsigned long long)st.st_size, (unsigned long long)CIS__MODULE_FILE_MAX);
  if (rc != CIS_OK) {
    close(fd);
    return rc;
  }
  cis__file_id id;
  cis__file_id_of(&st, &id);
  const uint8_t *held = NULL;
  void *owner = NULL;
  if (e->ops->known_file && e->ops->known_file(&id, e->cfg.standard, &held, &owner) == CIS_OK) {
    close(fd);
    return module_load(e, NULL, (size_t)st.st_size, true, deadline_ns, held, owner, out);
  }
  size_t len = (size_t)st.st_size;
  uint8_t *bytes = NULL;
  bool mapped = false;
  rc = file_bytes(fd, &st, len, &bytes, &mapped);
  if (rc != CIS_OK) {
    close(fd);
    return cis__fail(e, rc, "%s: cannot read: %s", path,
                     rc == CIS_ENOMEM ? "out of memory" : "an error, or the file shrank as it was read");
  }
  if (text && text->is_text(bytes, len)) {
    rc = text->load(e, (const char *)bytes, len, out);
  } else {
    rc = module_load(e, bytes, len, true, deadline_ns, NULL, NULL, out);
    /* Decoded from the engine's own copy, which known_bytes compared with
     * the file's bytes in full: the engine may know the file from now on. */
    const cis__module *m = rc == CIS_OK ? (*out)->m : NULL;
    if (m && e->ops->remember_file && m->bytes_release == e->ops->release_bytes &&
        file_settled(fd, &id))
      e->ops->remember_file(&id, e->cfg.standard, m->bytes_owner);
  }
  close(fd);
  file_bytes_free(bytes, len, mapped);
  return rc;
}

cis_module *cis_module_ref(cis_module *m) {
  if (m) atomic_fetch_add(&m->refs, 1);
  return m;
}

void cis_module_free(cis_module *m) {
  if (!m) return;
  if (atomic_fetch_sub(&m->refs, 1) == 1) module_destroy(cis__mod_rt(m));
}

/* ----------------------------------------------------------- descriptors */

uint32_t cis_module_features(const cis_module *m) { return m ? m->m->features : 0; }
uint32_t cis_module_import_count(const cis_module *m) { return m ? m->m->nimports : 0; }
uint32_t cis_module_export_count(const cis_module *m) { return m ? m->m->nexports : 0; }

/* Fills the kind-specific part of a descriptor from a function type
 * index, a table, a memory or a global type. */
static void desc_func(const cis_module *mod, uint32_t ti, cis_extern_desc *out) {
  const cis__functype *t = &mod->m->types[ti];
  const cis_valtype *v = cis__module_valtypes(mod, ti);
  out->nparams = t->nparams;
  out->nresults = t->nresults;
  out->params = v;
  out->results = v + t->nparams;
}

static void desc_limits(const cis__limits *l, cis_extern_desc *out) {
  out->min = l->min;
  out->max = l->max;
  out->has_max = l->has_max;
  out->addr64 = l->is64;
}

cis_result cis_module_import(const cis_module *mod, uint32_t i, cis_extern_desc *out) {
  if (!mod || !out) return CIS_EINVAL;
  const cis__module *m = mod->m;
  if (i >= m->nimports) return CIS_ENOTFOUND;
  const cis__import *im = &m->imports[i];
  memset(out, 0, sizeof *out);
  out->kind = (cis_extern_kind)im->kind;
  out->module = im->module;
  out->module_len = im->module_len;
  out->name = im->name;
  out->name_len = im->name_len;
  switch (im->kind) {
  case CIS_EXTERN_FUNC:
    if (im->desc.type_idx < m->ntypes) desc_func(mod, im->desc.type_idx, out);
    break;
  case CIS_EXTERN_TABLE:
    out->type = (cis_valtype)im->desc.table.elem;
    desc_limits(&im->desc.table.limits, out);
    break;
  case CIS_EXTERN_MEMORY: desc_limits(&im->desc.memory, out); break;
  case CIS_EXTERN_GLOBAL:
    out->type = (cis_valtype)im->desc.global.type;
    out->mutable_ = im->desc.global.mutable_;
    break;
  case CIS_EXTERN_TAG:
    if (im->desc.tag_type < m->ntypes) desc_func(mod, im->desc.tag_type, out);
    break;
  default: return CIS_EINVAL;
  }
  return CIS_OK;
}

cis_result cis_module_export(const cis_module *mod, uint32_t i, cis_extern_desc *out) {
  if (!mod || !out) return CIS_EINVAL;
  const cis__module *m = mod->m;
  if (i >= m->nexports) return CIS_ENOTFOUND;
  const cis__export *x = &m->exports[i];
  memset(out, 0, sizeof *out);
  out->kind = (cis_extern_kind)x->kind;
  out->name = x->name;
  out->name_len = x->name_len;
  /* A decode-only module is not validated: indices may be out of range,
   * and then only the name and kind are described. */
  switch (x->kind) {
  case CIS_EXTERN_FUNC:
    if (x->index < m->nfuncs && m->func_type[x->index] < m->ntypes)
      desc_func(mod, m->func_type[x->index], out);
    break;
  case CIS_EXTERN_TABLE:
    if (x->index < m->ntables) {
      out->type = (cis_valtype)m->tables[x->index].elem;
      desc_limits(&m->tables[x->index].limits, out);
    }
    break;
  case CIS_EXTERN_MEMORY:
    if (x->index < m->nmemories) desc_limits(&m->memories[x->index], out);
    break;
  case CIS_EXTERN_GLOBAL:
    if (x->index < m->nglobals) {
      out->type = (cis_valtype)m->globals[x->index].type.type;
      out->mutable_ = m->globals[x->index].type.mutable_;
    }
    break;
  case CIS_EXTERN_TAG:
    if (x->index < m->ntags && m->tag_type[x->index] < m->ntypes) desc_func(mod, m->tag_type[x->index], out);
    break;
  default: return CIS_EINVAL;
  }
  return CIS_OK;
}
