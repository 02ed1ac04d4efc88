// bench/type_list.hpp
//
// A list of types, for the registries of systems and workloads.

#ifndef KYOTO_BENCH_TYPE_LIST_HPP
#define KYOTO_BENCH_TYPE_LIST_HPP

namespace kyoto_bench {

template <typename... T>
struct type_list {};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_TYPE_LIST_HPP
