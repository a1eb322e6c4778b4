# cis_wat(TARGET name FILES a.wat b.wat ... [FLAGS --enable-...])
# Compiles .wat fixtures to .wasm with wabt's wat2wasm at build time, into
# ${CMAKE_CURRENT_BINARY_DIR}/<basename>.wasm, under a custom target `name`.
find_program(WAT2WASM wat2wasm REQUIRED)

function(cis_wat)
  cmake_parse_arguments(W "" "TARGET" "FILES;FLAGS" ${ARGN})
  set(outs "")
  foreach(src IN LISTS W_FILES)
    get_filename_component(base ${src} NAME_WE)
    set(out ${CMAKE_CURRENT_BINARY_DIR}/${base}.wasm)
    add_custom_command(OUTPUT ${out}
      COMMAND ${WAT2WASM} ${W_FLAGS} ${CMAKE_CURRENT_SOURCE_DIR}/${src} -o ${out}
      DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${src} VERBATIM)
    list(APPEND outs ${out})
  endforeach()
  add_custom_target(${W_TARGET} ALL DEPENDS ${outs})
endfunction()
