/*
 * This file implements the compiled tier's own loader of its own objects:
 * reading the ELF and program headers of a compiled object, checking that
 * it needs nothing of a dynamic loader (no library, no relocation, no
 * constructor), and mapping its segments. cache.c uses it for an entry it
 * has checked (name, lengths, module bytes, key text, the object's
 * CRC32C), on the bytes the check read, before anything is mapped.
 *
 * Why not dlopen: a cached start is meant to cost no more than the
 * interpreter's start, and dlopen of a small object (its name lookup,
 * link map, scopes, dlerror bookkeeping, then dlclose) cost more
 * instructions than the interpreter's whole part of a start, plus page
 * faults for its own data. cis's objects since CIS_AOT_ABI 3 have no
 * relocations: their function tables are filled by their one exported
 * function, which is also the ELF entry point, so no symbol lookup is
 * needed either. And dlopen would run what an entry's writer chose
 * (constructors, relocations, libraries) before cis could refuse it, so
 * cis never dlopens an entry: anything else (a libc call, a constructor,
 * a linker's change) is well formed but "unsupported" here, and refused
 * (cache.c: a warning; engine aot fails, auto stays on the interpreter);
 * anything malformed is an unsound entry, compiled again.
 *
 * The headers read are hostile input in principle (a cache file), so
 * every offset and size is checked against the object's length before it
 * is used, with no arithmetic that can wrap: fuzz/fuzz_aot_elf.c runs
 * this parser, and tests/aot/test_aot_elf.c its hostile cases.
 */
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "aot/elf.h"

#if defined(__x86_64__)
#define OWN_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define OWN_MACHINE EM_AARCH64
#else
#define OWN_MACHINE EM_NONE /* no object is mapped by cis: none is loaded */
#endif

/* Largest address span a plan may ask for, beyond the object's length:
 * the linker's page alignment between segments. */
#define SPAN_SLACK (1u << 22)

static uint64_t page_down(uint64_t v, uint64_t page) { return v & ~(page - 1); }

/* v rounded up to page, or UINT64_MAX when it would wrap. */
static uint64_t page_up(uint64_t v, uint64_t page) {
  return v > UINT64_MAX - (page - 1) ? UINT64_MAX : (v + page - 1) & ~(page - 1);
}

static int prot_of(uint32_t flags) {
  return (flags & PF_R ? PROT_READ : 0) | (flags & PF_W ? PROT_WRITE : 0) |
         (flags & PF_X ? PROT_EXEC : 0);
}

cis_result cis__aot_elf_read(const uint8_t *head, size_t n, uint64_t len, uint64_t page,
                             uint64_t limit, cis__aot_elf_plan *plan, int *mappable) {
  memset(plan, 0, sizeof *plan);
  *mappable = 0;
  if (!page || (page & (page - 1))) return CIS_EINVAL;
  Elf64_Ehdr eh;
  if (n < sizeof eh || len < sizeof eh) return CIS_EMALFORMED;
  memcpy(&eh, head, sizeof eh);
  if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_ident[EI_VERSION] != EV_CURRENT ||
      eh.e_version != EV_CURRENT || eh.e_machine != OWN_MACHINE || OWN_MACHINE == EM_NONE ||
      eh.e_type != ET_DYN || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0)
    return CIS_EMALFORMED;
  /* The program headers: inside the object, and within what was read. */
  uint64_t ph_bytes = (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr);
  if (eh.e_phoff > len || ph_bytes > len - eh.e_phoff) return CIS_EMALFORMED;
  if (eh.e_phoff > n || ph_bytes > n - eh.e_phoff) return CIS_EUNSUPPORTED;
  uint64_t end = 0; /* end of the last segment's memory */
  bool ok_map = true;
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    memcpy(&ph, head + eh.e_phoff + (uint64_t)i * sizeof ph, sizeof ph);
    switch (ph.p_type) {
    case PT_LOAD: break;
    case PT_DYNAMIC:
      if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset || ph.p_filesz % sizeof(Elf64_Dyn))
        return CIS_EMALFORMED;
      plan->dyn_off = ph.p_offset;
      plan->dyn_size = ph.p_filesz;
      continue;
    case PT_INTERP:
    case PT_TLS: return CIS_EUNSUPPORTED;
    default: continue; /* notes, GNU_STACK, GNU_RELRO, EH_FRAME: nothing to do */
    }
    if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset) return CIS_EMALFORMED;
    if (ph.p_vaddr % page != ph.p_offset % page) return CIS_EMALFORMED;
    if ((ph.p_flags & PF_W) && (ph.p_flags & PF_X)) return CIS_EMALFORMED;
    if (ph.p_vaddr > UINT64_MAX - ph.p_memsz) return CIS_EMALFORMED;
    if (plan->nseg ? ph.p_vaddr < end : ph.p_vaddr != 0 || ph.p_offset != 0)
      return plan->nseg ? CIS_EMALFORMED : CIS_EUNSUPPORTED; /* overlapping, unsorted */
    if (ph.p_memsz != ph.p_filesz) return CIS_EUNSUPPORTED; /* a .bss */
    if (plan->nseg == CIS__AOT_ELF_SEGS) return CIS_EUNSUPPORTED;
    if (ph.p_memsz == 0) continue;
    end = ph.p_vaddr + ph.p_memsz;
    /* The bytes after the object in its file (the module's, a guest's
     * choice) must not be mapped executable with its last page. */
    if ((ph.p_flags & PF_X) && page_up(ph.p_offset + ph.p_filesz, page) > limit) ok_map = false;
    plan->seg[plan->nseg].off = ph.p_offset;
    plan->seg[plan->nseg].vaddr = ph.p_vaddr;
    plan->seg[plan->nseg].size = ph.p_filesz;
    plan->seg[plan->nseg].prot = prot_of(ph.p_flags);
    plan->nseg++;
  }
  if (!plan->nseg) return CIS_EMALFORMED;
  /* A writable segment of the dynamic table alone (the linker's .dynamic,
   * after the code) is for a dynamic loader: cis reads the table from the
   * bytes its check read, and nothing in an object that needs no dynamic
   * loader (cis__aot_elf_dynamic) refers to it. Left unmapped, a load of
   * a one-segment object is one mmap, not a reservation and two. */
  unsigned last = plan->nseg - 1;
  if (plan->nseg > 1 && (plan->seg[last].prot & PROT_WRITE) && plan->dyn_size &&
      plan->seg[last].off == plan->dyn_off && plan->seg[last].size == plan->dyn_size) {
    plan->nseg--;
    end = plan->seg[last - 1].vaddr + plan->seg[last - 1].size;
  }
  plan->span = page_up(end, page);
  if (plan->span == UINT64_MAX || plan->span > len + (uint64_t)SPAN_SLACK) return CIS_EMALFORMED;
  /* Two segments must not share a page: each page has one protection. */
  for (unsigned i = 1; i < plan->nseg; i++)
    if (page_down(plan->seg[i].vaddr, page) <
        page_up(plan->seg[i - 1].vaddr + plan->seg[i - 1].size, page))
      return CIS_EUNSUPPORTED;
  /* The entry point: the describe function, in code. */
  bool in_code = false;
  for (unsigned i = 0; i < plan->nseg; i++)
    if ((plan->seg[i].prot & PROT_EXEC) && eh.e_entry >= plan->seg[i].vaddr &&
        eh.e_entry - plan->seg[i].vaddr < plan->seg[i].size)
      in_code = true;
  /* Not in the headers either (an object of ABI 2 had no entry point: 0). */
  if (!in_code || eh.e_entry < sizeof eh ||
      (eh.e_entry >= eh.e_phoff && eh.e_entry - eh.e_phoff < ph_bytes))
    return CIS_EMALFORMED;
  plan->entry = eh.e_entry;
  *mappable = ok_map;
  return CIS_OK;
}

cis_result cis__aot_elf_dynamic(const uint8_t *dyn, size_t n) {
  for (size_t o = 0; o + sizeof(Elf64_Dyn) <= n; o += sizeof(Elf64_Dyn)) {
    Elf64_Dyn d;
    memcpy(&d, dyn + o, sizeof d);
    switch (d.d_tag) {
    case DT_NULL: return CIS_OK;
    /* The symbol table of the one exported name, and flags. */
    case DT_HASH:
    case DT_GNU_HASH:
    case DT_STRTAB:
    case DT_SYMTAB:
    case DT_STRSZ:
    case DT_SYMENT:
    case DT_SONAME:
    case DT_DEBUG:
    case DT_FLAGS:
    case DT_FLAGS_1:
    case DT_BIND_NOW:
    case DT_RELAENT:
    case DT_RELENT:
    case DT_PLTREL:
    case DT_VERSYM:
    case DT_VERDEF:
    case DT_VERDEFNUM: break;
    /* Tables that may be present only when empty. */
    case DT_RELASZ:
    case DT_RELSZ:
    case DT_PLTRELSZ:
    case DT_RELRSZ:
    case DT_RELACOUNT:
    case DT_RELCOUNT:
    case DT_INIT_ARRAYSZ:
    case DT_FINI_ARRAYSZ:
    case DT_PREINIT_ARRAYSZ:
      if (d.d_un.d_val) return CIS_EUNSUPPORTED;
      break;
    default: return CIS_EUNSUPPORTED; /* libraries, relocations, constructors, TEXTREL, ... */
    }
  }
  return CIS_EMALFORMED; /* no DT_NULL */
}

bool cis__aot_pread_all(int fd, uint8_t *p, size_t n, uint64_t at) {
  while (n) {
    ssize_t r = pread(fd, p, n, (off_t)at);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= (size_t)r;
    at += (uint64_t)r;
  }
  return true;
}

/* Reserves the plan's span, inaccessible: the segments then take their
 * places in it, and the pages between them stay inaccessible. */
static uint8_t *reserve(const cis__aot_elf_plan *plan) {
  void *p = mmap(NULL, plan->span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

cis_result cis__aot_elf_map(int fd, const cis__aot_elf_plan *plan, uint8_t **base) {
  *base = NULL;
  uint64_t page = (uint64_t)getauxval(AT_PAGESZ);
  if (plan->nseg == 1) { /* at address and offset 0 (cis__aot_elf_read): nothing to reserve */
    void *p = mmap(NULL, plan->seg[0].size, plan->seg[0].prot, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) return CIS_EIO;
    *base = p;
    return CIS_OK;
  }
  uint8_t *b = reserve(plan);
  if (!b) return CIS_EIO;
  for (unsigned i = 0; i < plan->nseg; i++) {
    uint64_t off = page_down(plan->seg[i].off, page);
    uint64_t len = plan->seg[i].off + plan->seg[i].size - off;
    void *at = b + page_down(plan->seg[i].vaddr, page);
    if (mmap(at, len, plan->seg[i].prot, MAP_PRIVATE | MAP_FIXED, fd, (off_t)off) == MAP_FAILED) {
      int e = errno;
      munmap(b, plan->span);
      errno = e;
      return CIS_EIO;
    }
  }
  *base = b;
  return CIS_OK;
}

cis_result cis__aot_elf_map_copy(int fd, const cis__aot_elf_plan *plan, uint8_t **base) {
  *base = NULL;
  uint64_t page = (uint64_t)getauxval(AT_PAGESZ);
  void *p = mmap(NULL, plan->span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return CIS_EIO;
  uint8_t *b = p;
  for (unsigned i = 0; i < plan->nseg; i++)
    if (!cis__aot_pread_all(fd, b + plan->seg[i].vaddr, plan->seg[i].size, plan->seg[i].off))
      goto fail;
  /* Each segment's pages get its protection; the rest none. */
  if (mprotect(b, plan->span, PROT_NONE) != 0) goto fail;
  for (unsigned i = 0; i < plan->nseg; i++) {
    uint64_t lo = page_down(plan->seg[i].vaddr, page);
    uint64_t hi = page_up(plan->seg[i].vaddr + plan->seg[i].size, page);
    if (mprotect(b + lo, hi - lo, plan->seg[i].prot) != 0) goto fail;
  }
  *base = b;
  return CIS_OK;
fail:
  munmap(b, plan->span);
  return CIS_EIO;
}
