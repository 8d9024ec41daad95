# The man page help2man made from the tool: it names the tool's version, every command and
# the exit codes (PAGE: the generated s4db.1; troff's escapes are dropped before matching).
file(READ ${PAGE} page)
string(REPLACE "\\" "" page "${page}")
foreach(text "s4db 0[.]" "rebuild-index" "put KEY VALUE" "--on-conflict" "130 interrupted" "Exit codes" "EXAMPLES"
             "dump --salvage" "share/doc/s4db")
  if(NOT page MATCHES "${text}")
    message(FATAL_ERROR "${PAGE} lacks ${text}")
  endif()
endforeach()
message(STATUS "the man page names the version, the commands, the options and the exit codes")
