/*
 * This file implements a disassembler for the interpreter's internal code:
 * one line per instruction with its operands decoded by the layouts in
 * ops.def. It serves debugging and the tests that pin down what the
 * translator emits for a given body; the executor never uses it.
 */
#include <inttypes.h>

#include "interp/interp.h"

static const char *const op_names[] = {
#define OP(name, fmt) #name,
#include "interp/ops.def"
#undef OP
};

static const char *const op_fmts[] = {
#define OP(name, fmt) fmt,
#include "interp/ops.def"
#undef OP
};

/* Maps the handler word at code[at] back to its op number; -1 when none. */
static int op_of(const uint32_t *code, size_t at) {
  const void *const *h = cis__interp_handlers();
  uint64_t w = (uint64_t)code[at] | ((uint64_t)code[at + 1] << 32);
  for (int i = 0; i < CIS__IOP_COUNT; i++)
    if ((uint64_t)(uintptr_t)h[i] == w) return i;
  return -1;
}

const char *cis__interp_op_name(int op) {
  return op >= 0 && op < CIS__IOP_COUNT ? op_names[op] : "?";
}

int cis__interp_next(const uint32_t *code, size_t ncode, size_t at, int *op) {
  if (at + CIS__IHEAD > ncode) return -1;
  int o = op_of(code, at);
  *op = o;
  if (o < 0) return -1;
  size_t n = CIS__IHEAD;
  for (const char *f = op_fmts[o]; *f; f++) {
    if (*f == 'I' || *f == 'p') n += 2;
    else if (*f == 'V') n += 4;
    else if (*f == 'T') n += at + n < ncode ? 2 + (size_t)code[at + n] : 1;
    else n++;
  }
  return at + n <= ncode ? (int)n : -1;
}

void cis__interp_dump(const cis__ifunc *f, FILE *out) {
  const uint32_t *code = cis__interp_code(f);
  size_t end = f->ncode;
  fprintf(out, "function %u: %u params, %u init slots, %u slots, cost %u\n", f->index,
          f->nparams, f->ninit, f->nslots, f->cost);
  for (size_t at = 0; at < end;) {
    int op;
    int n = cis__interp_next(code, end, at, &op);
    if (n < 0) {
      fprintf(out, "%6zu  ??? %08" PRIx32 "\n", at, code[at]);
      return;
    }
    fprintf(out, "%6zu  %s", at, op_names[op]);
    const uint32_t *u = code + at + CIS__IHEAD;
    for (const char *fm = op_fmts[op]; *fm; fm++) {
      switch (*fm) {
      case 'I':
        fprintf(out, " #0x%" PRIx64, (uint64_t)u[0] | ((uint64_t)u[1] << 32));
        u += 2;
        break;
      case 'V':
        fprintf(out, " #%08" PRIx32 "%08" PRIx32 "%08" PRIx32 "%08" PRIx32, u[3], u[2], u[1], u[0]);
        u += 4;
        break;
      case 'p': u += 2; break; /* the callee again, as a pointer */
      case 'o':
        fprintf(out, " ->%zu", (size_t)(u - code) + (size_t)(int32_t)u[0]);
        u++;
        break;
      case 'T': {
        uint32_t cnt = u[0];
        fprintf(out, " [%u]", cnt);
        for (uint32_t k = 0; k <= cnt; k++)
          fprintf(out, " ->%zu", (size_t)(u + 1 + k - code) + (size_t)(int32_t)u[1 + k]);
        u += 2 + cnt;
        break;
      }
      case 'd': fprintf(out, " s%u <-", *u++); break;
      case 's': case 'a': fprintf(out, " s%u", *u++); break;
      case 'i': fprintf(out, " #%d", (int32_t)*u++); break;
      case 'c': fprintf(out, " cost=%u", *u++); break;
      default: fprintf(out, " %c%u", *fm, *u++); break;
      }
    }
    fputc('\n', out);
    at += (size_t)n;
  }
}
