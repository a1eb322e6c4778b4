# cis_wasm_c(TARGET name SOURCES a.c ... [WASI] [FLAGS ...] [OUTPUT file.wasm])
# Builds a WebAssembly module from C with clang at build time:
#   WASI      --target=wasm32-wasi against Debian's wasi-libc (a command
#             with _start); without it, freestanding --target=wasm32 with
#             -nostdlib and --no-entry (export what FLAGS say).
# The module lands in ${CMAKE_CURRENT_BINARY_DIR}/<name>.wasm unless OUTPUT
# is given. Used for WASI test programs, test skills and examples.
#
# A module depends on its sources, on every header of the C SDK (its
# include path) and on every header beside one of its sources, so that
# editing cis_skill.h or a local header rebuilds it.
find_program(CIS_CLANG NAMES clang clang-14)
if(NOT DEFINED CIS_SDK_C_DIR)
  set(CIS_SDK_C_DIR ${CMAKE_CURRENT_LIST_DIR}/../sdk/c)
endif()
get_filename_component(CIS_SDK_C_DIR ${CIS_SDK_C_DIR} ABSOLUTE)
set(CIS_WASI_SYSROOT /usr CACHE PATH "sysroot holding wasm32-wasi headers and libc")

function(cis_wasm_c)
  cmake_parse_arguments(W "WASI" "TARGET;OUTPUT" "SOURCES;FLAGS;DEPENDS" ${ARGN})
  if(NOT CIS_CLANG)
    message(FATAL_ERROR "clang is needed to build wasm test programs (scripts/install-deps.sh)")
  endif()
  if(W_OUTPUT)
    set(out ${W_OUTPUT})
  else()
    set(out ${CMAKE_CURRENT_BINARY_DIR}/${W_TARGET}.wasm)
  endif()
  set(srcs "")
  foreach(s IN LISTS W_SOURCES)
    if(IS_ABSOLUTE ${s})
      list(APPEND srcs ${s})
    else()
      list(APPEND srcs ${CMAKE_CURRENT_SOURCE_DIR}/${s})
    endif()
  endforeach()
  file(GLOB hdrs CONFIGURE_DEPENDS ${CIS_SDK_C_DIR}/*.h)
  foreach(s IN LISTS srcs)
    get_filename_component(d ${s} DIRECTORY)
    file(GLOB local_hdrs CONFIGURE_DEPENDS ${d}/*.h)
    list(APPEND hdrs ${local_hdrs})
  endforeach()
  list(REMOVE_DUPLICATES hdrs)
  if(W_WASI)
    set(tflags --target=wasm32-wasi --sysroot=${CIS_WASI_SYSROOT})
  else()
    set(tflags --target=wasm32 -nostdlib -Wl,--no-entry)
  endif()
  add_custom_command(OUTPUT ${out}
    COMMAND ${CIS_CLANG} ${tflags} -O2 -Wall -Wextra $<$<BOOL:${CIS_WERROR}>:-Werror>
            -I${CIS_SDK_C_DIR} ${W_FLAGS} ${srcs} -o ${out}
    DEPENDS ${srcs} ${hdrs} ${W_DEPENDS} VERBATIM)
  add_custom_target(${W_TARGET} ALL DEPENDS ${out})
endfunction()
