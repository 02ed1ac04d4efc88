# The timer wheel's differential fuzz target (fuzz/timer_wheel_fuzz.cpp).
# clang: a libFuzzer binary with ASan+UBSan, run for 20 s from a fixed seed.
# Other compilers (or a ThreadSanitizer build, which cannot be combined with ASan): the same
# file with its own main() that feeds random inputs from a fixed seed for 5 s.
# No Boost.Test main here: add_executable directly.
add_executable(timer_wheel_fuzz fuzz/timer_wheel_fuzz.cpp)
target_link_libraries(timer_wheel_fuzz PRIVATE kyoto kyoto_build_flags)
target_include_directories(timer_wheel_fuzz PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang" AND NOT KYOTO_SANITIZE STREQUAL "thread")
  target_compile_options(timer_wheel_fuzz PRIVATE -fsanitize=fuzzer,address,undefined
                                                  -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(timer_wheel_fuzz PRIVATE -fsanitize=fuzzer,address,undefined)
  add_test(NAME timer_wheel_fuzz
           COMMAND timer_wheel_fuzz -max_total_time=20 -seed=1 -max_len=4096 -print_final_stats=1)
else()
  target_compile_definitions(timer_wheel_fuzz PRIVATE KYOTO_FUZZ_STANDALONE_MAIN)
  add_test(NAME timer_wheel_fuzz COMMAND timer_wheel_fuzz 5)
endif()
set_tests_properties(timer_wheel_fuzz PROPERTIES LABELS fuzz TIMEOUT 120)
