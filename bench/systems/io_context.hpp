// bench/systems/io_context.hpp
//
// `io_context`: one boost::asio::io_context(N) run by N threads.

#ifndef KYOTO_BENCH_SYSTEMS_IO_CONTEXT_HPP
#define KYOTO_BENCH_SYSTEMS_IO_CONTEXT_HPP

#include "../system.hpp"

#include <boost/asio/io_context.hpp>

#include <string_view>

namespace kyoto_bench {

class io_context_system : public context_system<boost::asio::io_context, io_context_system> {
 public:
  static constexpr std::string_view name = "io_context";
  using context_system::context_system;
};

} // namespace kyoto_bench

#endif // KYOTO_BENCH_SYSTEMS_IO_CONTEXT_HPP
