# This file sets the test suite's default engine: included by ctest
# (TEST_INCLUDE_FILES of the top folder) before any test runs, it makes
# CIS_ENGINE=interp the environment of every test unless the runner chose
# an engine (scripts/test.sh's compiled pass runs CIS_ENGINE=aot ctest).
# The library's default is auto, under which every test process loading a
# module not yet compiled would start a C compiler in the background; the
# tests of the engines themselves (tests/aot) name the engine they test.
if(NOT DEFINED ENV{CIS_ENGINE} OR "$ENV{CIS_ENGINE}" STREQUAL "")
  set(ENV{CIS_ENGINE} interp)
endif()
