// kyoto/impl/context_executor.hpp
//
// kyoto::context::basic_executor_type: the handle through which Asio and users submit work.
//
// It models both of Asio's executor concepts:
// - the standard model: execute(), and the properties blocking (possibly/never), relationship
//   (fork/continuation), outstanding_work (untracked/tracked), allocator, context, mapping
//   (thread) and occupancy (the worker count);
// - the Networking TS model: context(), on_work_started(), on_work_finished(), dispatch(),
//   post(), defer().
// A tracked executor counts as outstanding work for as long as it exists (like a work guard).
//
// Where a submitted function runs:
// - blocking.possibly, called on a worker of the context, outside Asio's reactor: inline.
// - otherwise it is queued: on a worker, continuations (defer) go to the LIFO slot and forks
//   (post) to the back of the local queue; from any other thread, to the injection queue.
//
// Thread safety: distinct objects safe; shared objects safe.

#ifndef KYOTO_IMPL_CONTEXT_EXECUTOR_HPP
#define KYOTO_IMPL_CONTEXT_EXECUTOR_HPP

#include <kyoto/detail/function_op.hpp>

#include <boost/asio/execution.hpp>
#include <boost/asio/is_executor.hpp>

#include <type_traits>
#include <utility>

namespace kyoto {

template <typename Allocator, unsigned int Bits>
class context::basic_executor_type : private detail::executor_bits {
 public:
  basic_executor_type(const basic_executor_type& other) noexcept
      : context_(other.context_), allocator_(other.allocator_), bits_(other.bits_) {
    if constexpr (is_tracked)
      if (context_)
        context_->impl().work_started();
  }

  basic_executor_type(basic_executor_type&& other) noexcept
      : context_(other.context_), allocator_(std::move(other.allocator_)), bits_(other.bits_) {
    if constexpr (is_tracked)
      other.context_ = nullptr;
  }

  ~basic_executor_type() noexcept {
    if constexpr (is_tracked)
      if (context_)
        context_->impl().work_finished();
  }

  basic_executor_type& operator=(const basic_executor_type& other) noexcept {
    if (this != &other) {
      basic_executor_type tmp(other);
      swap(tmp);
    }
    return *this;
  }

  basic_executor_type& operator=(basic_executor_type&& other) noexcept {
    if (this != &other) {
      basic_executor_type tmp(std::move(other));
      swap(tmp);
    }
    return *this;
  }

  // --- Properties: require ---

  basic_executor_type require(boost::asio::execution::blocking_t::possibly_t) const noexcept {
    return {context_, allocator_, bits_ & ~blocking_never};
  }
  basic_executor_type require(boost::asio::execution::blocking_t::never_t) const noexcept {
    return {context_, allocator_, bits_ | blocking_never};
  }
  basic_executor_type require(boost::asio::execution::relationship_t::fork_t) const noexcept {
    return {context_, allocator_, bits_ & ~relationship_continuation};
  }
  basic_executor_type
  require(boost::asio::execution::relationship_t::continuation_t) const noexcept {
    return {context_, allocator_, bits_ | relationship_continuation};
  }
  basic_executor_type<Allocator, Bits | outstanding_work_tracked>
  require(boost::asio::execution::outstanding_work_t::tracked_t) const noexcept {
    return {context_, allocator_, bits_};
  }
  basic_executor_type<Allocator, Bits & ~outstanding_work_tracked>
  require(boost::asio::execution::outstanding_work_t::untracked_t) const noexcept {
    return {context_, allocator_, bits_};
  }
  template <typename OtherAllocator>
  basic_executor_type<OtherAllocator, Bits>
  require(boost::asio::execution::allocator_t<OtherAllocator> a) const noexcept {
    return {context_, a.value(), bits_};
  }
  basic_executor_type<std::allocator<void>, Bits>
  require(boost::asio::execution::allocator_t<void>) const noexcept {
    return {context_, std::allocator<void>(), bits_};
  }

  // --- Properties: query ---

  static constexpr boost::asio::execution::mapping_t
  query(boost::asio::execution::mapping_t) noexcept {
    return boost::asio::execution::mapping.thread;
  }
  static constexpr boost::asio::execution::outstanding_work_t
  query(boost::asio::execution::outstanding_work_t) noexcept {
    return is_tracked ? boost::asio::execution::outstanding_work_t(
                            boost::asio::execution::outstanding_work.tracked)
                      : boost::asio::execution::outstanding_work_t(
                            boost::asio::execution::outstanding_work.untracked);
  }
  kyoto::context& query(boost::asio::execution::context_t) const noexcept { return *context_; }
  boost::asio::execution::blocking_t query(boost::asio::execution::blocking_t) const noexcept {
    return (bits_ & blocking_never)
               ? boost::asio::execution::blocking_t(boost::asio::execution::blocking.never)
               : boost::asio::execution::blocking_t(boost::asio::execution::blocking.possibly);
  }
  boost::asio::execution::relationship_t
  query(boost::asio::execution::relationship_t) const noexcept {
    return (bits_ & relationship_continuation)
               ? boost::asio::execution::relationship_t(
                     boost::asio::execution::relationship.continuation)
               : boost::asio::execution::relationship_t(boost::asio::execution::relationship.fork);
  }
  template <typename OtherAllocator>
  constexpr Allocator query(boost::asio::execution::allocator_t<OtherAllocator>) const noexcept {
    return allocator_;
  }
  constexpr Allocator query(boost::asio::execution::allocator_t<void>) const noexcept {
    return allocator_;
  }
  std::size_t query(boost::asio::execution::occupancy_t) const noexcept {
    return context_->concurrency();
  }

  /// True when the calling thread is one of the context's workers, running its handlers.
  bool running_in_this_thread() const noexcept { return context_->impl().running_in_this_thread(); }

  friend bool operator==(const basic_executor_type& a, const basic_executor_type& b) noexcept {
    return a.context_ == b.context_ && a.allocator_ == b.allocator_ && a.bits_ == b.bits_;
  }
  friend bool operator!=(const basic_executor_type& a, const basic_executor_type& b) noexcept {
    return !(a == b);
  }

  /// Runs `f` inline when blocking.possibly and on a worker; queues it otherwise.
  template <typename Function>
  void execute(Function&& f) const {
    if (!(bits_ & blocking_never) && context_->impl().can_run_inline()) {
      run_inline(std::forward<Function>(f));
      return;
    }
    submit(std::forward<Function>(f), (bits_ & relationship_continuation)
                                          ? detail::schedule_hint::continuation
                                          : detail::schedule_hint::fork);
  }

  // --- Networking TS model ---

  kyoto::context& context() const noexcept { return *context_; }
  void on_work_started() const noexcept { context_->impl().work_started(); }
  void on_work_finished() const noexcept { context_->impl().work_finished(); }

  template <typename Function, typename OtherAllocator>
  void dispatch(Function&& f, const OtherAllocator&) const {
    if (context_->impl().can_run_inline())
      run_inline(std::forward<Function>(f));
    else
      submit(std::forward<Function>(f), detail::schedule_hint::fork);
  }
  template <typename Function, typename OtherAllocator>
  void post(Function&& f, const OtherAllocator&) const {
    submit(std::forward<Function>(f), detail::schedule_hint::fork);
  }
  template <typename Function, typename OtherAllocator>
  void defer(Function&& f, const OtherAllocator&) const {
    submit(std::forward<Function>(f), detail::schedule_hint::continuation);
  }

 private:
  friend class kyoto::context;
  template <typename, unsigned int>
  friend class basic_executor_type;

  static constexpr bool is_tracked = (Bits & outstanding_work_tracked) != 0;

  basic_executor_type(kyoto::context* ctx, const Allocator& allocator, unsigned int bits) noexcept
      : context_(ctx), allocator_(allocator), bits_(bits) {
    if constexpr (is_tracked)
      if (context_)
        context_->impl().work_started();
  }

  void swap(basic_executor_type& other) noexcept {
    std::swap(context_, other.context_);
    std::swap(allocator_, other.allocator_);
    std::swap(bits_, other.bits_);
  }

  // Runs on the calling thread, which is already one of the context's workers: no fence is
  // needed (io_context's fenced_block here predates C++11 atomics).
  template <typename Function>
  static void run_inline(Function&& f) {
    std::decay_t<Function> tmp(std::forward<Function>(f));
    std::move(tmp)();
  }

  template <typename Function>
  void submit(Function&& f, detail::schedule_hint hint) const {
    auto* op = detail::function_op<std::decay_t<Function>, Allocator>::create(
        std::forward<Function>(f), allocator_);
    context_->impl().schedule(op, hint);
  }

  // The context the executor submits to. Null only in a moved-from tracked executor.
  kyoto::context* context_;
  // The allocator for queued functions' storage.
  Allocator allocator_;
  // The blocking and relationship properties (executor_bits); tracking is in the type.
  unsigned int bits_;
};

inline context::executor_type context::get_executor() noexcept {
  return executor_type(this, std::allocator<void>(), 0);
}

} // namespace kyoto

#endif // KYOTO_IMPL_CONTEXT_EXECUTOR_HPP
