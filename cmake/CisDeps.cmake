# The system libraries libcis needs, found once with pkg-config as GLOBAL
# imported targets PkgConfig::CIS_<NAME>, so that every area library, the
# combined libcis and (through cisConfig.cmake) an installed package use
# the same names. CIS_PC_REQUIRES lists their pkg-config modules for cis.pc.
#
# libpq, libcurl, libcrypto and libsodium are not linked: the services that use them load them
# on first use (src/common/dynlib.h), so a run that needs neither does not
# pay for their dozens of dependencies (libcrypto alone was more than
# half of what was left of a pure `cis run`'s start-up). Only their headers are used at
# build time, with the soname of the library found here, read from the
# library itself, and the Debian package that holds it (for the message
# when it is missing).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

pkg_check_modules(CIS_SQLITE3 REQUIRED IMPORTED_TARGET GLOBAL sqlite3)
pkg_check_modules(CIS_PQ REQUIRED IMPORTED_TARGET GLOBAL libpq)
pkg_check_modules(CIS_CURL REQUIRED IMPORTED_TARGET GLOBAL libcurl)
pkg_check_modules(CIS_CRYPTO REQUIRED IMPORTED_TARGET GLOBAL libcrypto)
pkg_check_modules(CIS_SODIUM REQUIRED IMPORTED_TARGET GLOBAL libsodium)
pkg_check_modules(CIS_CJSON REQUIRED IMPORTED_TARGET GLOBAL libcjson)
# xxHash is compiled in from its header (XXH_INLINE_ALL): a build needs
# libxxhash-dev, a program linked with libcis needs nothing more.
pkg_check_modules(CIS_XXHASH REQUIRED libxxhash)
set(CIS_PC_REQUIRES "sqlite3 libcjson")
set(CIS_DEP_TARGETS PkgConfig::CIS_SQLITE3 PkgConfig::CIS_CJSON)

# cis_dynlib_soname(PREFIX NAME FALLBACK_PACKAGE): sets CIS_<NAME>_SONAME to
# the SONAME of the library pkg-config found for PREFIX (objdump -p), and
# CIS_<NAME>_PACKAGE to the Debian package that ships that file (dpkg-query),
# or FALLBACK_PACKAGE where dpkg knows nothing of it.
function(cis_dynlib_soname prefix name fallback_package)
  set(lib "")
  foreach(l IN LISTS ${prefix}_LINK_LIBRARIES)
    if(l MATCHES "/lib${name}[.]so$")
      set(lib "${l}")
    endif()
  endforeach()
  if(NOT lib)
    list(GET ${prefix}_LINK_LIBRARIES 0 lib)
  endif()
  if(NOT CMAKE_OBJDUMP)
    find_program(CMAKE_OBJDUMP objdump)
  endif()
  execute_process(COMMAND ${CMAKE_OBJDUMP} -p ${lib} OUTPUT_VARIABLE dump
                  RESULT_VARIABLE res ERROR_QUIET)
  if(NOT res EQUAL 0 OR NOT dump MATCHES "SONAME +([^ \n]+)")
    message(FATAL_ERROR "cannot read the soname of ${lib} (${prefix}) with objdump -p")
  endif()
  set(soname "${CMAKE_MATCH_1}")
  get_filename_component(dir "${lib}" DIRECTORY)
  get_filename_component(real "${dir}/${soname}" REALPATH)
  set(package "${fallback_package}")
  find_program(CIS_DPKG_QUERY dpkg-query)
  if(CIS_DPKG_QUERY)
    foreach(path "${dir}/${soname}" "${real}")
      execute_process(COMMAND ${CIS_DPKG_QUERY} -S "${path}" OUTPUT_VARIABLE owner
                      RESULT_VARIABLE res ERROR_QUIET)
      if(res EQUAL 0 AND owner MATCHES "^([^:,]+)")
        set(package "${CMAKE_MATCH_1}")
        break()
      endif()
    endforeach()
  endif()
  string(TOUPPER "${name}" up)
  set(CIS_${up}_SONAME "${soname}" PARENT_SCOPE)
  set(CIS_${up}_PACKAGE "${package}" PARENT_SCOPE)
  message(STATUS "lib${name}: loaded on first use as ${soname} (package ${package})")
endfunction()
cis_dynlib_soname(CIS_PQ pq libpq5)
cis_dynlib_soname(CIS_CURL curl libcurl4)
cis_dynlib_soname(CIS_CRYPTO crypto libssl3)
cis_dynlib_soname(CIS_SODIUM sodium libsodium23)

# Header-only targets for those loaded on demand: their include paths
# and flags, no library.
add_library(cis_pq_headers INTERFACE)
target_include_directories(cis_pq_headers INTERFACE ${CIS_PQ_INCLUDE_DIRS})
target_compile_definitions(cis_pq_headers INTERFACE CIS_PQ_SONAME="${CIS_PQ_SONAME}"
                           CIS_PQ_PACKAGE="${CIS_PQ_PACKAGE}")
add_library(cis_curl_headers INTERFACE)
target_include_directories(cis_curl_headers INTERFACE ${CIS_CURL_INCLUDE_DIRS})
target_compile_definitions(cis_curl_headers INTERFACE CIS_CURL_SONAME="${CIS_CURL_SONAME}"
                           CIS_CURL_PACKAGE="${CIS_CURL_PACKAGE}")
add_library(cis_crypto_headers INTERFACE)
target_include_directories(cis_crypto_headers INTERFACE ${CIS_CRYPTO_INCLUDE_DIRS})
target_compile_definitions(cis_crypto_headers INTERFACE CIS_CRYPTO_SONAME="${CIS_CRYPTO_SONAME}"
                           CIS_CRYPTO_PACKAGE="${CIS_CRYPTO_PACKAGE}")
add_library(cis_sodium_headers INTERFACE)
target_include_directories(cis_sodium_headers INTERFACE ${CIS_SODIUM_INCLUDE_DIRS})
target_compile_definitions(cis_sodium_headers INTERFACE CIS_SODIUM_SONAME="${CIS_SODIUM_SONAME}"
                           CIS_SODIUM_PACKAGE="${CIS_SODIUM_PACKAGE}")

# Libraries of the C runtime that libcis.a needs besides those modules
# (dl: dlopen of libpq, libcurl, libcrypto and libsodium).
set(CIS_SYSTEM_LIBS Threads::Threads m dl)
set(CIS_PC_LIBS_PRIVATE "-pthread -lm -ldl")

# An ASan/UBSan libcis needs its consumer linked with the same runtimes.
set(CIS_SANITIZE_LINK_FLAGS "")
if(CIS_SANITIZE OR CIS_FUZZ)
  set(CIS_SANITIZE_LINK_FLAGS -fsanitize=address,undefined)
endif()
