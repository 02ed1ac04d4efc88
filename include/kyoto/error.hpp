// kyoto/error.hpp
//
// Kyoto's own error codes, in an error category named "kyoto". Every misuse that kyoto detects
// at run time is reported with one of these, either as an error_code or inside a
// boost::system::system_error whose what() also says what was wrong.

#ifndef KYOTO_ERROR_HPP
#define KYOTO_ERROR_HPP

#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <string>
#include <type_traits>

namespace kyoto::error {

enum kyoto_errors {
  /// A context was asked for zero or a negative number of worker threads.
  invalid_concurrency = 1,
  /// run() (or poll(), run_one() ...) was called from a handler of the same context while every
  /// worker slot was taken (one by the caller): waiting for a slot would wait for itself. Other
  /// threads beyond the context's concurrency wait for a free slot instead.
  no_free_worker,
  /// A blocking call (block_on, join) was made on a worker thread, where it would deadlock.
  blocking_on_worker,
  /// The task was aborted before it produced a value.
  task_aborted,
  /// The context was shut down (destroyed) before the operation could complete.
  context_shut_down,
  /// A timer deadline outside the range that the timer can represent.
  timer_out_of_range,
  /// A channel's other side was closed.
  channel_closed,
  /// A context_options field is out of its range.
  invalid_option,
};

const boost::system::error_category& get_kyoto_category() noexcept;

inline boost::system::error_code make_error_code(kyoto_errors e) noexcept {
  return {static_cast<int>(e), get_kyoto_category()};
}

} // namespace kyoto::error

template <>
struct boost::system::is_error_code_enum<kyoto::error::kyoto_errors> : std::true_type {};

namespace kyoto::detail {

/// Throws boost::system::system_error(e, what): the one way kyoto reports misuse by exception.
[[noreturn]] void throw_error(kyoto::error::kyoto_errors e, const std::string& what);

} // namespace kyoto::detail

#endif // KYOTO_ERROR_HPP
