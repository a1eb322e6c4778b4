/*
 * This file implements the library glue: the one place that names every
 * built-in execution engine. It registers them with the runtime's engine
 * registry before the first engine is created, and holds the two public
 * functions that depend on which engines exist (the default configuration
 * and cis_engine_new).
 *
 * Why here and why this way: the runtime must not name an engine (the
 * engines link the runtime, so naming one back would be a cycle between the
 * libraries), and registration must not rely on constructors or weak
 * symbols, which a static link silently drops when nothing else pulls the
 * object in. cis_engine_new is what every embedder calls first, so
 * defining it here pulls this object, and with it every built-in engine,
 * into any link of libcis.a; pthread_once makes the registration happen
 * exactly once whatever the threads.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aot/aot_ops.h"
#include "interp/interp_ops.h"
#include "runtime/runtime.h"

static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;
static cis_result builtins_rc; /* outcome of register_builtins */

/* The built-in engines; the first registered is the default. */
static void register_builtins(void) {
  builtins_rc = cis__engine_register(&cis__interp_ops);
  if (builtins_rc == CIS_OK) builtins_rc = cis__engine_register(&cis__aot_ops);
  cis__tier_set_baseline(&cis__interp_ops);
  if (builtins_rc == CIS_OK) builtins_rc = cis__engine_register(&cis__tier_ops);
}

void cis_engine_config_default(cis_engine_config *c) {
  if (!c) return;
  memset(c, 0, sizeof *c);
  cis_limits_default(&c->limits);
  /* CIS_ENGINE picks the default engine (the test suite runs on "interp"
   * and its compiled pass on "aot" this way); "auto" when unset, which
   * keeps modules on the interpreter when no C compiler is there
   * (src/aot/tier.c). */
  const char *env = getenv("CIS_ENGINE");
  c->engine = env && *env ? env : cis__tier_ops.name;
}

cis_result cis_engine_new(const cis_engine_config *cfg, cis_engine **out) {
  if (!out) return CIS_EINVAL;
  *out = NULL;
  pthread_once(&builtins_once, register_builtins);
  if (builtins_rc != CIS_OK) return builtins_rc;
  cis_engine_config def;
  if (!cfg) {
    cis_engine_config_default(&def);
    cfg = &def;
  }
  /* "auto" is tiering (src/aot/tier.c): the interpreter at once, compiled
   * code once found in the cache or compiled in the background; whether
   * a C compiler is there is asked when a module first needs a compile,
   * not here (a cached start would walk PATH for nothing). */
  return cis__engine_create(cfg, out);
}
