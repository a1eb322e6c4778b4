# The system libraries libcis needs, found once with pkg-config as GLOBAL
# imported targets PkgConfig::CIS_<NAME>, so that every area library, the
# combined libcis and (through cisConfig.cmake) an installed package use
# the same names. CIS_PC_REQUIRES lists their pkg-config modules for cis.pc.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

pkg_check_modules(CIS_SQLITE3 REQUIRED IMPORTED_TARGET GLOBAL sqlite3)
pkg_check_modules(CIS_PQ REQUIRED IMPORTED_TARGET GLOBAL libpq)
pkg_check_modules(CIS_CURL REQUIRED IMPORTED_TARGET GLOBAL libcurl)
pkg_check_modules(CIS_CRYPTO REQUIRED IMPORTED_TARGET GLOBAL libcrypto)
pkg_check_modules(CIS_CJSON REQUIRED IMPORTED_TARGET GLOBAL libcjson)
set(CIS_PC_REQUIRES "sqlite3 libpq libcurl libcrypto libcjson")
set(CIS_DEP_TARGETS PkgConfig::CIS_SQLITE3 PkgConfig::CIS_PQ PkgConfig::CIS_CURL
    PkgConfig::CIS_CRYPTO PkgConfig::CIS_CJSON)

# Libraries of the C runtime that libcis.a needs besides those modules
# (libcrypto's static form needs dl).
set(CIS_SYSTEM_LIBS Threads::Threads m dl)
set(CIS_PC_LIBS_PRIVATE "-pthread -lm -ldl")

# An ASan/UBSan libcis needs its consumer linked with the same runtimes.
set(CIS_SANITIZE_LINK_FLAGS "")
if(CIS_SANITIZE OR CIS_FUZZ)
  set(CIS_SANITIZE_LINK_FLAGS -fsanitize=address,undefined)
endif()
