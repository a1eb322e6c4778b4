# Building cis skills written in AssemblyScript (sdk/assemblyscript) from
# CMake.
#
# The compiler is the npm package pinned by sdk/assemblyscript/package.json
# and package-lock.json. The target cis_asc installs it with `npm ci` into
# the build tree (build/sdk/assemblyscript/node_modules), never into the
# source tree. CIS_ASSEMBLYSCRIPT (ON by default when node and npm are
# found) turns the AssemblyScript examples and their tests on or off;
# CIS_AS_READY tells whether they are built.
#
#   cis_as_skill(TARGET name SOURCE file.ts OUTPUT file.wasm [FLAGS ...])
# compiles an entry file exporting cis_main with asc: the stub runtime,
# optimised, with the SDK's abort handler (no env.abort import).
#
# Include it from every folder that builds AssemblyScript skills: the
# settings are ordinary variables of the including folder
# (include_guard(DIRECTORY)); the npm ci target is made once.
include_guard(DIRECTORY)

find_program(CIS_NODE NAMES node nodejs)
find_program(CIS_NPM NAMES npm)
if(CIS_NODE AND CIS_NPM)
  set(_cis_as_default ON)
else()
  set(_cis_as_default OFF)
endif()
option(CIS_ASSEMBLYSCRIPT "Build the AssemblyScript skill examples (installs asc with npm ci)"
       ${_cis_as_default})
set(CIS_AS_READY FALSE)
if(CIS_ASSEMBLYSCRIPT AND CIS_NODE AND CIS_NPM)
  set(CIS_AS_READY TRUE)
else()
  get_property(_cis_said GLOBAL PROPERTY CIS_AS_SAID)
  if(CIS_ASSEMBLYSCRIPT AND NOT _cis_said)
    set_property(GLOBAL PROPERTY CIS_AS_SAID TRUE)
    message(STATUS "AssemblyScript skills: node or npm not found (scripts/install-deps.sh); not built")
  endif()
endif()

set(CIS_AS_SDK ${PROJECT_SOURCE_DIR}/sdk/assemblyscript)
set(CIS_AS_PREFIX ${PROJECT_BINARY_DIR}/sdk/assemblyscript)
set(CIS_ASC ${CIS_AS_PREFIX}/node_modules/assemblyscript/bin/asc.js)

if(CIS_AS_READY AND NOT TARGET cis_asc)
  add_custom_command(OUTPUT ${CIS_AS_PREFIX}/installed.stamp
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CIS_AS_PREFIX}
    COMMAND ${CMAKE_COMMAND} -E copy ${CIS_AS_SDK}/package.json ${CIS_AS_SDK}/package-lock.json ${CIS_AS_PREFIX}
    COMMAND ${CIS_NPM} ci --prefix ${CIS_AS_PREFIX} --ignore-scripts --no-audit --no-fund --loglevel=error
    COMMAND ${CMAKE_COMMAND} -E touch ${CIS_AS_PREFIX}/installed.stamp
    DEPENDS ${CIS_AS_SDK}/package.json ${CIS_AS_SDK}/package-lock.json
    COMMENT "npm ci: the AssemblyScript compiler" VERBATIM)
  add_custom_target(cis_asc DEPENDS ${CIS_AS_PREFIX}/installed.stamp)
endif()

function(cis_as_skill)
  cmake_parse_arguments(A "" "TARGET;SOURCE;OUTPUT" "FLAGS" ${ARGN})
  file(GLOB sdk_srcs CONFIGURE_DEPENDS ${CIS_AS_SDK}/assembly/*.ts)
  # asc names files by their path from its base folder, the source root.
  file(RELATIVE_PATH src ${PROJECT_SOURCE_DIR} ${A_SOURCE})
  add_custom_command(OUTPUT ${A_OUTPUT}
    COMMAND ${CIS_NODE} ${CIS_ASC} ${src} --runtime stub -O3 --noAssert
            --use abort=sdk/assemblyscript/assembly/index/cisAbort ${A_FLAGS} -o ${A_OUTPUT}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    DEPENDS ${A_SOURCE} ${sdk_srcs} ${CIS_AS_PREFIX}/installed.stamp
    COMMENT "asc: building ${A_OUTPUT}" VERBATIM)
  add_custom_target(${A_TARGET} ALL DEPENDS ${A_OUTPUT})
  add_dependencies(${A_TARGET} cis_asc)
endfunction()
