/*
 * This file implements the hostile-input tests of the compiled tier's own
 * loader (src/aot/elf.c): object headers that are truncated, of another
 * class, byte order or machine, with segments out of the object,
 * overlapping, unsorted, writable and executable, an entry point outside
 * the code, a dynamic table with relocations, libraries or constructors,
 * or without its end. Each is built from one well-formed image and one
 * change, so that each case fails for its own reason.
 */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "aot/elf.h"

#define PAGE 4096u
#define LEN (3u * PAGE) /* the object's length */

/* A well-formed image: code at 0 (headers included, 0x800 bytes), a
 * writable segment with the dynamic table one page up, entry at 0x400. */
static uint8_t img[LEN];

static Elf64_Ehdr *eh(void) { return (Elf64_Ehdr *)img; }
static Elf64_Phdr *ph(int i) { return (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)) + i; }
static Elf64_Dyn *dyn(int i) { return (Elf64_Dyn *)(img + PAGE + 0x100) + i; }

static void build(void) {
  memset(img, 0, sizeof img);
  Elf64_Ehdr *e = eh();
  memcpy(e->e_ident, ELFMAG, SELFMAG);
  e->e_ident[EI_CLASS] = ELFCLASS64;
  e->e_ident[EI_DATA] = ELFDATA2LSB;
  e->e_ident[EI_VERSION] = EV_CURRENT;
  e->e_type = ET_DYN;
#if defined(__x86_64__)
  e->e_machine = EM_X86_64;
#else
  e->e_machine = EM_AARCH64;
#endif
  e->e_version = EV_CURRENT;
  e->e_entry = 0x400;
  e->e_phoff = sizeof(Elf64_Ehdr);
  e->e_phentsize = sizeof(Elf64_Phdr);
  e->e_phnum = 3;
  *ph(0) = (Elf64_Phdr){.p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = 0, .p_vaddr = 0,
                        .p_filesz = 0x800, .p_memsz = 0x800, .p_align = PAGE};
  *ph(1) = (Elf64_Phdr){.p_type = PT_LOAD, .p_flags = PF_R | PF_W, .p_offset = PAGE + 0x100,
                        .p_vaddr = 2 * PAGE + 0x100, .p_filesz = 0x100, .p_memsz = 0x100,
                        .p_align = PAGE};
  *ph(2) = (Elf64_Phdr){.p_type = PT_DYNAMIC, .p_flags = PF_R | PF_W, .p_offset = PAGE + 0x100,
                        .p_vaddr = 2 * PAGE + 0x100, .p_filesz = 4 * sizeof(Elf64_Dyn),
                        .p_memsz = 4 * sizeof(Elf64_Dyn)};
  *dyn(0) = (Elf64_Dyn){.d_tag = DT_GNU_HASH, .d_un.d_ptr = 0x200};
  *dyn(1) = (Elf64_Dyn){.d_tag = DT_STRTAB, .d_un.d_ptr = 0x300};
  *dyn(2) = (Elf64_Dyn){.d_tag = DT_RELACOUNT, .d_un.d_val = 0};
  *dyn(3) = (Elf64_Dyn){.d_tag = DT_NULL};
}

static cis_result plan_of(size_t n, uint64_t len, uint64_t limit, cis__aot_elf_plan *p, int *map) {
  return cis__aot_elf_read(img, n, len, PAGE, limit, p, map);
}

static cis_result plan_rc(void) {
  cis__aot_elf_plan p;
  int map;
  return plan_of(LEN, LEN, LEN, &p, &map);
}

static cis_result dyn_rc(void) {
  cis__aot_elf_plan p;
  int map;
  assert_int_equal(plan_of(LEN, LEN, LEN, &p, &map), CIS_OK);
  return cis__aot_elf_dynamic(img + p.dyn_off, (size_t)p.dyn_size);
}

/* A writable segment that is the dynamic table and nothing more (as the
 * linker lays out cis's objects: .dynamic alone after the code) is left
 * out of the plan: one segment, one page, mapped by one mmap. One that
 * holds more than the table (build()'s) stays. */
static void elf_dynamic_table_alone_is_not_mapped(void **state) {
  (void)state;
  build();
  ph(1)->p_filesz = ph(1)->p_memsz = ph(2)->p_filesz;
  cis__aot_elf_plan p;
  int map = 0;
  assert_int_equal(plan_of(LEN, LEN, LEN, &p, &map), CIS_OK);
  assert_int_equal(p.nseg, 1);
  assert_int_equal(p.seg[0].prot, PROT_READ | PROT_EXEC);
  assert_int_equal(p.span, PAGE);
  assert_int_equal(p.dyn_off, PAGE + 0x100);
  assert_int_equal(cis__aot_elf_dynamic(img + p.dyn_off, (size_t)p.dyn_size), CIS_OK);
  /* Read-only, or at another offset: a segment to map. */
  ph(1)->p_flags = PF_R;
  assert_int_equal(plan_of(LEN, LEN, LEN, &p, &map), CIS_OK);
  assert_int_equal(p.nseg, 2);
  ph(1)->p_flags = PF_R | PF_W;
  ph(1)->p_offset += 0x40;
  ph(1)->p_vaddr += 0x40;
  assert_int_equal(plan_of(LEN, LEN, LEN, &p, &map), CIS_OK);
  assert_int_equal(p.nseg, 2);
}

static void elf_well_formed_object_is_planned(void **state) {
  (void)state;
  build();
  cis__aot_elf_plan p;
  int map = 0;
  assert_int_equal(plan_of(LEN, LEN, LEN, &p, &map), CIS_OK);
  assert_true(map);
  assert_int_equal(p.nseg, 2);
  assert_int_equal(p.seg[0].prot, PROT_READ | PROT_EXEC);
  assert_int_equal(p.seg[1].prot, PROT_READ | PROT_WRITE);
  assert_int_equal(p.span, 3 * PAGE);
  assert_int_equal(p.entry, 0x400);
  assert_int_equal(p.dyn_off, PAGE + 0x100);
  assert_int_equal(cis__aot_elf_dynamic(img + p.dyn_off, (size_t)p.dyn_size), CIS_OK);
  /* Code whose last page would reach the module's bytes: not mapped from
   * the file (copied instead). */
  assert_int_equal(plan_of(LEN, LEN, 0x900, &p, &map), CIS_OK);
  assert_false(map);
}

static void elf_truncated_object_is_malformed(void **state) {
  (void)state;
  build();
  cis__aot_elf_plan p;
  int map;
  assert_int_equal(plan_of(10, 10, 10, &p, &map), CIS_EMALFORMED);            /* no header */
  assert_int_equal(plan_of(LEN, 100, 100, &p, &map), CIS_EMALFORMED);         /* headers cut */
  assert_int_equal(plan_of(LEN, PAGE, PAGE, &p, &map), CIS_EMALFORMED);       /* data segment cut */
  assert_int_equal(plan_of(100, LEN, LEN, &p, &map), CIS_EUNSUPPORTED); /* headers not read */
}

static void elf_other_class_order_or_machine_is_malformed(void **state) {
  (void)state;
  build();
  eh()->e_ident[EI_CLASS] = ELFCLASS32;
  assert_int_equal(plan_rc(), CIS_EMALFORMED);
  build();
  eh()->e_ident[EI_DATA] = ELFDATA2MSB;
  assert_int_equal(plan_rc(), CIS_EMALFORMED);
  build();
  eh()->e_machine = EM_RISCV;
  assert_int_equal(plan_rc(), CIS_EMALFORMED);
  build();
  eh()->e_type = ET_EXEC;
  assert_int_equal(plan_rc(), CIS_EMALFORMED);
  build();
  img[1] = 'X';
  assert_int_equal(plan_rc(), CIS_EMALFORMED);
  build();
  eh()->e_phentsize = 32;
  assert_int_equal(plan_rc(), CIS_EMALFORMED);
}

static void elf_segment_out_of_the_object_is_malformed(void **state) {
  (void)state;
  build();
  ph(1)->p_offset = LEN - 0x80; /* 0x100 bytes from 0x80 before the end */
  ph(1)->p_vaddr = 2 * PAGE + (LEN - 0x80) % PAGE;
  assert_int_equal(plan_rc(), CIS_EMALFORMED);
  build();
  ph(1)->p_offset = UINT64_MAX - 0x10; /* wraps */
  assert_int_equal(plan_rc(), CIS_EMALFORMED);
  build();
  ph(1)->p_vaddr = UINT64_MAX - 0x10; /* address wraps */
  ph(1)->p_offset = (UINT64_MAX - 0x10) % PAGE;
  assert_int_equal(plan_rc(), CIS_EMALFORMED);
  build();
  ph(1)->p_vaddr = 1ull << 40; /* a span far beyond the object */
  ph(1)->p_offset = 0;
  assert_int_equal(plan_rc(), CIS_EMALFORMED);
  build();
  ph(2)->p_filesz = LEN; /* the dynamic table past the end */
  assert_int_equal(plan_rc(), CIS_EMALFORMED);
  build();
  eh()->e_phoff = LEN - 8;
  assert_int_equal(plan_rc(), CIS_EMALFORMED);
}

static void elf_overlapping_or_unsorted_segments_are_refused(void **state) {
  (void)state;
  build();
  ph(1)->p_vaddr = 0x100; /* inside the first */
  ph(1)->p_offset = 0x100;
  assert_int_equal(plan_rc(), CIS_EMALFORMED);
  build();
  ph(1)->p_vaddr = 0x900; /* after it, but in its last page: one protection per page */
  ph(1)->p_offset = 0x900;
  assert_int_equal(plan_rc(), CIS_EUNSUPPORTED);
  build();
  ph(0)->p_vaddr = PAGE; /* the first segment not at the base: not cis's */
  ph(0)->p_offset = 0;
  assert_int_equal(plan_rc(), CIS_EUNSUPPORTED);
  build();
  ph(1)->p_offset = PAGE + 0x180; /* not congruent to its address */
  assert_int_equal(plan_rc(), CIS_EMALFORMED);
}

static void elf_writable_code_or_entry_outside_code_is_malformed(void **state) {
  (void)state;
  build();
  ph(0)->p_flags = PF_R | PF_W | PF_X;
  assert_int_equal(plan_rc(), CIS_EMALFORMED);
  build();
  eh()->e_entry = 2 * PAGE + 0x100; /* in the data */
  assert_int_equal(plan_rc(), CIS_EMALFORMED);
  build();
  eh()->e_entry = 0x900; /* past the code */
  assert_int_equal(plan_rc(), CIS_EMALFORMED);
  build();
  eh()->e_entry = 0; /* the header: an object of ABI 2 had no entry point */
  assert_int_equal(plan_rc(), CIS_EMALFORMED);
  build();
  eh()->e_entry = sizeof(Elf64_Ehdr) + 8; /* the program headers */
  assert_int_equal(plan_rc(), CIS_EMALFORMED);
}

static void elf_what_the_system_loader_must_do_goes_to_it(void **state) {
  (void)state;
  build();
  ph(1)->p_memsz = 0x1000; /* a .bss */
  assert_int_equal(plan_rc(), CIS_EUNSUPPORTED);
  build();
  ph(2)->p_type = PT_TLS;
  assert_int_equal(plan_rc(), CIS_EUNSUPPORTED);
  build();
  ph(2)->p_type = PT_INTERP;
  assert_int_equal(plan_rc(), CIS_EUNSUPPORTED);
  const Elf64_Sxword tags[] = {DT_NEEDED, DT_RELA, DT_JMPREL, DT_INIT, DT_INIT_ARRAY, DT_FINI,
                               DT_TEXTREL, DT_REL, DT_RELR, DT_PREINIT_ARRAY};
  for (size_t i = 0; i < sizeof tags / sizeof *tags; i++) {
    build();
    dyn(0)->d_tag = tags[i];
    assert_int_equal(dyn_rc(), CIS_EUNSUPPORTED);
  }
  build();
  dyn(2)->d_un.d_val = 5; /* RELACOUNT 5: relocations to apply */
  assert_int_equal(dyn_rc(), CIS_EUNSUPPORTED);
  build();
  dyn(2)->d_tag = DT_RELASZ;
  dyn(2)->d_un.d_val = 24;
  assert_int_equal(dyn_rc(), CIS_EUNSUPPORTED);
}

static void elf_dynamic_table_without_end_is_malformed(void **state) {
  (void)state;
  build();
  dyn(3)->d_tag = DT_SYMTAB;
  assert_int_equal(dyn_rc(), CIS_EMALFORMED);
  assert_int_equal(cis__aot_elf_dynamic(img, 0), CIS_EMALFORMED);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(elf_well_formed_object_is_planned),
      cmocka_unit_test(elf_dynamic_table_alone_is_not_mapped),
      cmocka_unit_test(elf_truncated_object_is_malformed),
      cmocka_unit_test(elf_other_class_order_or_machine_is_malformed),
      cmocka_unit_test(elf_segment_out_of_the_object_is_malformed),
      cmocka_unit_test(elf_overlapping_or_unsorted_segments_are_refused),
      cmocka_unit_test(elf_writable_code_or_entry_outside_code_is_malformed),
      cmocka_unit_test(elf_what_the_system_loader_must_do_goes_to_it),
      cmocka_unit_test(elf_dynamic_table_without_end_is_malformed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
