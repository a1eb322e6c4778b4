#!/usr/bin/env python3
"""gen.py -- writes the C program of the large-module benchmark.

This file implements the generator behind bench/bigmodule.sh: it writes a C
program of thousands of varied, non-trivial functions (loops, switch
tables, calls between them, float and 64-bit math, memory traffic), split
over several files so that they compile in parallel. Its main prints a
version string for `-V` and otherwise calls every function once, through a
table, and prints a checksum, so a native build and a wasm build can be
compared. Output is a function of the arguments only (seeded), so two runs
write the same program.

  gen.py OUTDIR NFUNCS NFILES [SEED]
"""
import os
import random
import sys

U32 = "uint32_t"


def rnd32(r):
    return r.getrandbits(32) | 1


def int_case(r, v):
    """One statement of integer work on variable v."""
    k = rnd32(r)
    s = r.randint(1, 31)
    return r.choice([
        f"{v} = {v} * 0x{k:08x}u + {r.getrandbits(16)}u;",
        f"{v} ^= {v} >> {s};",
        f"{v} = ({v} << {s}) | ({v} >> {32 - s});",
        f"{v} += (uint32_t)(((uint64_t){v} * 0x{k:08x}u) >> 32);",
        f"{v} = {v} / {r.randint(3, 97)}u + {v} % {r.randint(3, 97)}u;",
        f"{v} -= g_mem[({v} >> {s % 8}) & MASK];",
        f"g_mem[{v} & MASK] ^= {v} + 0x{k:08x}u;",
        f"{v} = ({v} & 0x{k:08x}u) ? {v} + {r.randint(1, 999)}u : {v} ^ 0x{rnd32(r):08x}u;",
    ])


def func_int(r, i, callees):
    n = r.randint(6, 20)
    lines = [f"NOINLINE uint32_t f{i}(uint32_t a, uint32_t b) {{",
             f"  uint32_t s = a ^ 0x{rnd32(r):08x}u, t = b + {r.randint(1, 1000)}u;",
             f"  for (uint32_t i = 0; i < (b & 7u) + {r.randint(2, 9)}u; i++) {{",
             f"    switch ((s + i) % {n}u) {{"]
    for c in range(n):
        lines.append(f"    case {c}: " + " ".join(int_case(r, r.choice("st")) for _ in range(r.randint(1, 4))) + " break;")
    lines += ["    }", "    t += s;", "  }"]
    lines += calls(r, callees)
    lines += ["  return s ^ t;", "}"]
    return lines


def func_f64(r, i, callees):
    lines = [f"NOINLINE uint32_t f{i}(uint32_t a, uint32_t b) {{",
             f"  double x = (double)(a & 0xffff) * {r.uniform(0.001, 2.0):.6f}, y = (double)b * 1e-6 + {r.uniform(0.5, 3.0):.6f};",
             f"  for (int i = 0; i < {r.randint(3, 12)} + (int)(a & 3u); i++) {{"]
    for _ in range(r.randint(4, 12)):
        lines.append("    " + r.choice([
            f"x = x * {r.uniform(0.5, 1.5):.6f} + y;",
            f"y = y - x * {r.uniform(0.001, 0.1):.6f};",
            "x = __builtin_sqrt(x * x + 1.0);",
            f"if (x > {r.uniform(10, 1000):.3f}) x = x / {r.uniform(2, 9):.3f};",
            f"y = (y < 0 ? -y : y) + {r.uniform(0, 1):.6f};",
            f"g_dbl[(uint32_t)(i + {r.randint(0, 255)}) & DMASK] += x * y;",
            "x = __builtin_floor(x) + (x - __builtin_floor(x)) * 0.5;",
        ]))
    lines.append("  }")
    lines.append("  uint32_t s = (uint32_t)(int64_t)(x * 1000.0) ^ (uint32_t)(int64_t)(y * 1000.0);")
    lines += calls(r, callees)
    lines += ["  return s;", "}"]
    return lines


def func_i64(r, i, callees):
    lines = [f"NOINLINE uint32_t f{i}(uint32_t a, uint32_t b) {{",
             f"  uint64_t h = ((uint64_t)a << 32 | b) ^ 0x{r.getrandbits(64):016x}ull;",
             f"  for (uint32_t i = 0; i < {r.randint(4, 16)}u; i++) {{"]
    for _ in range(r.randint(4, 14)):
        k = r.getrandbits(64) | 1
        s = r.randint(1, 63)
        lines.append("    " + r.choice([
            f"h *= 0x{k:016x}ull;",
            f"h ^= h >> {s};",
            f"h = (h << {s}) | (h >> {64 - s});",
            f"h += g_u64[(h >> {s}) & QMASK];",
            f"g_u64[(h + i) & QMASK] = h;",
            f"h = h / {r.randint(3, 1000)}ull + h % {r.randint(3, 1000)}ull;",
            f"h = (int64_t)h < 0 ? ~h : h + 0x{k:016x}ull;",
        ]))
    lines.append("  }")
    lines.append("  uint32_t s = (uint32_t)(h ^ (h >> 32));")
    lines += calls(r, callees)
    lines += ["  return s;", "}"]
    return lines


def func_mem(r, i, callees):
    w = r.choice([8, 16, 32])
    lines = [f"NOINLINE uint32_t f{i}(uint32_t a, uint32_t b) {{",
             f"  uint{w}_t *p = (uint{w}_t *)g_mem + (a & 255u);",
             "  uint32_t s = b;",
             f"  for (uint32_t i = 0; i < {r.randint(16, 64)}u; i++) {{",
             f"    p[i] = (uint{w}_t)(p[i + {r.randint(1, 9)}] + s);",
             f"    s = s * 33u + p[(i * {r.randint(3, 17)}u) & 255u];"]
    for _ in range(r.randint(1, 5)):
        lines.append("    " + int_case(r, "s"))
    lines.append("  }")
    lines.append(f"  struct rec *q = &g_rec[(s ^ a) & RMASK];")
    lines.append(f"  q->x += s; q->y = q->y * {r.uniform(0.9, 1.1):.4f} + 1.0; q->z ^= (uint64_t)s << {r.randint(0, 31)};")
    lines.append("  s += q->x + (uint32_t)q->z;")
    lines += calls(r, callees)
    lines += ["  return s;", "}"]
    return lines


def calls(r, callees):
    """Rare calls to earlier functions: each taken for 1 input in 64, so a
    run stays bounded however the calls chain."""
    out = []
    for c in callees:
        out.append(f"  if (((a >> {r.randint(0, 20)}) & 63u) == {r.randint(0, 63)}u) s += f{c}(s, a);")
    return out


HEADER = """/* Generated by bench/bigmodule/gen.py; do not edit. */
#include <stdint.h>
#define NOINLINE __attribute__((noinline))
#define MASK 4095u
#define DMASK 1023u
#define QMASK 511u
#define RMASK 255u
struct rec { uint32_t x; double y; uint64_t z; };
extern uint32_t g_mem[MASK + 16];
extern double g_dbl[DMASK + 1];
extern uint64_t g_u64[QMASK + 1];
extern struct rec g_rec[RMASK + 1];
"""


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: gen.py OUTDIR NFUNCS NFILES [SEED]")
    out, nfuncs, nfiles = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    r = random.Random(seed)
    os.makedirs(out, exist_ok=True)
    kinds = [func_int, func_int, func_f64, func_i64, func_mem]
    per = (nfuncs + nfiles - 1) // nfiles
    for fi in range(nfiles):
        lo, hi = fi * per, min(nfuncs, (fi + 1) * per)
        with open(os.path.join(out, f"part{fi}.c"), "w") as f:
            f.write(HEADER)
            decl = set()
            body = []
            for i in range(lo, hi):
                callees = [r.randrange(i) for _ in range(r.randint(0, 3))] if i else []
                for c in callees:
                    if c < lo:
                        decl.add(c)
                body += r.choice(kinds)(r, i, callees)
            for c in sorted(decl):
                f.write(f"uint32_t f{c}(uint32_t, uint32_t);\n")
            f.write("\n".join(body) + "\n")
    with open(os.path.join(out, "main.c"), "w") as f:
        f.write(HEADER)
        f.write("#include <stdio.h>\n#include <string.h>\n")
        f.write("uint32_t g_mem[MASK + 16];\ndouble g_dbl[DMASK + 1];\n")
        f.write("uint64_t g_u64[QMASK + 1];\nstruct rec g_rec[RMASK + 1];\n")
        for i in range(nfuncs):
            f.write(f"uint32_t f{i}(uint32_t, uint32_t);\n")
        f.write("static uint32_t (*const table[])(uint32_t, uint32_t) = {\n")
        f.write(",\n".join(f"  f{i}" for i in range(nfuncs)) + "\n};\n")
        f.write(f"""
int main(int argc, char **argv) {{
  if (argc > 1 && strcmp(argv[1], "-V") == 0) {{
    printf("bigmodule 1.0 ({nfuncs} functions, seed {seed})\\n");
    return 0;
  }}
  uint32_t s = 1;
  for (uint32_t i = 0; i < {nfuncs}u; i++) s = s * 31u + table[i](s ^ i, i);
  printf("%u\\n", (unsigned)s);
  return 0;
}}
""")


if __name__ == "__main__":
    main()
