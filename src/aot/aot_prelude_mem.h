/*
 * This file implements the memory access of generated code for the
 * memories that cannot lean on memory 0's guard region: memories 1 and up
 * of a module with several, and a 64-bit memory (memory64). codegen.c
 * pastes it after aot_prelude.h into the translation units of such
 * modules only, so that the text of a module with one 32-bit memory is
 * unchanged; it is never compiled into libcis.
 *
 * Memory 0 keeps its base and size in the function's locals M and MS
 * (aot_prelude.h) whatever its address type. Memories 1 and up are read
 * through the instance's memory table (cis_aot_ctx.mems) at each access:
 * a base never moves, and the size read there is the current one, so a
 * memory.grow of that memory, or a call that grows it, needs no reload.
 * The generated file defines AOT_OFF_MBASE and AOT_OFF_MSIZE (the offsets
 * of cis_memory's base and size) before this text.
 */

/* Memory i's base and current size in bytes (i >= 1), in a function
 * whose context is c. */
#define AOT_MB(i) (*(uint8_t *const *)((const char *)c->mems[i] + AOT_OFF_MBASE))
#define AOT_MSZ(i) (*(const uint64_t *)((const char *)c->mems[i] + AOT_OFF_MSIZE))

/* The effective address of an access of n bytes at a + off in a memory of
 * ms bytes, or a trap: exact for any address and offset up to 2^64 - 1
 * (the sum may wrap, and no guard region lies past the memory). */
static inline uint64_t aot_eax(cis_aot_ctx *c, uint32_t fi, uint64_t ms, uint64_t a, uint64_t off,
                               uint32_t n) {
  uint64_t e;
  if (AOT_UNLIKELY(__builtin_add_overflow(a, off, &e) || e > ms || ms - e < n))
    aot_trap(c, AOT_T_MEM_OOB, fi);
  return e;
}

/* Loads and stores go through ldpN and stpN (aot_prelude.h) at the
 * memory's base plus the sum aot_eax checked. */
