# Checks that a spec_runner built with --coverage counts what its children
# run: run_script runs only in the child process of each script, so gcov
# sees its lines executed only if the child wrote its counts before _exit.
#   cmake -DRUNNER=... -DSCRIPT=... -DOBJDIR=... -DGCOV=... -P check_child_coverage.cmake
file(GLOB old "${OBJDIR}/*.gcda")
if(old)
  file(REMOVE ${old})
endif()
execute_process(COMMAND ${RUNNER} ${SCRIPT} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                TIMEOUT 120)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "spec_runner failed (${rc}):\n${out}${err}")
endif()
file(GLOB gcda "${OBJDIR}/*spec_runner.c.gcda")
if(NOT gcda)
  message(FATAL_ERROR "no .gcda written under ${OBJDIR}")
endif()
execute_process(COMMAND ${GCOV} -n -f ${gcda} WORKING_DIRECTORY ${OBJDIR}
                RESULT_VARIABLE grc OUTPUT_VARIABLE g ERROR_VARIABLE gerr TIMEOUT 60)
string(REGEX MATCH "Function 'run_script'\nLines executed:([0-9.]+)%" m "${g}")
if(NOT m)
  message(FATAL_ERROR "gcov says nothing of run_script (${grc}):\n${g}${gerr}")
endif()
if(CMAKE_MATCH_1 STREQUAL "0.00")
  message(FATAL_ERROR "run_script counted 0% in a coverage build: the child's counts were lost")
endif()
message(STATUS "run_script: ${CMAKE_MATCH_1}% of its lines counted")
