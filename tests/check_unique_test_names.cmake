# Fails when two CTest tests share a name. gtest_discover_tests names typed tests
# "<Prefix>.<Test><<Type>>" without the suite, so two suites with a test of the same name on the
# same backend collide, and CTest then mixes up their properties (a PostgreSQL test lost its
# fixture and ran after the server had stopped). Run as: cmake -DBUILD_DIR=... -P this-file.
execute_process(COMMAND ${CMAKE_CTEST_COMMAND} -N --test-dir ${BUILD_DIR}
                OUTPUT_VARIABLE listing RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "ctest -N failed")
endif()
string(REGEX MATCHALL "Test +#[0-9]+: [^\n]+" lines "${listing}")
set(seen "")
set(duplicates "")
foreach(line IN LISTS lines)
  string(REGEX REPLACE "Test +#[0-9]+: " "" name "${line}")
  list(FIND seen "${name}" at)
  if(at GREATER -1)
    list(APPEND duplicates "${name}")
  else()
    list(APPEND seen "${name}")
  endif()
endforeach()
if(duplicates)
  message(FATAL_ERROR "tests with the same name: ${duplicates}")
endif()
list(LENGTH seen count)
message(STATUS "${count} test names, all distinct")
