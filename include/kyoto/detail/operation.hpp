// kyoto/detail/operation.hpp
//
// The unit of work that every kyoto queue holds: an intrusive, type-erased node.
//
// A posted handler, a woken future task and an I/O completion are all operations. The node
// carries its own link (`next_`), so queueing never allocates: a handler's storage is allocated
// once, when it is posted, and a future task's header *is* its node, so waking it allocates
// nothing.
//
// Protocol: whoever removes an operation from a queue owns it and must call exactly one of
// complete() (run it, then free it) or destroy() (free it without running it). Both consume the
// operation; it must not be touched afterwards.

#ifndef KYOTO_DETAIL_OPERATION_HPP
#define KYOTO_DETAIL_OPERATION_HPP

namespace kyoto::detail {

class operation {
 public:
  operation(const operation&) = delete;
  operation& operator=(const operation&) = delete;

  /// Runs the operation and releases its storage. May throw what the handler throws; the
  /// storage is released first, as Asio does, so nothing leaks when it does.
  void complete() { func_(this, true); }

  /// Releases the operation without running it (shutdown, a stopped context being destroyed).
  void destroy() noexcept { func_(this, false); }

  /// The intrusive link used by the injection queue and other lists. Owned by whichever list
  /// holds the operation; meaningless otherwise.
  operation* next_ = nullptr;

 protected:
  /// `invoke` is true to run the operation, false to only destroy it.
  using func_type = void (*)(operation* self, bool invoke);

  explicit operation(func_type func) noexcept : func_(func) {}
  ~operation() = default;

 private:
  func_type func_;
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_OPERATION_HPP
