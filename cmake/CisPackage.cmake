# The Debian package: `cpack -G DEB` in the build folder makes
# cis_VERSION_ARCH.deb of what `cmake --install` installs, under /usr. The
# cis program links libcis.a, so bin/cis needs no libcis.so; libcis loads
# libpq, libcurl, libcrypto, libsodium and libmicrohttpd by soname on first
# use and links sqlite3 and cJSON. The package depends on the Debian
# packages that ship the libraries this build found (dpkg-query -S, as
# cis_dynlib_soname does for the loaded ones), and recommends a C compiler
# for the compiled tier (CIS_ENGINE=aot runs cc).
set(CIS_DEB_MAINTAINER "cis maintainers <maintainers@cis.invalid>" CACHE STRING
    "The Maintainer field of the Debian package")

# Sonames and packages of the linked libraries and of libmicrohttpd (found
# in src/serve, whose variables stay there: its imported target is global).
cis_dynlib_soname(CIS_SQLITE3 sqlite3 libsqlite3-0)
cis_dynlib_soname(CIS_CJSON cjson libcjson1)
set(CIS_DEB_DEPENDS libc6 ${CIS_SQLITE3_PACKAGE} ${CIS_CJSON_PACKAGE} ${CIS_CRYPTO_PACKAGE}
    ${CIS_SODIUM_PACKAGE} ${CIS_CURL_PACKAGE} ${CIS_PQ_PACKAGE})
if(TARGET PkgConfig::CIS_MHD)
  get_target_property(CIS_MHD_LINK_LIBRARIES PkgConfig::CIS_MHD INTERFACE_LINK_LIBRARIES)
  cis_dynlib_soname(CIS_MHD microhttpd libmicrohttpd12)
  list(APPEND CIS_DEB_DEPENDS ${CIS_MICROHTTPD_PACKAGE})
endif()
list(REMOVE_DUPLICATES CIS_DEB_DEPENDS)
string(REPLACE ";" ", " CIS_DEB_DEPENDS "${CIS_DEB_DEPENDS}")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME cis)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "cis")
set(CPACK_PACKAGE_CONTACT "${CIS_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "sandboxed WebAssembly runtime for AI-agent skills")
set(CPACK_PACKAGE_DESCRIPTION
    "cis decodes, validates and runs untrusted WebAssembly skills under hard limits\n"
    "(deadline, memory, call depth, fuel), reaching the world only through host\n"
    "functions it grants. The package holds the cis program, libcis (shared and\n"
    "static, headers, pkg-config and CMake files) and the guest SDKs for C, Rust,\n"
    "AssemblyScript and Python under /usr/share/cis/sdk.")
string(REPLACE ";" "" CPACK_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CIS_DEB_MAINTAINER}")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${CIS_DEB_DEPENDS}")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "gcc | c-compiler")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Debug information stays in the build tree: the programs and libcis.so
# are stripped (libcis.a is not: CMake strips only what it links).
set(CPACK_STRIP_FILES ON)
include(CPack)
