// The "kyoto" error category.

#include <kyoto/error.hpp>

namespace kyoto::error {
namespace {

class kyoto_category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "kyoto"; }

  std::string message(int value) const override {
    switch (static_cast<kyoto_errors>(value)) {
    case invalid_concurrency:
      return "the number of worker threads must be at least 1";
    case no_free_worker:
      return "every worker slot of the context is already taken by a running thread";
    case blocking_on_worker:
      return "a blocking wait was called on one of the context's worker threads";
    case task_aborted:
      return "the task was aborted before it completed";
    case context_shut_down:
      return "the context was shut down before the operation completed";
    case timer_out_of_range:
      return "the timer deadline is outside the representable range";
    case channel_closed:
      return "the channel is closed";
    case invalid_option:
      return "a context option is out of its range";
    }
    return "unknown kyoto error";
  }
};

} // namespace

const boost::system::error_category& get_kyoto_category() noexcept {
  static const kyoto_category instance;
  return instance;
}

} // namespace kyoto::error

namespace kyoto::detail {

void throw_error(kyoto::error::kyoto_errors e, const std::string& what) {
  throw boost::system::system_error(make_error_code(e), what);
}

} // namespace kyoto::detail
