# Writes OUT: a C file defining cis__aot_prelude_text, the text of IN1 ..
# IN<N> as one NUL-terminated string, for codegen.c to paste at the top of
# each generated translation unit; cis__aot_prelude_mem_at, where the text
# of IN<MEM> (the memory part) starts, and cis__aot_prelude_simd_at, where
# the text of IN<SIMD> (the first file of the SIMD part) starts: a module
# gets the text before the memory part, then the memory part when it has
# several memories or a 64-bit one, then the SIMD part when it uses v128.
# The inputs are aot_rt.h, src/wasm/numeric.h and aot_prelude.h, then
# aot_prelude_mem.h, then src/wasm/simd.h and aot_prelude_simd.h
# (CMakeLists.txt). The shared numeric and lane functions are pasted, not
# rewritten, so both engines run one text.
set(ALL "")
set(AT 0)
set(MEM_AT 0)
foreach(I RANGE 1 ${N})
  if(I EQUAL MEM)
    string(LENGTH "${ALL}" MEM_AT)
    math(EXPR MEM_AT "${MEM_AT} / 2")
  endif()
  if(I EQUAL SIMD)
    string(LENGTH "${ALL}" AT)
    math(EXPR AT "${AT} / 2")
  endif()
  file(READ ${IN${I}} T HEX)
  string(APPEND ALL "${T}")
  get_filename_component(NAME ${IN${I}} NAME)
  list(APPEND NAMES ${NAME})
endforeach()
# Its identity for the cache key, computed here so that no process hashes
# the whole text at start-up (SHA-256 of the text's hex digits).
string(SHA256 SUM "${ALL}")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," A "${ALL}")
string(REPLACE ";" ", " NAMES "${NAMES}")
file(WRITE ${OUT} "/* Generated from ${NAMES} by embed.cmake. */\n"
     "const char cis__aot_prelude_text[] = {${A}0};\n"
     "const unsigned long cis__aot_prelude_mem_at = ${MEM_AT}ul;\n"
     "const unsigned long cis__aot_prelude_simd_at = ${AT}ul;\n"
     "const char cis__aot_prelude_sha256[] = \"${SUM}\";\n")
