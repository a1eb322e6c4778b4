/*
 * This file declares the compiled tier's own loader of its own objects
 * (elf.c): the plan of a compiled object that cis maps itself (it never
 * dlopens one), and the mapping. Only cache.c and the tests use it.
 */
#ifndef CIS_AOT_ELF_H
#define CIS_AOT_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cis/cis.h"

/* Segments a plan holds at most. */
#define CIS__AOT_ELF_SEGS 4

/* How to map a compiled object: its loadable segments and entry point,
 * as checked by cis__aot_elf_read. */
typedef struct cis__aot_elf_plan {
  struct {
    uint64_t off;     /* offset in the object, congruent to vaddr modulo the page */
    uint64_t vaddr;   /* address relative to the object's base */
    uint64_t size;    /* bytes (file and memory sizes are equal) */
    int prot;         /* PROT_READ, PROT_WRITE, PROT_EXEC as the segment says */
  } seg[CIS__AOT_ELF_SEGS];
  unsigned nseg;      /* segments, sorted by vaddr, not overlapping */
  uint64_t span;      /* bytes of address space from the base, whole pages */
  uint64_t entry;     /* the entry point (the object's describe function) */
  uint64_t dyn_off;   /* the PT_DYNAMIC table's offset in the object, or 0 */
  uint64_t dyn_size;  /* its size in bytes */
} cis__aot_elf_plan;

/* Reads the ELF header and program headers of the object whose first n
 * bytes are head (its length is len; page is the page size) into *plan.
 * *mappable says whether the file's own pages may be mapped: every
 * executable segment's last page ends at or before limit (the entry's
 * bytes from limit on are not the object's, but a guest's module: they
 * must not be mapped executable).
 * CIS_OK when it is one cis maps itself, except for its dynamic table,
 * which cis__aot_elf_dynamic checks: ELF64 little-endian for this machine,
 * ET_DYN, 1 to CIS__AOT_ELF_SEGS PT_LOAD segments inside the object
 * (offset + size <= len), each with equal file and memory sizes, page
 * congruent, sorted and not overlapping, none both writable and
 * executable, the first at address 0 and offset 0; no PT_INTERP or
 * PT_TLS; the entry point inside an executable segment. CIS_EUNSUPPORTED:
 * well formed but not that (more segments, a .bss, thread-local data, a
 * header beyond head), for the system's loader. CIS_EMALFORMED: malformed
 * (truncated, another class, byte order or machine, a segment out of the
 * object or overlapping another, writable and executable, the entry
 * point outside the code). A last segment that is writable and holds the
 * dynamic table alone is left out of the plan: nothing but a dynamic
 * loader reads it. Reads head only. */
cis_result cis__aot_elf_read(const uint8_t *head, size_t n, uint64_t len, uint64_t page,
                             uint64_t limit, cis__aot_elf_plan *plan, int *mappable);

/* Checks the dynamic table of the object (the plan's dyn_size bytes at dyn,
 * little-endian Elf64_Dyn entries): CIS_OK when the object needs nothing of
 * a dynamic loader (no library, no relocation, no constructor or
 * destructor, no symbol binding); CIS_EUNSUPPORTED when it does (the
 * system's loader then loads it); CIS_EMALFORMED when malformed (no DT_NULL). */
cis_result cis__aot_elf_dynamic(const uint8_t *dyn, size_t n);

/* Maps the object per plan from fd (the object at offset 0), each segment
 * with its own protection, privately; *base receives the object's base.
 * Errors: CIS_EIO (mmap failed: errno says why; EACCES or EPERM for a
 * file system that refuses to map code). */
cis_result cis__aot_elf_map(int fd, const cis__aot_elf_plan *plan, uint8_t **base);

/* Maps the object per plan from a copy of its segments read from fd into
 * anonymous memory, for a cache whose file system refuses to map code, or
 * an object that is not mappable (cis__aot_elf_read). Errors: CIS_EIO. */
cis_result cis__aot_elf_map_copy(int fd, const cis__aot_elf_plan *plan, uint8_t **base);

/* Reads n bytes at offset at of fd into p, through short reads and
 * EINTR; false at the end of the file or an error (errno says which). */
bool cis__aot_pread_all(int fd, uint8_t *p, size_t n, uint64_t at);

#endif /* CIS_AOT_ELF_H */
