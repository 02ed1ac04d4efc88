// test/fuzz/timer_wheel_fuzz.cpp
//
// libFuzzer target for kyoto::detail::basic_timer_wheel: the input bytes encode a geometry, a
// start time and a sequence of insert / remove / advance operations (see
// timer_wheel_harness.hpp), which run against a reference model; any disagreement aborts.
//
// Built with clang: -fsanitize=fuzzer,address,undefined (libFuzzer supplies main()). Built with
// any other compiler (KYOTO_FUZZ_STANDALONE_MAIN): a main() below feeds random inputs from a
// fixed seed for a given number of seconds (`timer_wheel_fuzz [seconds]`, default 5).
#include <kyoto/detail/timer_wheel.hpp>

#include "fuzz/timer_wheel_harness.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string error = kyoto::test::run_timer_wheel_input(data, size);
  if (!error.empty()) {
    std::fprintf(stderr, "timer_wheel_fuzz: mismatch: %s\n", error.c_str());
    std::abort();
  }
  return 0;
}

#ifdef KYOTO_FUZZ_STANDALONE_MAIN
#include <chrono>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  double seconds = 5;
  if (argc > 1) {
    try {
      seconds = std::stod(argv[1]);
    } catch (const std::exception&) {
      std::fprintf(stderr, "usage: %s [seconds]\n", argv[0]);
      return 2;
    }
  }
  std::mt19937_64 rng(1);
  std::vector<std::uint8_t> input;
  const auto stop = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  std::size_t runs = 0;
  std::size_t bytes = 0;
  do {
    input.resize(1 + rng() % 4096);
    for (std::uint8_t& b : input) {
      b = static_cast<std::uint8_t>(rng());
    }
    LLVMFuzzerTestOneInput(input.data(), input.size());
    ++runs;
    bytes += input.size();
  } while (std::chrono::steady_clock::now() < stop);
  std::printf("timer_wheel_fuzz: %zu inputs (%zu bytes), no mismatch\n", runs, bytes);
  return 0;
}
#endif
