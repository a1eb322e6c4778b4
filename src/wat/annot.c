/*
 * This file implements the annotations the text compiler reads (the
 * lexer keeps them beside the tokens, lex.c): where each may stand, and
 * the custom sections of @custom.
 *
 *   (@custom "NAME" (before|after SECTION)? "DATA"*)  between module
 *       fields: a custom section, by default after the last section;
 *   (@name "NAME")  after a definition's keyword (and its $id): checked,
 *       no name section is made (nothing in cis reads one);
 *   (@metadata.code.branch_hint "\00"|"\01")  in a function, before an
 *       if or br_if, once: checked, not written (a hint section needs
 *       each instruction's offset in its body).
 */
#include <string.h>

#include "wat/wat_int.h"

/* Records the first error at annotation a. */
static bool annot_fail(wat_p *p, const wat_annot *a, cis_result rc, const char *what) {
  wat_tok t = {WT_EOF, a->col, a->line, 0, 0};
  return wat__fail_code(p, rc, &t, "%s", what);
}

/* The definitions whose keyword (and $id) a @name may follow. */
static bool names_a_definition(const wat_p *p, const wat_tok *kw) {
  static const char *const defs[] = {"module", "func",   "param", "local", "type", "field", "tag",
                                     "global", "table",  "memory", "elem", "data", "import"};
  for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
    if (wat__is_kw(p, kw, defs[i])) return true;
  return false;
}

/* Whether token k opens (or is) an if or br_if: a branch hint's target. */
static bool hint_target(const wat_p *p, size_t k) {
  const wat_tok *t = &p->toks[k];
  if (t->kind == WT_LPAR && k + 1 < p->ntoks) t = &p->toks[k + 1];
  return wat__is_kw(p, t, "if") || wat__is_kw(p, t, "br_if");
}

bool wat__annot_check(wat_p *p, bool wrapped) {
  if (!p->nannots) return true;
  unsigned level = wrapped ? 1 : 0; /* the depth of the module's fields */
  unsigned depth = 0;
  const wat_tok *field = NULL; /* the keyword of the field the tokens are in */
  bool module_named = false;
  size_t a = 0;
  for (size_t k = 0; k < p->ntoks && a < p->nannots; k++) {
    for (; a < p->nannots && p->annots[a].at == k; a++) {
      const wat_annot *an = &p->annots[a];
      if (an->kind == WA_CUSTOM) {
        if (depth != level) return annot_fail(p, an, CIS_EMALFORMED, "misplaced @custom annotation");
      } else if (an->kind == WA_NAME) {
        /* ( KEYWORD $id? @name */
        size_t kw = k >= 1 && p->toks[k - 1].kind == WT_ID ? k - 2 : k - 1;
        if (k < 2 || kw + 1 < 2 || p->toks[kw - 1].kind != WT_LPAR || !names_a_definition(p, &p->toks[kw]))
          return annot_fail(p, an, CIS_EMALFORMED, "misplaced @name annotation");
        if (wat__is_kw(p, &p->toks[kw], "module")) {
          if (module_named) return annot_fail(p, an, CIS_EMALFORMED, "@name annotation: multiple module");
          module_named = true;
        }
      } else {
        if (!field || !wat__is_kw(p, field, "func") || depth <= level)
          return annot_fail(p, an, CIS_EMALFORMED, "@metadata.code.branch_hint annotation: not in a function");
        if (a > 0 && p->annots[a - 1].kind == WA_BRANCH_HINT && p->annots[a - 1].at == k)
          return annot_fail(p, an, CIS_EMALFORMED, "@metadata.code.branch_hint annotation: duplicate annotation");
        if (!hint_target(p, k))
          return annot_fail(p, an, CIS_EINVALID, "@metadata.code.branch_hint annotation: invalid target");
      }
    }
    const wat_tok *t = &p->toks[k];
    if (t->kind == WT_LPAR) {
      if (depth == level && k + 1 < p->ntoks) field = &p->toks[k + 1];
      depth++;
    } else if (t->kind == WT_RPAR && depth) {
      depth--;
      if (depth == level) field = NULL;
    }
  }
  return true;
}

void wat__annot_customs(const wat_p *p, wat_buf *out, int slot, bool after) {
  for (size_t i = 0; i < p->nannots; i++) {
    const wat_annot *a = &p->annots[i];
    if (a->kind != WA_CUSTOM || a->slot != slot || (bool)a->after != after) continue;
    wat_buf s = {0};
    wat__u32(&s, a->nlen);
    if (a->nlen) wat__put(&s, p->annot_text.p + a->name, a->nlen);
    if (a->dlen) wat__put(&s, p->annot_text.p + a->data, a->dlen);
    wat__byte(out, 0);
    wat__u32(out, (uint32_t)s.n);
    wat__put(out, s.p, s.n);
    if (s.oom) out->oom = true;
    wat__buf_free(&s);
  }
}
