// kyoto/impl/basic_waitable_timer.hpp
//
// Template bodies of kyoto::basic_waitable_timer (see ../basic_waitable_timer.hpp). The timer
// object holds its expiry and a detail::timer_state; every operation on pending waits goes
// through the context's detail::timer_service, which owns the locking.

#ifndef KYOTO_IMPL_BASIC_WAITABLE_TIMER_HPP
#define KYOTO_IMPL_BASIC_WAITABLE_TIMER_HPP

#include <kyoto/detail/kyoto_context_of.hpp>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/detail/throw_error.hpp>

#include <algorithm>
#include <memory>
#include <thread>
#include <utility>

namespace kyoto {

template <typename Clock, typename WaitTraits, typename Executor>
basic_waitable_timer<Clock, WaitTraits, Executor>::basic_waitable_timer(const executor_type& ex)
    : executor_(ex), service_(&service_for(ex)) {
}

template <typename Clock, typename WaitTraits, typename Executor>
basic_waitable_timer<Clock, WaitTraits, Executor>::basic_waitable_timer(
    basic_waitable_timer&& other)
    : executor_(other.executor_), service_(other.service_),
      expiry_(std::exchange(other.expiry_, time_point())) {
  service_->move(impl_, other.impl_);
}

template <typename Clock, typename WaitTraits, typename Executor>
template <typename Executor1>
requires std::is_convertible_v<Executor1, Executor>
basic_waitable_timer<Clock, WaitTraits, Executor>::basic_waitable_timer(
    basic_waitable_timer<Clock, WaitTraits, Executor1>&& other)
    : executor_(other.executor_), service_(other.service_),
      expiry_(std::exchange(other.expiry_, time_point())) {
  service_->move(impl_, other.impl_);
}

template <typename Clock, typename WaitTraits, typename Executor>
basic_waitable_timer<Clock, WaitTraits, Executor>&
basic_waitable_timer<Clock, WaitTraits, Executor>::operator=(basic_waitable_timer&& other) {
  if (this != &other) {
    service_->cancel(impl_);
    executor_ = other.executor_;
    service_ = other.service_;
    expiry_ = std::exchange(other.expiry_, time_point());
    service_->move(impl_, other.impl_);
  }
  return *this;
}

template <typename Clock, typename WaitTraits, typename Executor>
template <typename Executor1>
requires std::is_convertible_v<Executor1, Executor>
    basic_waitable_timer<Clock, WaitTraits, Executor>
&basic_waitable_timer<Clock, WaitTraits, Executor>::operator=(
    basic_waitable_timer<Clock, WaitTraits, Executor1>&& other) {
  service_->cancel(impl_);
  executor_ = other.executor_;
  service_ = other.service_;
  expiry_ = std::exchange(other.expiry_, time_point());
  service_->move(impl_, other.impl_);
  return *this;
}

template <typename Clock, typename WaitTraits, typename Executor>
void basic_waitable_timer<Clock, WaitTraits, Executor>::wait(boost::system::error_code& ec) {
  // As Asio: sleep until the clock says the expiry has passed.
  for (;;) {
    const duration left = WaitTraits::to_wait_duration(remaining(expiry_));
    if (left <= duration::zero())
      break;
    std::this_thread::sleep_for(
        std::min<duration>(left, std::chrono::duration_cast<duration>(std::chrono::hours(1))));
  }
  ec = {};
}

template <typename Clock, typename WaitTraits, typename Executor>
detail::timer_service&
basic_waitable_timer<Clock, WaitTraits, Executor>::service_for(const Executor& ex) {
  return detail::timer_service_for(ex, "kyoto::basic_waitable_timer");
}

template <typename Clock, typename WaitTraits, typename Executor>
typename basic_waitable_timer<Clock, WaitTraits, Executor>::time_point
basic_waitable_timer<Clock, WaitTraits, Executor>::add(const time_point& t, const duration& d) {
  const time_point epoch;
  if (t >= epoch) {
    if ((time_point::max)() - t < d)
      return (time_point::max)();
  } else if (-(t - (time_point::min)()) > d) {
    return (time_point::min)();
  }
  return t + d;
}

template <typename Clock, typename WaitTraits, typename Executor>
typename basic_waitable_timer<Clock, WaitTraits, Executor>::duration
basic_waitable_timer<Clock, WaitTraits, Executor>::remaining(const time_point& t) {
  // t - now, saturated (wait_traits::to_wait_duration(time_point) overflows computing
  // now + duration::max()).
  const duration a = t.time_since_epoch();
  const duration b = Clock::now().time_since_epoch();
  if (a >= duration::zero() && b < duration::zero() && a > (duration::max)() + b)
    return (duration::max)();
  if (a < duration::zero() && b > duration::zero() && a < (duration::min)() + b)
    return (duration::min)();
  return a - b;
}

template <typename Clock, typename WaitTraits, typename Executor>
std::chrono::steady_clock::time_point
basic_waitable_timer<Clock, WaitTraits, Executor>::steady_deadline() const {
  using steady = std::chrono::steady_clock;
  if constexpr (std::is_same_v<Clock, steady> &&
                std::is_same_v<WaitTraits, boost::asio::wait_traits<steady>>) {
    return expiry_;
  } else {
    // Asio's conversion to a wait duration, then onto steady_clock, rounding up and saturating.
    const duration left = WaitTraits::to_wait_duration(remaining(expiry_));
    if (left <= duration::zero())
      return (steady::time_point::min)();
    const steady::time_point now = steady::now();
    using seconds_d = std::chrono::duration<double>;
    if (std::chrono::duration_cast<seconds_d>(left) >=
        std::chrono::duration_cast<seconds_d>((steady::time_point::max)() - now))
      return (steady::time_point::max)();
    return now + std::chrono::ceil<steady::duration>(left);
  }
}

template <typename Clock, typename WaitTraits, typename Executor>
template <typename Handler>
void basic_waitable_timer<Clock, WaitTraits, Executor>::start_wait(Handler&& h) {
  using handler_type = std::decay_t<Handler>;
  handler_type handler(std::forward<Handler>(h));
  // A handler that runs natively needs no handler_work: a smaller operation (one cache line
  // for a small handler), which matters with many pending timers.
  if (detail::handler_work<handler_type, Executor>::is_native(handler, executor_))
    arm<detail::timer_wait_native_op<handler_type>>(handler);
  else
    arm<detail::timer_wait_handler_op<handler_type, Executor>>(handler, executor_);
}

template <typename Clock, typename WaitTraits, typename Executor>
template <typename Op, typename Handler, typename... Args>
void basic_waitable_timer<Clock, WaitTraits, Executor>::arm(Handler& handler, const Args&... args) {
  typename Op::ptr p = {std::addressof(handler), Op::ptr::allocate(handler), nullptr};
  p.p = new (p.v) Op(handler, args...);
  auto slot = boost::asio::get_associated_cancellation_slot(p.p->handler());
  if (slot.is_connected())
    p.p->cancel_ = &slot.template emplace<detail::timer_cancel_handler>(*service_);
  service_->start_wait(impl_, steady_deadline(), p.p);
  p.v = p.p = nullptr;
}

} // namespace kyoto

#endif // KYOTO_IMPL_BASIC_WAITABLE_TIMER_HPP
