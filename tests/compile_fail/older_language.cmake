# Compiles each public header (HEADERS, ;-separated, under INCLUDE) as C++17 with COMPILER
# and requires exactly the one clear message of detail/require_cxx20.hpp: the #error and
# the stop after it, and no error from the C++20 code behind them.
foreach(header IN LISTS HEADERS)
  execute_process(COMMAND ${COMPILER} -std=c++17 -fsyntax-only -I${INCLUDE} -x c++ -
                  INPUT_FILE ${INPUT_DIR}/${header}.txt RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_VARIABLE out)
  string(REGEX MATCHALL "error:" errors "${err}")
  list(LENGTH errors count)
  if(rc EQUAL 0 OR NOT err MATCHES "s4db needs C\\+\\+20" OR NOT count EQUAL 2)
    message(FATAL_ERROR "${header} as C++17: expected one clear message, got (${count} errors):\n${err}")
  endif()
endforeach()
message(STATUS "every public header stops a C++17 build with one clear message")
