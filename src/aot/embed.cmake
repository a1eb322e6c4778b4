# Writes OUT: a C file defining cis__aot_prelude_text, the text of IN1 and
# IN2 (aot_rt.h and aot_prelude.h), then of IN3 and IN4 (the
# interpreter's SIMD lane functions src/interp/simd.h and
# aot_prelude_simd.h), as one NUL-terminated string, for codegen.c to
# paste at the top of each generated translation unit; and
# cis__aot_prelude_simd_at, where the SIMD part starts: a module without
# v128 gets only the text before it. The lane functions are pasted, not
# rewritten, so both engines run one text.
file(READ ${IN1} A HEX)
file(READ ${IN2} B HEX)
file(READ ${IN3} C HEX)
file(READ ${IN4} D HEX)
# Its identity for the cache key, computed here so that no process hashes
# the whole text at start-up (SHA-256 of the text's hex digits).
string(SHA256 SUM "${A}${B}${C}${D}")
string(LENGTH "${A}${B}" AT)
math(EXPR AT "${AT} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," A "${A}${B}${C}${D}")
file(WRITE ${OUT} "/* Generated from aot_rt.h, aot_prelude.h, interp/simd.h and aot_prelude_simd.h by embed.cmake. */\n"
     "const char cis__aot_prelude_text[] = {${A}0};\n"
     "const unsigned long cis__aot_prelude_simd_at = ${AT}ul;\n"
     "const char cis__aot_prelude_sha256[] = \"${SUM}\";\n")
