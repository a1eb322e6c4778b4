# Writes OUT: a C file defining cis__aot_prelude_text, the text of IN1
# then IN2 (aot_rt.h and aot_prelude.h) as one NUL-terminated string, for
# codegen.c to paste at the top of each generated translation unit.
file(READ ${IN1} A HEX)
file(READ ${IN2} B HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," A "${A}${B}")
file(WRITE ${OUT} "/* Generated from aot_rt.h and aot_prelude.h by embed.cmake. */\n"
     "const char cis__aot_prelude_text[] = {${A}0};\n")
