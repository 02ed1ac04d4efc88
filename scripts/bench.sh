#!/usr/bin/env bash
# scripts/bench.sh: compare kyoto::context with stock Asio contexts on this machine.
#
#   sudo scripts/bench.sh                          # everything, N = 1,2, 10 iterations
#   scripts/bench.sh --quick                       # a smoke run
#   scripts/bench.sh --threads 1,2,4 --workloads ping_pong,yield_many
#
# On Debian 12 it first installs what is missing (g++, cmake, ninja, Boost 1.81; needs root),
# then builds kyoto_bench in a Release tree (build-bench-release/, or $KYOTO_BENCH_BUILD_DIR)
# and runs it. Every argument goes to kyoto_bench (see `scripts/bench.sh --help`). The table is
# printed; results.md, results.json and ratios.svg go to bench/results/ (or --out DIR).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KYOTO_BENCH_BUILD_DIR:-$repo/build-bench-release}"

# --- Dependencies -------------------------------------------------------------------------------
packages=(g++ cmake ninja-build libboost1.81-all-dev)
if command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
      echo "bench.sh: missing packages: ${missing[*]}" >&2
      echo "bench.sh: run as root, or: apt-get install -y --no-install-recommends ${missing[*]}" >&2
      exit 1
    fi
    echo "bench.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
  fi
else
  echo "bench.sh: not a Debian system; assuming a C++20 compiler, CMake, Ninja and Boost 1.81" >&2
fi

# --- Build ---------------------------------------------------------------------------------------
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
cmake -S "$repo" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DKYOTO_BUILD_TESTS=OFF -DKYOTO_BUILD_EXAMPLES=OFF -DKYOTO_BUILD_BENCH=ON >/dev/null
cmake --build "$build" --target kyoto_bench

# --- Run -----------------------------------------------------------------------------------------
out="$repo/bench/results"
args=("$@")
for ((i = 0; i < ${#args[@]}; ++i)); do
  [[ ${args[i]} == --out && $((i + 1)) -lt ${#args[@]} ]] && out="${args[i + 1]}"
done
for a in "$@"; do
  case "$a" in
  --help | -h | --list) exec "$build/bench/kyoto_bench" "$@" ;;
  esac
done

"$build/bench/kyoto_bench" "$@"

echo
echo "Table:  $out/results.md"
echo "Raw:    $out/results.json (every sample, in ns)"
echo "Plot:   $out/ratios.svg (speed-up of kyoto over each stock system)"
