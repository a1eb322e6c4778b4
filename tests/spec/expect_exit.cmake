# Runs COMMAND (a ;-list) with ENV (NAME=VALUE, may be empty) and checks
# its exit code is CODE and its output matches REGEX.
#   cmake -DCOMMAND=... -DENV=... -DCODE=... -DREGEX=... -P expect_exit.cmake
if(ENV)
  set(cmd ${CMAKE_COMMAND} -E env ${ENV} ${COMMAND})
else()
  set(cmd ${CMAKE_COMMAND} -E env --unset=CI ${COMMAND})
endif()
execute_process(COMMAND ${cmd} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
if(NOT rc STREQUAL CODE)
  message(FATAL_ERROR "exit code ${rc}, want ${CODE}:\n${out}${err}")
endif()
if(NOT "${out}${err}" MATCHES "${REGEX}")
  message(FATAL_ERROR "output does not match \"${REGEX}\":\n${out}${err}")
endif()
