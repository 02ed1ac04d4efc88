// bench/systems.hpp
//
// The registry of systems, in report order. To add one: write an adapter (bench/system.hpp
// explains the interface; doc/benchmarks.md has a complete example) and add it to the list.

#ifndef KYOTO_BENCH_SYSTEMS_HPP
#define KYOTO_BENCH_SYSTEMS_HPP

#include "systems/io_context.hpp"
#include "systems/io_context_pool.hpp"
#include "systems/thread_pool.hpp"
#include "type_list.hpp"

// Set by bench/CMakeLists.txt while kyoto's scheduler sources are not in the tree yet.
#ifndef KYOTO_BENCH_WITHOUT_KYOTO
#include "systems/kyoto.hpp"
#endif

namespace kyoto_bench {

using all_systems =
    type_list<kyoto_system, io_context_system, io_context_pool_system, thread_pool_system>;

} // namespace kyoto_bench

#endif // KYOTO_BENCH_SYSTEMS_HPP
