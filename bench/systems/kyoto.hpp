// bench/systems/kyoto.hpp
//
// `kyoto`: one kyoto::context{N} run by N threads, treated exactly like io_context.

#ifndef KYOTO_BENCH_SYSTEMS_KYOTO_HPP
#define KYOTO_BENCH_SYSTEMS_KYOTO_HPP

#include "../system.hpp"

#include <kyoto/context.hpp>

#include <string_view>

namespace kyoto_bench {

class kyoto_system : public context_system<kyoto::context, kyoto_system> {
 public:
  static constexpr std::string_view name = "kyoto";
  using context_system::context_system;
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_SYSTEMS_KYOTO_HPP
