# Writes OUT: a C file defining cis__page_assets, the files of the
# operator page (index.html, page.js, page.css in DIR) as NUL-terminated
# byte arrays with their names and content types (src/serve/http_calls.h).
# The page is plain files: nothing is built from them but this table.
set(names index.html page.js page.css)
set(body "/* Generated from src/serve/page/ by embed.cmake. */\n#include \"serve/http_calls.h\"\n\n")
set(table "")
set(i 0)
foreach(name IN LISTS names)
  # (Not a list of types: a content type holds a ";", which would split it.)
  if(name MATCHES "\\.html$")
    set(type "text/html; charset=utf-8")
  elseif(name MATCHES "\\.js$")
    set(type "text/javascript; charset=utf-8")
  else()
    set(type "text/css; charset=utf-8")
  endif()
  file(READ ${DIR}/${name} hex HEX)
  string(LENGTH "${hex}" n)
  math(EXPR n "${n} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND body "static const char page_${i}[] = {${hex}0};\n")
  string(APPEND table "    {\"${name}\", \"${type}\", page_${i}, ${n}},\n")
  math(EXPR i "${i} + 1")
endforeach()
file(WRITE ${OUT} "${body}\nconst cis__page_asset cis__page_assets[] = {\n${table}};\n"
     "const size_t cis__page_nassets = ${i};\n")
