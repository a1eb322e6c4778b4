/*
 * This file implements the tests of the instance memory account: one
 * limit (cis_limits.max_memory_bytes) bounds every byte a guest can make
 * the host allocate for it, linear memories and all tables together. Ten
 * tables grown from wasm stop at the limit and resident memory stays near
 * it; declared table minimums past it fail instantiation; memory and
 * tables draw on the same account; an imported object is charged to the
 * one instance that pays for it; the instance's own bookkeeping (sized by
 * its module) is charged too; the accounting is released with the
 * instance and does not drift over many instances.
 */
#include "runtime/rt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB (1024ull * 1024ull)
#define CAP (16 * MIB)

static void cap_16m(cis_limits *l) { l->max_memory_bytes = CAP; }

/* AddressSanitizer keeps freed blocks in a quarantine (256 MiB by default)
 * before reusing them, so resident memory under it may exceed what is
 * live by that much. */
#if defined(__SANITIZE_ADDRESS__)
#define FREED_SLACK (256 * MIB)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FREED_SLACK (256 * MIB)
#endif
#endif
#ifndef FREED_SLACK
#define FREED_SLACK 0
#endif

/* Resident set size of this process in bytes, from /proc/self/statm. */
static uint64_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long long size = 0, resident = 0;
  if (!f) fail_msg("cannot open /proc/self/statm");
  if (fscanf(f, "%llu %llu", &size, &resident) != 2) fail_msg("cannot read /proc/self/statm");
  fclose(f);
  return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static int32_t call_i32(cis_instance *inst, const char *name, const int32_t *arg) {
  cis_val a = {.type = CIS_I32, .of.i32 = arg ? *arg : 0}, r;
  cis_func *f = cis_instance_func(inst, name);
  if (!f) fail_msg("no export %s", name);
  cis_result rc = cis_func_call(inst, f, &a, arg ? 1 : 0, &r, 1);
  if (rc != CIS_OK) fail_msg("%s: %s: %s", name, cis_errname(rc), cis_errmsg(inst));
  return r.of.i32;
}

static int32_t call1(cis_instance *inst, const char *name, int32_t x) {
  return call_i32(inst, name, &x);
}

static cis_instance *instantiate(cis_module *mod, const cis_imports *im) {
  cis_instance *inst = NULL;
  cis_result rc = cis_instance_new(mod, im, NULL, &inst);
  if (rc != CIS_OK) fail_msg("instantiate: %s", cis_errname(rc));
  return inst;
}

/* -------------------------------------------------------- ten tables */

/* The finding: a skill capped at 16 MiB filled ten tables and reached
 * about 800 MB resident. Now table.grow returns -1 once the ten together
 * reach the account, and the process grows by about the cap. */
static void ten_tables_stop_at_the_memory_account(void **state) {
  (void)state;
  cis_engine *e = rt_engine(cap_16m);
  cis_module *mod = rt_load(e, "tables10");
  uint64_t rss0 = rss_bytes();
  cis_instance *inst = instantiate(mod, NULL);
  uint64_t total = 0;
  char name[16];
  for (int i = 0; i < 10; i++) {
    snprintf(name, sizeof name, "fill%d", i);
    int32_t n = call_i32(inst, name, NULL);
    assert_true(n >= 0);
    total += (uint64_t)n;
  }
  uint64_t rss1 = rss_bytes();
  print_message("ten tables under a 16 MiB account: %llu elements (%.1f MiB), "
                "resident +%.1f MiB, account %llu bytes\n",
                (unsigned long long)total, (double)(total * 8) / (double)MIB,
                (double)(rss1 > rss0 ? rss1 - rss0 : 0) / (double)MIB,
                (unsigned long long)cis_instance_memory_used(inst));
  /* 8 bytes an element: everything together stays within the cap and its
   * slack, and that was reached (within the last chunk). */
  assert_true(total * 8 <= CAP + CIS_MEMORY_SLACK);
  assert_true(total * 8 > CAP - 65536 * 8);
  assert_true(cis_instance_memory_used(inst) <= CAP + CIS_MEMORY_SLACK);
  /* Past the account, grow answers -1 as the spec says, without a trap. */
  assert_int_equal(call1(inst, "grow0", 65536), -1);
  /* Resident memory follows the account, not ten times the table cap. */
  if (rss1 > rss0 && rss1 - rss0 > 4 * CAP + FREED_SLACK)
    fail_msg("resident memory grew by %.1f MiB under a 16 MiB account",
             (double)(rss1 - rss0) / (double)MIB);
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_engine_free(e);
}

/* ------------------------------------------------- declared minimums */

static void table_minimums_past_the_account_fail_to_instantiate(void **state) {
  (void)state;
  cis_engine *e = rt_engine(cap_16m);
  cis_module *mod = rt_load(e, "tablemin");
  cis_instance *inst = (cis_instance *)1;
  assert_int_equal(cis_instance_new(mod, NULL, NULL, &inst), CIS_EMEMLIMIT);
  assert_null(inst);
  print_message("tablemin under 16 MiB: %s\n", cis_errmsg(e));
  assert_non_null(strstr(cis_errmsg(e), "memory limit"));
  /* With the default 512 MiB limit the same module fits. */
  cis_limits l;
  cis_limits_default(&l);
  assert_int_equal(cis_instance_new(mod, NULL, &l, &inst), CIS_OK);
  assert_true(cis_instance_memory_used(inst) >= 3000000ull * 8);
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_engine_free(e);
}

/* ------------------------------------------------- memory and tables */

static void memory_and_tables_share_the_account(void **state) {
  (void)state;
  cis_engine *e = rt_engine(cap_16m);
  cis_module *mod = rt_load(e, "memtab");

  /* Tables first: 6.25 MiB of memory plus 8 MB of table leave less than
   * the 3.75 MiB that 60 more pages would need (with the 1 MiB slack),
   * although the memory alone could reach 256 pages. */
  cis_instance *a = instantiate(mod, NULL);
  uint64_t base = cis_instance_memory_used(a);
  assert_true(base >= 100 * 65536ull);
  assert_int_equal(call1(a, "grow_tab", 1000000), 0);
  assert_int_equal(cis_instance_memory_used(a), base + 8000000ull);
  assert_int_equal(call1(a, "grow_mem", 60), -1);
  assert_int_equal(call_i32(a, "mem_pages", NULL), 100);
  assert_int_equal(call1(a, "grow_mem", 10), 100);
  assert_int_equal(cis_instance_memory_used(a), base + 8000000ull + 10 * 65536ull);
  cis_instance_free(a);

  /* Memory first: 200 pages (12.5 MiB) leave no room for 8 MB of table. */
  cis_instance *b = instantiate(mod, NULL);
  assert_int_equal(call1(b, "grow_mem", 100), 100);
  assert_int_equal(call1(b, "grow_tab", 1000000), -1);
  assert_int_equal(call_i32(b, "tab_size", NULL), 0);
  assert_int_equal(call1(b, "grow_tab", 300000), 0);
  /* The embedder's own grow draws on the same account: 250 pages fit the
   * memory's cap of 256, but not beside 2.4 MB of table. */
  assert_int_equal(cis_memory_grow(cis_instance_memory(b), 50), -1);
  assert_int_equal(cis_memory_grow(cis_instance_memory(b), 20), 200);
  print_message("memory 220 pages + table 300000 elements: account %llu bytes\n",
                (unsigned long long)cis_instance_memory_used(b));
  assert_true(cis_instance_memory_used(b) <= CAP + CIS_MEMORY_SLACK);
  cis_instance_free(b);
  cis_module_free(mod);
  cis_engine_free(e);
}

/* --------------------------------------------------- shared objects */

static cis_imports *imports_of(cis_engine *e, cis_memory *mem, cis_table *tab) {
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_imports_add_memory(im, "x", 1, "mem", 3, mem), CIS_OK);
  assert_int_equal(cis_imports_add_table(im, "x", 1, "tab", 3, tab), CIS_OK);
  return im;
}

/* A table or memory is charged to the instance that defined it, whoever
 * grows it; one made with cis_memory_new / cis_table_new to the first
 * instance that imports it, which must afford its current size. */
static void imported_objects_are_charged_to_their_payer(void **state) {
  (void)state;
  cis_engine *e = rt_engine(cap_16m);
  cis_module *def = rt_load(e, "memtab");
  cis_module *user = rt_load(e, "tabimport");

  cis_instance *a = instantiate(def, NULL);
  cis_extern mem, tab;
  assert_int_equal(cis_instance_export(a, "mem", 3, &mem), CIS_OK);
  assert_int_equal(cis_instance_export(a, "tab", 3, &tab), CIS_OK);
  cis_imports *im = imports_of(e, mem.of.memory, tab.of.table);
  cis_instance *b = instantiate(user, im);
  uint64_t a0 = cis_instance_memory_used(a), b0 = cis_instance_memory_used(b);
  /* b grows a's table: a pays, and then a cannot grow its memory. */
  assert_int_equal(call1(b, "grow_tab", 1000000), 0);
  assert_int_equal(cis_instance_memory_used(a), a0 + 8000000ull);
  assert_int_equal(cis_instance_memory_used(b), b0);
  assert_int_equal(call1(a, "grow_mem", 60), -1);

  /* a is released while b still uses its table and memory: they stay
   * charged to a's account, so b cannot push them past a's limit. */
  cis_instance_free(a);
  assert_int_equal(call1(b, "grow_tab", 2000000), -1);
  assert_int_equal(call1(b, "grow_mem", 60), -1);
  assert_int_equal(call1(b, "grow_tab", 1000), 1000000);
  cis_instance_free(b);
  cis_imports_free(im);

  /* Standalone objects: the first importer pays for their current size. */
  cis_memory *smem = NULL;
  cis_table *stab = NULL;
  assert_int_equal(cis_memory_new(e, 20, 1000, true, &smem), CIS_OK); /* 1.25 MiB */
  assert_int_equal(cis_table_new(e, CIS_EXTERNREF, 0, 0, false, &stab), CIS_OK);
  im = imports_of(e, smem, stab);
  cis_limits small;
  cis_limits_default(&small);
  small.max_memory_bytes = 1 * MIB;
  cis_instance *c = (cis_instance *)1;
  assert_int_equal(cis_instance_new(user, im, &small, &c), CIS_EMEMLIMIT);
  assert_null(c);
  print_message("standalone 20 pages under a 1 MiB account: %s\n", cis_errmsg(e));
  /* A larger account affords it and then pays for the growth. */
  small.max_memory_bytes = 4 * MIB;
  assert_int_equal(cis_instance_new(user, im, &small, &c), CIS_OK);
  assert_true(cis_instance_memory_used(c) >= 20 * 65536ull);
  assert_int_equal(call1(c, "grow_mem", 48), -1); /* 68 pages = 4.25 MiB */
  assert_int_equal(call1(c, "grow_mem", 20), 20);
  assert_int_equal(call1(c, "grow_tab", 400000), -1); /* 3.2 MB more */
  assert_int_equal(cis_memory_grow(smem, 30), -1);    /* the embedder too */
  cis_instance_free(c);
  cis_imports_free(im);
  cis_memory_free(smem);
  cis_table_free(stab);
  cis_module_free(user);
  cis_module_free(def);
  cis_engine_free(e);
}

/* ------------------------------------------------------- bookkeeping */

/* A module of n i32 globals and nothing else, written byte by byte (a
 * .wat of 200,000 globals would be a 6 MB fixture). */
static uint8_t *globals_module(uint32_t n, size_t *len) {
  size_t body = 3 + (size_t)n * 5; /* count (3-byte LEB) + 5 bytes a global */
  size_t total = 8 + 1 + 3 + body;
  uint8_t *b = malloc(total), *p = b;
  assert_non_null(b);
  static const uint8_t head[] = {0, 'a', 's', 'm', 1, 0, 0, 0};
  memcpy(p, head, 8);
  p += 8;
  *p++ = 6; /* global section, size and count as 3-byte LEB128 */
  *p++ = (uint8_t)(0x80 | (body & 0x7f));
  *p++ = (uint8_t)(0x80 | ((body >> 7) & 0x7f));
  *p++ = (uint8_t)((body >> 14) & 0x7f);
  *p++ = (uint8_t)(0x80 | (n & 0x7f));
  *p++ = (uint8_t)(0x80 | ((n >> 7) & 0x7f));
  *p++ = (uint8_t)((n >> 14) & 0x7f);
  for (uint32_t i = 0; i < n; i++) {
    static const uint8_t g[] = {0x7f, 0x00, 0x41, 0x00, 0x0b}; /* i32 const, i32.const 0 */
    memcpy(p, g, sizeof g);
    p += sizeof g;
  }
  *len = (size_t)(p - b);
  return b;
}

/* What an instance allocates for itself in proportion to its module (here
 * a cell per global) is charged too: 200,000 globals are about 10 MB of
 * host memory from a 1 MB module. */
static void instance_bookkeeping_is_charged(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  size_t len = 0;
  uint8_t *bytes = globals_module(200000, &len);
  cis_module *mod = NULL;
  assert_int_equal(cis_module_new(e, bytes, len, &mod), CIS_OK);
  free(bytes);
  cis_limits l;
  cis_limits_default(&l);
  l.max_memory_bytes = 4 * MIB;
  cis_instance *inst = (cis_instance *)1;
  assert_int_equal(cis_instance_new(mod, NULL, &l, &inst), CIS_EMEMLIMIT);
  assert_null(inst);
  print_message("200000 globals under 4 MiB: %s\n", cis_errmsg(e));
  assert_non_null(strstr(cis_errmsg(e), "bookkeeping"));
  l.max_memory_bytes = 64 * MIB;
  assert_int_equal(cis_instance_new(mod, NULL, &l, &inst), CIS_OK);
  print_message("200000 globals: account %llu bytes\n",
                (unsigned long long)cis_instance_memory_used(inst));
  assert_true(cis_instance_memory_used(inst) > 200000ull * 16);
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_engine_free(e);
}

/* ---------------------------------------------------------- no drift */

/* Many instances, each filling its account: the figure is the same every
 * time, and the process does not keep what the freed ones used. */
static void account_released_on_instance_free(void **state) {
  (void)state;
  cis_engine *e = rt_engine(cap_16m);
  cis_module *mod = rt_load(e, "memtab");
  uint64_t first = 0, rss_after_first = 0;
  for (int i = 0; i < 100; i++) {
    cis_instance *inst = instantiate(mod, NULL);
    assert_int_equal(call1(inst, "grow_tab", 1000000), 0);
    assert_int_equal(call1(inst, "grow_mem", 60), -1);
    uint64_t used = cis_instance_memory_used(inst);
    if (i == 0) first = used;
    else assert_int_equal(used, first);
    cis_instance_free(inst);
    if (i == 0) rss_after_first = rss_bytes();
  }
  uint64_t rss = rss_bytes();
  print_message("100 instances at %llu bytes each: resident %+.1f MiB after the first\n",
                (unsigned long long)first,
                ((double)rss - (double)rss_after_first) / (double)MIB);
  /* 100 x 14 MiB would be 1.4 GB if it stayed. */
  if (rss > rss_after_first && rss - rss_after_first > 8 * CAP + FREED_SLACK)
    fail_msg("resident memory grew by %.1f MiB over 100 instances",
             (double)(rss - rss_after_first) / (double)MIB);
  cis_module_free(mod);
  cis_engine_free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ten_tables_stop_at_the_memory_account),
      cmocka_unit_test(table_minimums_past_the_account_fail_to_instantiate),
      cmocka_unit_test(memory_and_tables_share_the_account),
      cmocka_unit_test(imported_objects_are_charged_to_their_payer),
      cmocka_unit_test(instance_bookkeeping_is_charged),
      cmocka_unit_test(account_released_on_instance_free),
  };
  return cmocka_run_group_tests_name("runtime_memory", tests, NULL, NULL);
}
