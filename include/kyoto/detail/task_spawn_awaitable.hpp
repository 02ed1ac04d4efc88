// kyoto/detail/task_spawn_awaitable.hpp
//
// awaitable_future: the future that kyoto::spawn(ctx, asio::awaitable<T>) runs as a task. Its
// first poll co_spawns the coroutine on the context; the coroutine's completion stores the result
// and wakes the task.
//
// Protocol: the task polls (one thread at a time); the co_spawn handler runs on a worker. They
// share a small state under a mutex (the result and the latest waker). Aborting the task stops
// waiting, but the coroutine itself runs to completion (Asio coroutines cannot be cancelled from
// outside without a cancellation slot of their own).

#ifndef KYOTO_DETAIL_TASK_SPAWN_AWAITABLE_HPP
#define KYOTO_DETAIL_TASK_SPAWN_AWAITABLE_HPP

#include <kyoto/detail/task_cell.hpp>
#include <kyoto/future.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>

namespace kyoto::detail {

template <typename T>
struct is_asio_awaitable : std::false_type {};
template <typename T, typename E>
struct is_asio_awaitable<boost::asio::awaitable<T, E>> : std::true_type {};

template <typename Awaitable>
class awaitable_future;

template <typename T>
struct is_awaitable_future : std::false_type {};
template <typename A>
struct is_awaitable_future<awaitable_future<A>> : std::true_type {};

template <typename Awaitable>
class awaitable_future {
  using value_type = typename Awaitable::value_type;
  using executor_type = typename Awaitable::executor_type;

  struct shared {
    // Guards the members below.
    std::mutex mutex;
    // The coroutine's result, once it finished.
    std::optional<task_result<value_type>> result;
    // The waker of the last poll.
    waker w;

    void finish(task_result<value_type> r) {
      waker to_wake;
      {
        std::lock_guard lock(mutex);
        result.emplace(std::move(r));
        to_wake = std::move(w);
      }
      to_wake.wake();
    }
  };

 public:
  explicit awaitable_future(Awaitable a) : awaitable_(std::move(a)) {}

  /// Where the coroutine will run (spawn sets it).
  template <typename Executor>
  void set_executor(const Executor& ex) {
    ex_.emplace(ex);
  }

  kyoto::poll<value_type> poll(task_context& cx) {
    if (!state_) {
      state_ = std::make_shared<shared>();
      auto st = state_;
      if constexpr (std::is_void_v<value_type>)
        boost::asio::co_spawn(*ex_, std::move(*awaitable_), [st](std::exception_ptr e) {
          st->finish(e ? task_result<value_type>(std::in_place_index<1>, e)
                       : task_result<value_type>(std::in_place_index<0>));
        });
      else
        boost::asio::co_spawn(
            *ex_, std::move(*awaitable_), [st](std::exception_ptr e, value_type v) {
              st->finish(e ? task_result<value_type>(std::in_place_index<1>, e)
                           : task_result<value_type>(std::in_place_index<0>, std::move(v)));
            });
      awaitable_.reset();
    }
    std::unique_lock lock(state_->mutex);
    if (state_->result) {
      auto r = std::move(*state_->result);
      lock.unlock();
      if constexpr (std::is_void_v<value_type>) {
        take_result<value_type>(std::move(r));
        return ready;
      } else {
        return take_result<value_type>(std::move(r));
      }
    }
    if (!state_->w.will_wake(cx.get_waker()))
      state_->w = cx.get_waker();
    return pending;
  }

 private:
  // The coroutine until it is spawned.
  std::optional<Awaitable> awaitable_;
  // The executor to co_spawn on.
  std::optional<executor_type> ex_;
  // Shared with the co_spawn completion handler.
  std::shared_ptr<shared> state_;
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_TASK_SPAWN_AWAITABLE_HPP
