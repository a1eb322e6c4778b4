# cmake -DWASM=... -DIN=... -DOUT=... [-DALLOW=...] -P manifest.cmake
# Writes a skill.json whose sha256 is the built module's.
file(SHA256 ${WASM} SHA256)
if(NOT DEFINED ALLOW)
  set(ALLOW "http://127.0.0.1")
endif()
configure_file(${IN} ${OUT} @ONLY)
