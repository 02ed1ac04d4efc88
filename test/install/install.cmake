# Tests that a user can consume Kyoto (label 'install', run in the Release build only):
# - install_consumer:      `cmake --install` this build tree into a scratch prefix, then configure,
#                          build and run test/install/ against it with find_package(Kyoto CONFIG).
# - subdirectory_consumer: configure, build and run test/install/ with add_subdirectory() of the
#                          source tree (Kyoto's tests, examples and benchmarks off).
#
# This file has two roles: included by test/CMakeLists.txt it registers the tests; run with
# `cmake -P` (by those tests) it performs one of them.

if(NOT CMAKE_SCRIPT_MODE_FILE)
  # A sanitized static library cannot be linked into an unsanitized consumer; the Release build
  # covers installation.
  if(KYOTO_SANITIZE)
    return()
  endif()
  # Until the scheduler is compiled (src/runtime*.cpp) the consumer cannot run a context.
  file(GLOB kyoto_runtime_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/runtime*.cpp)
  if(kyoto_runtime_sources)
    set(kyoto_consumer_run_context ON)
  else()
    set(kyoto_consumer_run_context OFF)
  endif()
  get_property(kyoto_multi_config GLOBAL PROPERTY GENERATOR_IS_MULTI_CONFIG)
  foreach(mode package subdirectory)
    if(mode STREQUAL "package")
      set(name install_consumer)
    else()
      set(name subdirectory_consumer)
    endif()
    add_test(NAME ${name}
             COMMAND ${CMAKE_COMMAND}
                     -DMODE=${mode}
                     -DKYOTO_SOURCE_DIR=${PROJECT_SOURCE_DIR}
                     -DKYOTO_BINARY_DIR=${PROJECT_BINARY_DIR}
                     -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/${name}
                     -DCONFIG=$<CONFIG>
                     -DGENERATOR=${CMAKE_GENERATOR}
                     -DCXX_COMPILER=${CMAKE_CXX_COMPILER}
                     "-DCXX_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER}"
                     -DRUN_CONTEXT=${kyoto_consumer_run_context}
                     -P ${CMAKE_CURRENT_LIST_FILE})
    # Both builds compile Asio headers; the subdirectory build also compiles the library.
    set_tests_properties(${name} PROPERTIES LABELS install TIMEOUT 240)
  endforeach()
  return()
endif()

# ---- script mode ---------------------------------------------------------------------------

foreach(var MODE KYOTO_SOURCE_DIR KYOTO_BINARY_DIR WORK_DIR CONFIG GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "install.cmake: -D${var}=... is required")
  endif()
endforeach()

cmake_host_system_information(RESULT jobs QUERY NUMBER_OF_LOGICAL_CORES)

# Runs a command, echoing it; stops the test with its output when it fails.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  string(REPLACE ";" " " line "${ARGN}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "FAILED (${rc}): ${line}\n${out}")
  endif()
  message(STATUS "ok: ${line}")
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(consumer_args
    -S ${KYOTO_SOURCE_DIR}/test/install -B ${WORK_DIR}/build -G ${GENERATOR}
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_BUILD_TYPE=${CONFIG}
    -DKYOTO_CONSUMER_RUN_CONTEXT=${RUN_CONTEXT})
if(CXX_LAUNCHER)
  list(APPEND consumer_args -DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_LAUNCHER})
endif()

if(MODE STREQUAL "package")
  set(prefix ${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} --install ${KYOTO_BINARY_DIR} --prefix ${prefix} --config ${CONFIG})
  file(GLOB_RECURSE config_files ${prefix}/*/KyotoConfig.cmake)
  if(NOT config_files)
    message(FATAL_ERROR "cmake --install wrote no KyotoConfig.cmake under ${prefix}")
  endif()
  foreach(header kyoto/context.hpp kyoto/error.hpp)
    if(NOT EXISTS ${prefix}/include/${header})
      message(FATAL_ERROR "cmake --install did not install ${header}")
    endif()
  endforeach()
  run(${CMAKE_COMMAND} ${consumer_args} -DCMAKE_PREFIX_PATH=${prefix}
      -DKYOTO_EXPECTED_PREFIX=${prefix} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
elseif(MODE STREQUAL "subdirectory")
  run(${CMAKE_COMMAND} ${consumer_args} -DKYOTO_SOURCE_DIR=${KYOTO_SOURCE_DIR})
else()
  message(FATAL_ERROR "install.cmake: MODE must be 'package' or 'subdirectory', not '${MODE}'")
endif()

run(${CMAKE_COMMAND} --build ${WORK_DIR}/build --config ${CONFIG} --parallel ${jobs})
file(GLOB_RECURSE apps ${WORK_DIR}/build/app ${WORK_DIR}/build/app.exe)
if(NOT apps)
  message(FATAL_ERROR "the consumer build produced no 'app'")
endif()
list(GET apps 0 app)
run(${app})
if(NOT run_output MATCHES "kyoto consumer: ok")
  message(FATAL_ERROR "the consumer did not report success:\n${run_output}")
endif()
message(STATUS "${MODE} consumer (run_context=${RUN_CONTEXT}): ${run_output}")
