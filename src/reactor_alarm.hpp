// src/reactor_alarm.hpp (private)
//
// A precise wake-up for the worker blocked in Asio's reactor. epoll_wait takes its timeout in
// whole milliseconds and Asio rounds up, so a driver that sleeps "until the next timer" wakes up
// to 1 ms after it; on top of the wheel's own 1 ms tick that made timers up to 2 ms late. The
// alarm is a timerfd registered with the reactor as an internal descriptor (as Asio's
// signal_set_service registers its pipe): set to the next timer deadline, with nanosecond
// resolution, it makes epoll_wait return on time. Its read operation never completes, so it
// counts as no work and keeps no run() alive.
//
// Without epoll and timerfd (not Linux) set() does nothing and the reactor's own timeout, rounded
// up to the millisecond, is what wakes the driver.
//
// Thread safety: set() is called only by the worker holding the driver; shutdown() only while no
// thread runs the context.

#ifndef KYOTO_SRC_REACTOR_ALARM_HPP
#define KYOTO_SRC_REACTOR_ALARM_HPP

#include <kyoto/detail/asio_bridge.hpp>

#include <chrono>

namespace kyoto::detail {

class reactor_alarm {
 public:
  using clock = std::chrono::steady_clock;

  explicit reactor_alarm(asio_reactor& reactor);
  ~reactor_alarm();
  reactor_alarm(const reactor_alarm&) = delete;
  reactor_alarm& operator=(const reactor_alarm&) = delete;

  /// Makes the reactor's next wait end no later than `when`.
  void set(clock::time_point when) noexcept;

  /// Removes the alarm from the reactor. Must run before the reactor shuts down.
  void shutdown() noexcept;

 private:
  asio_reactor& reactor_;
  // The timerfd, or -1 where there is none.
  int fd_ = -1;
  // The reactor's registration of fd_.
  asio_reactor::per_descriptor_data registration_{};
  // The time the timerfd is set for (none: max).
  clock::time_point armed_for_ = clock::time_point::max();
};

} // namespace kyoto::detail

#endif // KYOTO_SRC_REACTOR_ALARM_HPP
