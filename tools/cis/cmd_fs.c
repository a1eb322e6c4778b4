/*
 * This file implements `cis fs`, the operator's tools for a tenant's tree
 * of the database filesystem (docs/dbfs.md), through the public API only
 * (include/cis/cis_vfs.h):
 *
 *   cis fs ls [PATH]             names in a directory, with kind and size
 *   cis fs cat PATH              a file to stdout
 *   cis fs get PATH LOCAL        a file to a local file (- for stdout)
 *   cis fs put LOCAL PATH        a local file (- for stdin) into the tree
 *   cis fs snapshot [NAME]       freeze the top layer; prints its id
 *   cis fs layers                the layers, bottom first
 *   cis fs diff FROM [TO]        what changed between two layers
 *   cis fs rollback LAYER [--force]   drop every layer above the frozen LAYER
 *   cis fs compact [--keep-from LAYER]   delete rows no kept view reaches
 *   cis fs delete-tenant --yes   every row of the tenant
 *
 * The tree is --tenant's in the database of --vfs db:SPEC (as `cis run`
 * takes them), or by default in the configuration's fs_db (file <
 * CIS_FS_DB < --vfs, as every command reads it; cli_config.c). --skill
 * NAME or --volume NAME address the tree a skill call of the tenant
 * mounts (its own, or a shared volume), named as the skill host names
 * them. A rollback of such a tree is held to the tenant's file limits
 * (serve.tenant_max_fs_files and _bytes, read as `cis serve` reads them),
 * as a call's commit is: one that would grow the tenant's trees past them
 * is refused (CIS_EQUOTA, exit 7) with nothing changed, unless --force.
 * Only `put` creates a tenant that is not there; every other
 * subcommand refuses it (CIS_ENOTFOUND, exit 1) rather than make an empty
 * one. Exit codes as every command's (cli_exit_code).
 *
 * Paths are relative to the tree's root; a leading '/' is allowed and
 * means the same. The VFS resolves them: ".." above the root is refused
 * (CIS_EPATH, exit 8), as is anything no tree can hold. A put is one
 * transaction (a VFS scope): the file appears whole or not at all, and
 * one larger than --max-size (default 1 GiB) is refused (CIS_ETOOBIG,
 * exit 7) with nothing changed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cis/cis_skill.h"
#include "cis/cis_vfs.h"
#include "cli.h"

#define CHUNK 65536
#define PUT_MAX_DEFAULT (1ull << 30)
#define DIFF_MAX_DEFAULT 100000u

/* The parsed command line. */
typedef struct fs_args {
  const char *sub;        /* the subcommand */
  const char *pos[3];     /* its arguments */
  int npos;               /* how many */
  const char *vfs;        /* --vfs db:SPEC, or NULL: the configuration's fs_db */
  const char *tenant;     /* --tenant */
  const char *skill;      /* --skill: the tenant's tree of this skill */
  const char *volume;     /* --volume: the tenant's shared volume */
  bool json;              /* --json */
  bool yes;               /* --yes (delete-tenant) */
  bool parents;           /* --parents (put) */
  bool force;             /* --force (rollback) */
  uint64_t max_size;      /* --max-size (put) */
  uint64_t keep_from;     /* --keep-from (compact) */
  uint64_t max_changes;   /* --max (diff) */
  uint64_t group_files;   /* a rollback of a skill's or volume's tree: the tenant's */
  uint64_t group_bytes;   /*   file limits (serve.tenant_max_fs_*; 0: none) */
  char spec[4200];        /* the database */
  char tree[256];         /* the tree's name in it */
} fs_args;

/* One subcommand: its name, argument counts and one line of help. */
typedef struct fs_sub {
  const char *name;  /* what the user types */
  int min, max;      /* positional arguments */
  const char *args;  /* their names, for the usage */
  const char *help;  /* one line */
} fs_sub;

static const fs_sub subs[] = {
    {"ls", 0, 1, "[PATH]", "names in a directory (default the root): kind, size, name"},
    {"cat", 1, 1, "PATH", "a file's bytes to stdout"},
    {"get", 2, 2, "PATH LOCAL", "a file to LOCAL (- for stdout)"},
    {"put", 2, 2, "LOCAL PATH", "LOCAL (- for stdin) into the tree as PATH, whole or not at all"},
    {"snapshot", 0, 1, "[NAME]", "freeze the top layer (NAME: at most 63 bytes); prints its id"},
    {"layers", 0, 0, "", "the layers, bottom first: id, parent, state, created, name"},
    {"diff", 1, 2, "FROM [TO]", "what changed from layer FROM to TO (default the live tree)"},
    {"rollback", 1, 1, "LAYER", "drop every layer above the frozen LAYER (within the tenant's limits)"},
    {"compact", 0, 0, "", "delete the rows no kept layer reaches (docs/dbfs.md, \"Layers\")"},
    {"delete-tenant", 0, 0, "", "delete every row of the tenant (needs --yes)"},
};
#define NSUBS (sizeof subs / sizeof subs[0])

static void usage(FILE *f, const cli_opt *opts, size_t nopts) {
  fprintf(f, "usage: cis fs SUBCOMMAND --tenant ID [--vfs db:SPEC] [OPTIONS] [ARGS]\n\n"
             "Inspect and seed a tenant's tree of the database filesystem. The database is\n"
             "--vfs db:sqlite:PATH or db:postgres:CONNSTR, else the configuration's fs_db\n"
             "(cis config show). Paths are from the tree's root.\n\nSubcommands:\n");
  for (size_t i = 0; i < NSUBS; i++) {
    char left[64];
    snprintf(left, sizeof left, "%s %s", subs[i].name, subs[i].args);
    fprintf(f, "  %-22s %s\n", left, subs[i].help);
  }
  fprintf(f, "\nOptions:\n");
  cli_print_opts(f, opts, nopts);
}

/* Prints a failure (or its JSON document) and returns its exit code. */
static int fail(const fs_args *a, cis_result rc, const char *msg) {
  if (a->json) return cli_json_fail(rc, msg);
  char ctx[64];
  snprintf(ctx, sizeof ctx, "fs %s", a->sub);
  cli_error(ctx, rc, msg);
  return cli_exit_code(rc);
}

/* A VFS error number as a failure, with the mount's detail. */
static int vfs_fail(const fs_args *a, cis_vfs *fs, const char *path, int err) {
  char msg[CIS_VFS_ERRMSG_MAX + 4200];
  const char *d = cis_vfs_errmsg(fs);
  snprintf(msg, sizeof msg, "%s: %s", path, *d ? d : strerror(err));
  return fail(a, cis_vfs_result(err), msg);
}

/* The path as the VFS takes it: relative to the root ("/" and "" are the
 * root itself, "."). */
static const char *rel(const char *p) {
  while (*p == '/') p++;
  return *p ? p : ".";
}

/* Where the tree is: the database spec and the tree's name. Returns an
 * exit code. */
static int locate(fs_args *a) {
  if (!a->tenant || !*a->tenant) {
    fprintf(stderr, "cis fs %s: --tenant ID is required\n", a->sub);
    return CLI_EXIT_USAGE;
  }
  if (!cis_tenant_name_valid(a->tenant)) {
    fprintf(stderr, "cis fs %s: --tenant: 1 to %d of A-Z a-z 0-9 . _ - (not . or ..)\n", a->sub, CIS_TENANT_NAME_MAX);
    return CLI_EXIT_USAGE;
  }
  if (a->skill && a->volume) {
    fprintf(stderr, "cis fs %s: --skill and --volume name different trees: give one\n", a->sub);
    return CLI_EXIT_USAGE;
  }
  /* The skill host's names for a call's db mounts (docs/dbfs.md). */
  int n = a->skill    ? snprintf(a->tree, sizeof a->tree, "%s/skill:%s", a->tenant, a->skill)
          : a->volume ? snprintf(a->tree, sizeof a->tree, "%s/volume:%s", a->tenant, a->volume)
                      : snprintf(a->tree, sizeof a->tree, "%s", a->tenant);
  if (n < 0 || (size_t)n >= sizeof a->tree) {
    fprintf(stderr, "cis fs %s: the tree's name is longer than 255 bytes\n", a->sub);
    return CLI_EXIT_USAGE;
  }
  if (a->vfs) {
    if (strncmp(a->vfs, "db:", 3) || !a->vfs[3]) {
      fprintf(stderr, "cis fs %s: --vfs must be db:sqlite:PATH or db:postgres:CONNSTR, not \"%s\"\n",
              a->sub, a->vfs);
      return CLI_EXIT_USAGE;
    }
    snprintf(a->spec, sizeof a->spec, "%s", a->vfs + 3);
  }
  /* A skill's or a volume's tree shares the tenant's file limits, which a
   * rollback is held to as a call's commit is. */
  bool limits = !strcmp(a->sub, "rollback") && (a->skill || a->volume);
  if (a->vfs && !limits) return CLI_EXIT_OK;
  char err[512] = "";
  cli_config *c = NULL;
  cis_result rc = cli_config_load(NULL, NULL, 0, &c, err, sizeof err);
  const char *v = rc == CIS_OK && !a->vfs ? cli_config_value(c, "fs_db") : NULL;
  if (v) snprintf(a->spec, sizeof a->spec, "%s", v);
  if (rc == CIS_OK && limits) {
    /* Checked by the configuration already. */
    const char *files = cli_config_value(c, "serve.tenant_max_fs_files");
    const char *bytes = cli_config_value(c, "serve.tenant_max_fs_bytes");
    if (files) cis_parse_u64(files, &a->group_files);
    if (bytes) cis_parse_size(bytes, &a->group_bytes);
  }
  if (c) cli_config_free(c);
  if (rc != CIS_OK) return fail(a, rc, err);
  if (!a->vfs && !v) return fail(a, CIS_EINVAL, "no filesystem database: give --vfs db:SPEC or set fs_db");
  return CLI_EXIT_OK;
}

/* Mounts the tree. Unless `create`, a tenant that is not there is
 * CIS_ENOTFOUND (nothing is made); with `create`, *made says whether the
 * mount made it. Returns an exit code. */
static int mount_tree(const fs_args *a, bool create, cis_vfs **out, bool *made) {
  *out = NULL;
  *made = false;
  cis_vfs_db_config cfg;
  cis_vfs_db_config_default(&cfg);
  cfg.spec = a->spec;
  cfg.tenant = a->tree;
  /* The tenant's trees, as the skill host groups them (its mounts'). */
  char group[CIS_TENANT_NAME_MAX + 2];
  if (a->group_files || a->group_bytes) {
    snprintf(group, sizeof group, "%s/", a->tenant);
    cfg.group = group;
    cfg.group_max_nodes = a->group_files;
    cfg.group_max_bytes = a->group_bytes;
  }
  /* The default database lives in $CIS_HOME, which the library makes
   * when it is not there (the folder of an SQLite file; docs/dbfs.md). */
  {
    bool exists = false;
    cis_result rc = cis_vfs_db_tenant_exists(&cfg, &exists);
    if (rc != CIS_OK) return fail(a, rc, cis_errmsg(NULL));
    *made = !exists;
    if (!exists && !create) {
      char msg[400];
      snprintf(msg, sizeof msg, "no tenant \"%s\" in the database (cis fs put makes one)", a->tree);
      return fail(a, CIS_ENOTFOUND, msg);
    }
  }
  cis_vfs_backend *b = NULL;
  cis_vfs_db_new(&cfg, &b); /* a failure is the mount's: a failed backend passes it on */
  cis_result rc = cis_vfs_mount(b, NULL, out);
  if (rc != CIS_OK) {
    int code = fail(a, rc, *out ? cis_vfs_errmsg(*out) : cis_strerror(rc));
    cis_vfs_unmount(*out);
    *out = NULL;
    return code;
  }
  return CLI_EXIT_OK;
}

static const char *type_name(cis_vfs_type t) {
  switch (t) {
  case CIS_VFS_REG: return "file";
  case CIS_VFS_DIR: return "dir";
  case CIS_VFS_SYMLINK: return "link";
  default: return "other";
  }
}

/* Whether s[0..len) is UTF-8 without NUL (what a JSON string can carry
 * as it is: cJSON escapes the control bytes). */
static bool json_safe(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    unsigned c = p[i];
    size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (!c || !n || n > len - i || (n == 2 && c < 0xc2) || (n == 4 && c > 0xf4)) return false;
    for (size_t k = 1; k < n; k++)
      if ((p[i + k] & 0xc0) != 0x80) return false;
    i += n;
  }
  return true;
}

/* Adds a name or path to o as a JSON string: as it is when it is UTF-8,
 * else escaped as the text output prints it (\xx), so the document stays
 * valid JSON whatever bytes a tree's names hold. */
static void json_name(cJSON *o, const char *key, const char *s, size_t len) {
  char *text = NULL;
  size_t n = 0;
  if (json_safe(s, len)) {
    if ((text = malloc(len + 1))) memcpy(text, s, len), text[len] = '\0';
  } else {
    FILE *m = open_memstream(&text, &n);
    if (m) cli_print_name(m, s, len), fclose(m);
  }
  if (text) cJSON_AddStringToObject(o, key, text);
  free(text);
}

/* ------------------------------------------------------------------ ls */

static cJSON *ls_json(const char *name, size_t len, const cis_vfs_stat *st) {
  cJSON *o = cJSON_CreateObject();
  json_name(o, "name", name, len);
  cJSON_AddStringToObject(o, "type", type_name(st->type));
  cJSON_AddNumberToObject(o, "size", (double)st->size);
  cJSON_AddNumberToObject(o, "mtime_ns", (double)st->mtim);
  return o;
}

static void ls_line(const char *name, size_t len, const cis_vfs_stat *st) {
  printf("%-4s %12" PRIu64 " ", type_name(st->type), st->size);
  cli_print_name(stdout, name, len);
  putchar('\n');
}

static int do_ls(const fs_args *a, cis_vfs *fs, cis_vfs_file *root) {
  const char *path = a->npos ? rel(a->pos[0]) : ".";
  cis_vfs_stat st;
  int e = cis_vfs_statat(root, path, strlen(path), CIS_VFS_FOLLOW, &st);
  if (e) return vfs_fail(a, fs, path, e);
  cJSON *doc = a->json ? cli_json_doc(CIS_OK, NULL) : NULL;
  cJSON *list = doc ? cJSON_AddArrayToObject(doc, "entries") : NULL;
  if (st.type != CIS_VFS_DIR) { /* a file lists itself, as ls does */
    if (a->json) cJSON_AddItemToArray(list, ls_json(path, strlen(path), &st));
    else ls_line(path, strlen(path), &st);
    return a->json ? cli_json_print(doc) : CLI_EXIT_OK;
  }
  cis_vfs_file *d = NULL;
  e = cis_vfs_openat(root, path, strlen(path), CIS_VFS_READ | CIS_VFS_DIRECTORY | CIS_VFS_FOLLOW,
                     &d);
  cis_vfs_dirent ent;
  uint64_t cookie = 2; /* past "." and ".." */
  while (!e && (e = cis_vfs_readdir(d, cookie, &ent)) == 0) {
    cookie = ent.next;
    cis_vfs_stat es;
    /* A name removed since it was listed is skipped, not an error. */
    if (cis_vfs_statat(d, ent.name, ent.namelen, 0, &es) != 0) continue;
    if (a->json) cJSON_AddItemToArray(list, ls_json(ent.name, ent.namelen, &es));
    else ls_line(ent.name, ent.namelen, &es);
  }
  if (d) cis_vfs_close(d);
  if (e != ENOENT) {
    cJSON_Delete(doc);
    return vfs_fail(a, fs, path, e);
  }
  return a->json ? cli_json_print(doc) : CLI_EXIT_OK;
}

/* ------------------------------------------------------------ cat, get */

/* Copies tree file path to out. */
static int copy_out(const fs_args *a, cis_vfs *fs, cis_vfs_file *root, const char *path,
                    FILE *out) {
  cis_vfs_file *f = NULL;
  int e = cis_vfs_openat(root, path, strlen(path), CIS_VFS_READ | CIS_VFS_FOLLOW, &f);
  if (e) return vfs_fail(a, fs, path, e);
  char *buf = malloc(CHUNK);
  if (!buf) {
    cis_vfs_close(f);
    return fail(a, CIS_ENOMEM, "out of memory");
  }
  uint64_t off = 0;
  for (;;) { /* ends at the file's end: each round reads at least a byte */
    size_t got = 0;
    if ((e = cis_vfs_pread(f, buf, CHUNK, off, &got)) || !got) break;
    if (fwrite(buf, 1, got, out) != got) {
      free(buf);
      cis_vfs_close(f);
      char msg[300];
      snprintf(msg, sizeof msg, "cannot write the output: %s", strerror(errno));
      return fail(a, CIS_EIO, msg);
    }
    off += got;
  }
  free(buf);
  cis_vfs_close(f);
  return e ? vfs_fail(a, fs, path, e) : CLI_EXIT_OK;
}

static int do_get(const fs_args *a, cis_vfs *fs, cis_vfs_file *root) {
  const char *path = rel(a->pos[0]);
  if (!strcmp(a->sub, "cat")) return copy_out(a, fs, root, path, stdout);
  const char *local = a->pos[1];
  bool std = !strcmp(local, "-");
  FILE *out = std ? stdout : fopen(local, "wb");
  if (!out) {
    char msg[4400];
    snprintf(msg, sizeof msg, "%s: %s", local, strerror(errno));
    return fail(a, CIS_EIO, msg);
  }
  int rc = copy_out(a, fs, root, path, out);
  if (!std && fclose(out) != 0 && rc == CLI_EXIT_OK) {
    char msg[4400];
    snprintf(msg, sizeof msg, "%s: %s", local, strerror(errno));
    return fail(a, CIS_EIO, msg);
  }
  if (!std && rc != CLI_EXIT_OK) remove(local); /* no half copy left behind */
  return rc;
}

/* ------------------------------------------------------------------ put */

/* Makes the directories above path's last component (--parents). */
static int make_parents(cis_vfs_file *root, const char *path) {
  char dir[CIS_VFS_PATH_MAX + 1];
  size_t len = strlen(path);
  if (len > CIS_VFS_PATH_MAX) return ENAMETOOLONG;
  for (size_t i = 1; i < len; i++) {
    if (path[i] != '/' || path[i - 1] == '/') continue;
    memcpy(dir, path, i);
    dir[i] = '\0';
    int e = cis_vfs_mkdirat(root, dir, i);
    if (e && e != EEXIST) return e;
  }
  return 0;
}

/* Writes in to path in one scope: created or truncated, all of it, or
 * nothing when it fails or passes the cap. */
static int put_in(const fs_args *a, cis_vfs_file *root, FILE *in,
                  const char *path, cis_result *why, char *msg, size_t cap) {
  int e = a->parents ? make_parents(root, path) : 0;
  cis_vfs_file *f = NULL;
  if (!e)
    e = cis_vfs_openat(root, path, strlen(path),
                       CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC | CIS_VFS_FOLLOW, &f);
  char *buf = e ? NULL : malloc(CHUNK);
  if (!e && !buf) e = ENOMEM;
  uint64_t off = 0;
  size_t n;
  while (!e && (n = fread(buf, 1, CHUNK, in)) > 0) {
    if (n > a->max_size - off) {
      *why = CIS_ETOOBIG;
      snprintf(msg, cap, "%s: more than --max-size %" PRIu64 " bytes; nothing written", path,
               a->max_size);
      break;
    }
    size_t put = 0;
    e = cis_vfs_pwrite(f, buf, n, off, &put);
    off += put;
  }
  if (!e && *why == CIS_OK && ferror(in)) {
    *why = CIS_EIO;
    snprintf(msg, cap, "cannot read the input: %s", strerror(errno));
  }
  free(buf);
  if (f) cis_vfs_close(f);
  return e;
}

static int do_put(const fs_args *a, cis_vfs *fs, cis_vfs_file *root) {
  const char *local = a->pos[0], *path = rel(a->pos[1]);
  bool std = !strcmp(local, "-");
  FILE *in = std ? stdin : fopen(local, "rb");
  char msg[4400] = "";
  if (!in) {
    snprintf(msg, sizeof msg, "%s: %s", local, strerror(errno));
    return fail(a, CIS_EIO, msg);
  }
  struct stat ls;
  if (!std && fstat(fileno(in), &ls) == 0 && S_ISREG(ls.st_mode) &&
      (uint64_t)ls.st_size > a->max_size) {
    fclose(in);
    snprintf(msg, sizeof msg, "%s: %lld bytes, more than --max-size %" PRIu64 "; nothing written",
             local, (long long)ls.st_size, a->max_size);
    return fail(a, CIS_ETOOBIG, msg);
  }
  cis_result rc = cis_vfs_scope_begin(fs);
  if (rc != CIS_OK) {
    if (!std) fclose(in);
    return fail(a, rc, cis_vfs_errmsg(fs));
  }
  cis_result why = CIS_OK;
  int e = put_in(a, root, in, path, &why, msg, sizeof msg);
  if (!std) fclose(in);
  if (e || why != CIS_OK) {
    cis_vfs_scope_end(fs, false);
    return e ? vfs_fail(a, fs, path, e) : fail(a, why, msg);
  }
  rc = cis_vfs_scope_end(fs, true);
  return rc == CIS_OK ? CLI_EXIT_OK : fail(a, rc, cis_vfs_errmsg(fs));
}

/* --------------------------------------------------------------- layers */

static int do_layers(const fs_args *a, cis_vfs *fs) {
  cis_vfs_layer *v = NULL;
  size_t n = 0;
  cis_result rc = cis_vfs_db_layers(fs, &v, &n);
  if (rc != CIS_OK) return fail(a, rc, cis_vfs_errmsg(fs));
  cJSON *doc = a->json ? cli_json_doc(CIS_OK, NULL) : NULL;
  cJSON *list = doc ? cJSON_AddArrayToObject(doc, "layers") : NULL;
  for (size_t i = 0; i < n; i++) {
    if (a->json) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddNumberToObject(o, "id", (double)v[i].id);
      cJSON_AddNumberToObject(o, "parent", (double)v[i].parent);
      cJSON_AddStringToObject(o, "name", v[i].name);
      cJSON_AddNumberToObject(o, "created_ns", (double)v[i].created);
      cJSON_AddBoolToObject(o, "writable", v[i].writable);
      cJSON_AddItemToArray(list, o);
    } else {
      printf("%" PRIu64 " %" PRIu64 " %s %" PRIu64 " ", v[i].id, v[i].parent,
             v[i].writable ? "top" : "frozen", v[i].created / 1000000000u);
      cli_print_name(stdout, v[i].name[0] ? v[i].name : "-", v[i].name[0] ? strlen(v[i].name) : 1);
      putchar('\n');
    }
  }
  free(v);
  return a->json ? cli_json_print(doc) : CLI_EXIT_OK;
}

/* The changes of a diff, kept to be printed in path order. */
typedef struct diff_list {
  cis_vfs_diff_entry *v; /* entries; path malloc'd */
  size_t n, cap;         /* used / allocated */
  bool nomem;            /* an allocation failed: stop */
} diff_list;

static int diff_keep(void *user, const cis_vfs_diff_entry *e) {
  diff_list *l = user;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 64;
    cis_vfs_diff_entry *g = realloc(l->v, cap * sizeof *g);
    if (!g) return l->nomem = true, 1;
    l->v = g;
    l->cap = cap;
  }
  char *p = malloc(e->pathlen + 1);
  if (!p) return l->nomem = true, 1;
  memcpy(p, e->path, e->pathlen + 1);
  l->v[l->n] = *e;
  l->v[l->n++].path = p;
  return 0;
}

static int diff_cmp(const void *x, const void *y) {
  const cis_vfs_diff_entry *a = x, *b = y;
  size_t n = a->pathlen < b->pathlen ? a->pathlen : b->pathlen;
  int c = memcmp(a->path, b->path, n);
  return c ? c : (a->pathlen > b->pathlen) - (a->pathlen < b->pathlen);
}

static const char *change_name(cis_vfs_change c) {
  switch (c) {
  case CIS_VFS_ADDED: return "added";
  case CIS_VFS_REMOVED: return "removed";
  case CIS_VFS_MODIFIED: return "modified";
  default: return "type_changed";
  }
}

static int do_diff(const fs_args *a, cis_vfs *fs, uint64_t from, uint64_t to) {
  diff_list l = {0};
  bool truncated = false;
  size_t max = (size_t)a->max_changes;
  cis_result rc = cis_vfs_db_diff(fs, from, to, max, diff_keep, &l, NULL, &truncated);
  if (rc == CIS_ECANCELED && l.nomem) rc = CIS_ENOMEM;
  int code = CLI_EXIT_OK;
  if (rc != CIS_OK) {
    code = fail(a, rc, rc == CIS_ENOMEM ? "out of memory" : cis_vfs_errmsg(fs));
  } else {
    if (l.n) qsort(l.v, l.n, sizeof *l.v, diff_cmp);
    cJSON *doc = a->json ? cli_json_doc(CIS_OK, NULL) : NULL;
    cJSON *list = doc ? cJSON_AddArrayToObject(doc, "changes") : NULL;
    for (size_t i = 0; i < l.n; i++) {
      const cis_vfs_diff_entry *e = &l.v[i];
      if (a->json) {
        cJSON *o = cJSON_CreateObject();
        json_name(o, "path", e->path, e->pathlen);
        cJSON_AddStringToObject(o, "change", change_name(e->change));
        cJSON_AddStringToObject(o, "old_type", e->old_type ? type_name(e->old_type) : "none");
        cJSON_AddStringToObject(o, "new_type", e->new_type ? type_name(e->new_type) : "none");
        cJSON_AddNumberToObject(o, "old_size", (double)e->old_size);
        cJSON_AddNumberToObject(o, "new_size", (double)e->new_size);
        cJSON_AddItemToArray(list, o);
      } else {
        static const char letters[] = "?ARMT";
        printf("%c ", letters[e->change <= 4 ? e->change : 0]);
        cli_print_name(stdout, e->path, e->pathlen);
        putchar('\n');
      }
    }
    if (a->json) {
      cJSON_AddBoolToObject(doc, "truncated", truncated);
      code = cli_json_print(doc);
    } else if (truncated) {
      fprintf(stderr, "cis fs diff: more than %zu changes; the rest left out (--max)\n", l.n);
    }
  }
  for (size_t i = 0; i < l.n; i++) free((char *)l.v[i].path);
  free(l.v);
  return code;
}

static int do_compact(const fs_args *a, cis_vfs *fs) {
  cis_vfs_compact_stats st;
  cis_result rc = cis_vfs_db_compact(fs, a->keep_from, &st);
  if (rc != CIS_OK) return fail(a, rc, cis_vfs_errmsg(fs));
  if (a->json) {
    cJSON *doc = cli_json_doc(CIS_OK, NULL);
    cJSON_AddNumberToObject(doc, "rows", (double)st.rows);
    cJSON_AddNumberToObject(doc, "data_bytes", (double)st.data_bytes);
    cJSON_AddNumberToObject(doc, "layers", (double)st.layers);
    return cli_json_print(doc);
  }
  printf("freed %" PRIu64 " rows, %" PRIu64 " bytes of file data, %" PRIu64 " layers\n", st.rows,
         st.data_bytes, st.layers);
  return CLI_EXIT_OK;
}

/* A layer id argument; false after saying why. */
static bool layer_arg(const fs_args *a, const char *s, uint64_t *id) {
  if (cis_parse_u64(s, id)) return true;
  fprintf(stderr, "cis fs %s: \"%s\" is not a layer id (cis fs layers lists them)\n", a->sub, s);
  return false;
}

/* The subcommands that run on a mount. */
static int run_mounted(const fs_args *a) {
  bool files = !strcmp(a->sub, "ls") || !strcmp(a->sub, "cat") || !strcmp(a->sub, "get") ||
               !strcmp(a->sub, "put");
  uint64_t from = 0, to = 0, layer = 0;
  if (!strcmp(a->sub, "diff") &&
      (!layer_arg(a, a->pos[0], &from) || (a->npos > 1 && !layer_arg(a, a->pos[1], &to))))
    return CLI_EXIT_USAGE;
  if (!strcmp(a->sub, "rollback") && !layer_arg(a, a->pos[0], &layer)) return CLI_EXIT_USAGE;
  cis_vfs *fs = NULL;
  bool made = false;
  int rc = mount_tree(a, !strcmp(a->sub, "put"), &fs, &made);
  if (rc != CLI_EXIT_OK) return rc;
  if (files) {
    cis_vfs_file *root = NULL;
    int e = cis_vfs_open_root(fs, &root);
    if (e) rc = vfs_fail(a, fs, "/", e);
    else if (!strcmp(a->sub, "ls")) rc = do_ls(a, fs, root);
    else if (!strcmp(a->sub, "put")) rc = do_put(a, fs, root);
    else rc = do_get(a, fs, root);
    if (root) cis_vfs_close(root);
  } else if (!strcmp(a->sub, "layers")) {
    rc = do_layers(a, fs);
  } else if (!strcmp(a->sub, "snapshot")) {
    uint64_t id = 0;
    cis_result r = cis_vfs_db_snapshot(fs, a->npos ? a->pos[0] : "", &id);
    if (r != CIS_OK) rc = fail(a, r, cis_vfs_errmsg(fs));
    else printf("%" PRIu64 "\n", id);
  } else if (!strcmp(a->sub, "diff")) {
    rc = do_diff(a, fs, from, to);
  } else if (!strcmp(a->sub, "rollback")) {
    cis_result r = cis_vfs_db_rollback(fs, layer, a->force ? CIS_VFS_DB_ROLLBACK_FORCE : 0);
    char msg[CIS_VFS_ERRMSG_MAX + 64];
    snprintf(msg, sizeof msg, "%s%s", cis_vfs_errmsg(fs),
             r == CIS_EQUOTA ? " (--force rolls back all the same)" : "");
    if (r != CIS_OK) rc = fail(a, r, msg);
  } else {
    rc = do_compact(a, fs);
  }
  /* A refused put leaves no tenant behind: the one it made goes again,
   * unless it holds something by now (another put made it meanwhile). */
  uint64_t bytes = 0, nodes = 1;
  bool undo = made && rc != CLI_EXIT_OK && cis_vfs_usage(fs, &bytes, &nodes) == CIS_OK && !nodes;
  cis_vfs_unmount(fs);
  if (undo) {
    cis_vfs_db_config cfg;
    cis_vfs_db_config_default(&cfg);
    cfg.spec = a->spec;
    cfg.tenant = a->tree;
    cis_vfs_db_tenant_delete(&cfg); /* best effort: the put's own failure is what is reported */
  }
  return rc;
}

static int do_delete_tenant(const fs_args *a) {
  if (!a->yes) {
    fprintf(stderr, "cis fs delete-tenant: deletes every file and layer of \"%s\" for good; "
                    "add --yes to do it\n", a->tree);
    return CLI_EXIT_USAGE;
  }
  cis_vfs_db_config cfg;
  cis_vfs_db_config_default(&cfg);
  cfg.spec = a->spec;
  cfg.tenant = a->tree;
  cis_result rc = cis_vfs_db_tenant_delete(&cfg);
  return rc == CIS_OK ? CLI_EXIT_OK : fail(a, rc, cis_errmsg(NULL));
}

int cli_cmd_fs(int argc, char **argv) {
  fs_args a = {.max_size = PUT_MAX_DEFAULT, .max_changes = DIFF_MAX_DEFAULT};
  bool help = false;
  const cli_opt opts[] = {
      {"--tenant", CLI_OPT_STR, &a.tenant, NULL, "ID", "the tenant (required)"},
      {"--vfs", CLI_OPT_STR, &a.vfs, NULL, "db:SPEC",
       "db:sqlite:PATH or db:postgres:CONNSTR; default the configuration's fs_db"},
      {"--skill", CLI_OPT_STR, &a.skill, NULL, "NAME", "the tenant's tree of skill NAME"},
      {"--volume", CLI_OPT_STR, &a.volume, NULL, "NAME", "the tenant's shared volume NAME"},
      {"--json", CLI_OPT_FLAG, &a.json, NULL, NULL, "ls, layers, diff, compact: one JSON document"},
      {"--parents", CLI_OPT_FLAG, &a.parents, NULL, NULL, "put: make missing directories"},
      {"--max-size", CLI_OPT_SIZE, &a.max_size, NULL, "SIZE", "put: largest file (default 1GiB)"},
      {"--max", CLI_OPT_U64, &a.max_changes, NULL, "N", "diff: most changes listed (100000)"},
      {"--keep-from", CLI_OPT_U64, &a.keep_from, NULL, "LAYER",
       "compact: lowest layer kept as a rollback target (default the lowest there is)"},
      {"--yes", CLI_OPT_FLAG, &a.yes, NULL, NULL, "delete-tenant: yes, delete it"},
      {"--force", CLI_OPT_FLAG, &a.force, NULL, NULL,
       "rollback: even past the tenant's file limits (serve.tenant_max_fs_*)"},
  };
  const size_t nopts = sizeof opts / sizeof opts[0];
  const char *pos[5];
  int npos = 0;
  int rc = cli_parse_mixed("fs", opts, nopts, argc, argv, pos, 5, &npos, &help);
  if (rc != CLI_EXIT_OK) return rc;
  if (help) {
    usage(stdout, opts, nopts);
    return CLI_EXIT_OK;
  }
  const fs_sub *s = NULL;
  for (size_t i = 0; npos && i < NSUBS; i++)
    if (!strcmp(subs[i].name, pos[0])) s = &subs[i];
  if (!s) {
    if (npos) fprintf(stderr, "cis fs: unknown subcommand \"%s\"\n\n", pos[0]);
    else fprintf(stderr, "cis fs: a subcommand is required\n\n");
    usage(stderr, opts, nopts);
    return CLI_EXIT_USAGE;
  }
  a.sub = s->name;
  a.npos = npos - 1;
  for (int i = 1; i < npos && i <= 3; i++) a.pos[i - 1] = pos[i];
  if (a.npos < s->min || a.npos > s->max) {
    fprintf(stderr, "cis fs %s: takes %s%s\n", s->name, *s->args ? s->args : "no arguments",
            a.npos > s->max && *s->args ? " and nothing more" : "");
    return CLI_EXIT_USAGE;
  }
  if (a.force && strcmp(a.sub, "rollback")) {
    fprintf(stderr, "cis fs %s: --force is rollback's alone\n", s->name);
    return CLI_EXIT_USAGE;
  }
  if (a.max_size == 0 || a.max_changes == 0) {
    fprintf(stderr, "cis fs %s: --max-size and --max must be above 0\n", s->name);
    return CLI_EXIT_USAGE;
  }
  rc = locate(&a);
  if (rc != CLI_EXIT_OK) return rc;
  return !strcmp(a.sub, "delete-tenant") ? do_delete_tenant(&a) : run_mounted(&a);
}
