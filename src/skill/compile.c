/*
 * This file implements compiling at install: a skill installed on a host
 * whose engine is "auto" has its module compiled into the compiled tier's
 * cache ($CIS_HOME/cache) before install returns, so its first call in any
 * later process runs compiled. On "aot" the install's own validation
 * compiled it (and a failure failed the install); on "interp" nothing is
 * compiled. Under "auto" a module that cannot be compiled (no compiler, a
 * compiler that fails, code the generator does not cover) is still
 * installed and runs on the interpreter: one warning line says why.
 */
#include <stdio.h>
#include <string.h>

#include "skill/skill_internal.h"

void cis__skill_compile(cis_skills *s, const uint8_t *wasm, size_t len, const char *name) {
  if (strcmp(s->engine_name, "auto") != 0) return;
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = "aot";
  cfg.limits = s->limits;
  cis_engine *e = NULL;
  cis_module *mod = NULL;
  cis_result rc = cis_engine_new(&cfg, &e);
  if (rc == CIS_OK) rc = cis_module_new(e, wasm, len, &mod);
  if (rc != CIS_OK)
    fprintf(stderr, "cis: warn: skill %s is installed but not compiled, engine auto runs it on the "
                    "interpreter: %s: %s\n",
            name, cis_errname(rc), e ? cis_errmsg(e) : cis_strerror(rc));
  cis_module_free(mod);
  cis_engine_free(e);
}
