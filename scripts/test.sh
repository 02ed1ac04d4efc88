#!/usr/bin/env bash
# scripts/test.sh: Kyoto's test command (what CI runs, via .ci/run).
#
#   bash scripts/test.sh [--quick] [--jobs N] [--build-root DIR] [--only release|tsan|asan|fuzz]
#
# Builds and tests four configurations, each a CMake preset of CMakePresets.json:
#   release  g++ Release, warnings are errors          ctest: the whole suite
#   tsan     g++ ThreadSanitizer, RelWithDebInfo        ctest -L concurrency
#   asan     g++ ASan+UBSan, RelWithDebInfo             ctest -LE install (the whole suite)
#   fuzz     clang++ ASan+UBSan, only the libFuzzer     ctest -L fuzz
#            targets (test/fuzz/)
# --quick runs the release build only. Build trees go to <repo>/build/<preset> (or --build-root).
# As root on Debian/Ubuntu, the packages it needs are installed with apt-get when missing.
# Sanitizer options come from TSAN_OPTIONS / ASAN_OPTIONS / UBSAN_OPTIONS when set.
#
# Exits non-zero when any configure, build or test step fails. The last line of output is
# "N passed, M failed": tests over all builds, a failed configure or build counting as one failure.

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
quick=0
only=""
jobs=$(nproc 2>/dev/null || echo 2)
build_root=${KYOTO_BUILD_ROOT:-$root/build}

usage() {
  sed -n '2,16s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

die() {
  echo "test.sh: $*" >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case $1 in
  --quick) quick=1 ;;
  --jobs | -j)
    [[ $# -ge 2 ]] || die "$1 needs a number"
    jobs=$2
    shift
    ;;
  --jobs=*) jobs=${1#--jobs=} ;;
  --build-root)
    [[ $# -ge 2 ]] || die "$1 needs a directory"
    build_root=$2
    shift
    ;;
  --build-root=*) build_root=${1#--build-root=} ;;
  --only)
    [[ $# -ge 2 ]] || die "$1 needs a preset name"
    only=$2
    shift
    ;;
  --only=*) only=${1#--only=} ;;
  -h | --help)
    usage
    exit 0
    ;;
  *) die "unknown argument '$1' (try --help)" ;;
  esac
  shift
done
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs wants a positive number, not '$jobs'"
case $only in
"" | release | tsan | asan | fuzz) ;;
*) die "--only wants release, tsan, asan or fuzz, not '$only'" ;;
esac

if [[ -n $only ]]; then
  presets=("$only")
elif [[ $quick == 1 ]]; then
  presets=(release)
else
  presets=(release tsan asan fuzz)
fi

# ---- packages ------------------------------------------------------------------------------

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'
}

ensure_packages() {
  local wanted=(g++ cmake ninja-build libboost1.81-all-dev ccache)
  if [[ " ${presets[*]} " == *" fuzz "* ]]; then
    # clang++ builds the fuzz tree; libclang-rt holds its sanitizer and libFuzzer runtimes.
    wanted+=(clang libclang-rt-14-dev)
  fi
  if ! command -v dpkg-query >/dev/null; then
    echo "test.sh: not a Debian system; assuming ${wanted[*]} are installed" >&2
    return
  fi
  local missing=() pkg
  for pkg in "${wanted[@]}"; do
    installed "$pkg" || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      die "missing packages: ${missing[*]} (run as root, or install them)"
    fi
  fi
  echo "== installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}

ensure_packages

# ---- sanitizer run-time options ------------------------------------------------------------

export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:history_size=4}
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:check_initialization_order=1:strict_init_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

# ---- one build -----------------------------------------------------------------------------

total_passed=0
total_failed=0
status=0
recap=()

# The ctest arguments that select a preset's tests.
ctest_filter() {
  case $1 in
  release) ;;
  tsan) echo "-L concurrency -LE install" ;;
  asan) echo "-LE install" ;;
  fuzz) echo "-L fuzz" ;;
  esac
}

# The build targets of the tests that ctest would run with the filter $2, one a line: every test
# of kyoto_add_test() is built by the target of its name. Prints nothing when some test has no
# target of its name (then the caller builds everything).
test_targets() {
  local dir=$1 filter=$2 names name
  # shellcheck disable=SC2086 # the filter is several words
  names=$(ctest --test-dir "$dir" -N $filter 2>/dev/null | sed -n 's/^ *Test *#[0-9]*: *//p')
  for name in $names; do
    ninja -C "$dir" -t query "$name" >/dev/null 2>&1 || return 0
  done
  [[ -z $names ]] || echo "$names"
}

# A command that runs ctest (setarch, when ThreadSanitizer needs ASLR off).
ctest_prefix=()

# Runs ctest with the given arguments, printing its output; sets passed, failed and ctest_log.
run_ctest() {
  local dir=$1
  shift
  ctest_log=$dir/ctest.log
  local rc=0
  "${ctest_prefix[@]}" ctest --test-dir "$dir" -j "$jobs" --output-on-failure --no-tests=error "$@" 2>&1 |
    tee "$ctest_log" || rc=$?
  local line
  line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$ctest_log" | tail -1 || true)
  if [[ $line =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
    failed=${BASH_REMATCH[1]}
    passed=$((BASH_REMATCH[2] - failed))
  else
    passed=0
    failed=1 # ctest found no tests or did not finish
  fi
  if [[ $rc -ne 0 && $failed -eq 0 ]]; then
    failed=1
  fi
}

# ThreadSanitizer cannot start with some ASLR layouts of newer kernels.
tsan_mapping_failure() {
  grep -qE 'unexpected memory mapping|ThreadSanitizer: failed to|FATAL: ThreadSanitizer' "$1"
}

run_preset() {
  local preset=$1 dir=$build_root/$1 filter t0 t1 t2 build_ok=1 passed=0 failed=0 ctest_log
  filter=$(ctest_filter "$preset")
  echo
  echo "==== $preset: configure ($dir)"
  t0=$(date +%s)
  if ! cmake --preset "$preset" -S "$root" -B "$dir" "${launcher[@]}"; then
    recap+=("$preset: configure FAILED")
    total_failed=$((total_failed + 1))
    status=1
    return
  fi

  echo "==== $preset: build"
  local targets=()
  if [[ $preset == tsan || $preset == fuzz ]]; then
    # Only the tests that this build runs; the release build compiles everything else.
    mapfile -t targets < <(test_targets "$dir" "$filter")
  fi
  # -k 0: build what can be built, so that one broken test does not hide the others' results.
  if [[ ${#targets[@]} -gt 0 ]]; then
    cmake --build "$dir" -j "$jobs" --target kyoto "${targets[@]}" -- -k 0 || build_ok=0
  else
    cmake --build "$dir" -j "$jobs" -- -k 0 || build_ok=0
  fi
  t1=$(date +%s)

  echo "==== $preset: test ${filter:-(all)}"
  # shellcheck disable=SC2086 # the filter is several words
  run_ctest "$dir" $filter
  if [[ $preset == tsan && $failed -gt 0 ]] && tsan_mapping_failure "$ctest_log" &&
    command -v setarch >/dev/null; then
    echo "==== $preset: ThreadSanitizer could not map its shadow memory; again without ASLR"
    ctest_prefix=(setarch "$(uname -m)" -R)
    # shellcheck disable=SC2086
    run_ctest "$dir" $filter
    ctest_prefix=()
  fi
  t2=$(date +%s)

  local note=""
  if [[ $build_ok == 0 ]]; then
    note=", build FAILED"
    failed=$((failed + 1))
  fi
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  [[ $failed -eq 0 ]] || status=1
  recap+=("$preset: $passed passed, $failed failed$note (build $((t1 - t0)) s, tests $((t2 - t1)) s)")
}

start=$(date +%s)
for preset in "${presets[@]}"; do
  run_preset "$preset"
done

echo
echo "==== summary ($(($(date +%s) - start)) s)"
printf '%s\n' "${recap[@]}"
echo "$total_passed passed, $total_failed failed"
exit $status
