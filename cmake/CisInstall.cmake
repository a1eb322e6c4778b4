# Install rules: the public headers (include/cis/*.h and errors.def),
# libcis.a and libcis.so (with its soname links), the cis program, cis.pc
# and cis-static.pc for pkg-config and the CMake package (find_package(cis) gives cis::cis,
# the shared library, and cis::cis_static) and the guest SDKs, under the
# GNUInstallDirs paths.
include(CMakePackageConfigHelpers)

set(CIS_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/cis)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/cis DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h" PATTERN "*.def")
install(TARGETS cis cis_shared EXPORT cisTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(TARGET cis_cli)
  install(TARGETS cis_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

install(EXPORT cisTargets NAMESPACE cis:: DESTINATION ${CIS_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/cisConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cisConfig.cmake INSTALL_DESTINATION ${CIS_CMAKE_DIR})
# 0.x: a minor release may break the API, so only the same minor matches.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cisConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cisConfig.cmake ${PROJECT_BINARY_DIR}/cisConfigVersion.cmake
        DESTINATION ${CIS_CMAKE_DIR})

# cis.pc finds its prefix from its own place (${pcfiledir}), so one file
# serves `cmake --install --prefix` anywhere.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(CIS_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(CIS_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  file(RELATIVE_PATH rel /cis-root/${CMAKE_INSTALL_LIBDIR}/pkgconfig /cis-root)
  string(REGEX REPLACE "/$" "" rel "${rel}")
  set(CIS_PC_PREFIX "\${pcfiledir}/${rel}")
  set(CIS_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(CIS_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(CIS_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
string(REPLACE ";" " " CIS_PC_SANITIZE "${CIS_SANITIZE_LINK_FLAGS}")
# cis.pc is libcis.so (its private fields serve `pkg-config --static`, a
# link where every library is static); cis-static.pc is libcis.a over the
# shared system libraries, the usual static link on a distribution, where
# `--static` would also ask for the static forms of libpq's own
# dependencies.
configure_file(${PROJECT_SOURCE_DIR}/cmake/cis.pc.in ${PROJECT_BINARY_DIR}/cis.pc @ONLY)
configure_file(${PROJECT_SOURCE_DIR}/cmake/cis-static.pc.in ${PROJECT_BINARY_DIR}/cis-static.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/cis.pc ${PROJECT_BINARY_DIR}/cis-static.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The guest SDKs, under DATADIR/cis/sdk (e.g. /usr/share/cis/sdk/c), where
# `cis skill init` finds them from the installed program's own folder:
# the C header, the Rust crate cis-skill, the AssemblyScript package (its
# sources and package.json; `npm ci` there installs asc) and the Python
# package. Nothing a build leaves in the source tree, nor the CMake helpers
# this tree builds its examples with.
set(CIS_SDK_INSTALL_DIR ${CMAKE_INSTALL_DATADIR}/cis/sdk)
install(FILES ${PROJECT_SOURCE_DIR}/sdk/c/cis_skill.h DESTINATION ${CIS_SDK_INSTALL_DIR}/c)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/sdk/rust/ DESTINATION ${CIS_SDK_INSTALL_DIR}/rust
        PATTERN .gitignore EXCLUDE PATTERN target EXCLUDE PATTERN "*.cmake" EXCLUDE)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/sdk/assemblyscript/ DESTINATION ${CIS_SDK_INSTALL_DIR}/assemblyscript
        PATTERN .gitignore EXCLUDE PATTERN node_modules EXCLUDE PATTERN "*.cmake" EXCLUDE)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/sdk/python/ DESTINATION ${CIS_SDK_INSTALL_DIR}/python
        PATTERN .gitignore EXCLUDE PATTERN __pycache__ EXCLUDE PATTERN .pytest_cache EXCLUDE
        PATTERN build EXCLUDE PATTERN "*.egg-info" EXCLUDE PATTERN "libcis.so*" EXCLUDE
        PATTERN tests EXCLUDE)
