// The driver's precise wake-up: a timerfd inside Asio's epoll reactor (see reactor_alarm.hpp).

#include "reactor_alarm.hpp"

#include <boost/asio/detail/reactor_op.hpp>

#if defined(BOOST_ASIO_HAS_EPOLL) && defined(BOOST_ASIO_HAS_TIMERFD)
#include <sys/timerfd.h>
#include <unistd.h>
#define KYOTO_HAS_REACTOR_ALARM 1
#endif

namespace kyoto::detail {

#if defined(KYOTO_HAS_REACTOR_ALARM)

namespace {

/// The read operation that stays queued on the timerfd: each time the reactor finds the fd
/// readable it drains the expiry count and stays (not_done), so epoll keeps watching the fd.
class drain_alarm_op : public boost::asio::detail::reactor_op {
 public:
  explicit drain_alarm_op(int fd)
      : reactor_op(boost::system::error_code(), &drain_alarm_op::do_perform,
                   &drain_alarm_op::do_complete),
        fd_(fd) {}

 private:
  static status do_perform(reactor_op* base) {
    std::uint64_t expirations = 0;
    // Non-blocking: EAGAIN when the alarm was re-set since it fired.
    [[maybe_unused]] ssize_t n =
        ::read(static_cast<drain_alarm_op*>(base)->fd_, &expirations, sizeof expirations);
    return not_done;
  }

  // Called only to destroy the operation (the reactor deregistering or shutting down).
  static void do_complete(void*, boost::asio::detail::scheduler_operation* base,
                          const boost::system::error_code&, std::size_t) {
    delete static_cast<drain_alarm_op*>(base);
  }

  int fd_;
};

} // namespace

reactor_alarm::reactor_alarm(asio_reactor& reactor) : reactor_(reactor) {
  fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd_ == -1)
    return; // no alarm: the reactor's millisecond timeout still bounds every wait
  if (reactor_.register_internal_descriptor(asio_reactor::read_op, fd_, registration_,
                                            new drain_alarm_op(fd_)) != 0) {
    reactor_.cleanup_descriptor_data(registration_);
    ::close(fd_);
    fd_ = -1;
  }
}

reactor_alarm::~reactor_alarm() {
  shutdown();
}

void reactor_alarm::set(clock::time_point when) noexcept {
  if (fd_ == -1)
    return;
  // Re-arming for the same future time is a no-op; a time already past is set again so that
  // the fd fires at once (its last expiry may have been drained).
  if (when == armed_for_ && when > clock::now())
    return;
  // steady_clock is CLOCK_MONOTONIC on Linux (libstdc++ and libc++).
  auto since_epoch = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch());
  if (since_epoch.count() <= 0)
    since_epoch = std::chrono::nanoseconds(1); // zero would disarm the timerfd
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(since_epoch.count() / 1'000'000'000);
  spec.it_value.tv_nsec = static_cast<long>(since_epoch.count() % 1'000'000'000);
  if (::timerfd_settime(fd_, TFD_TIMER_ABSTIME, &spec, nullptr) == 0)
    armed_for_ = when;
}

void reactor_alarm::shutdown() noexcept {
  if (fd_ == -1)
    return;
  reactor_.deregister_internal_descriptor(fd_, registration_); // destroys drain_alarm_op
  reactor_.cleanup_descriptor_data(registration_);
  ::close(fd_);
  fd_ = -1;
}

#else // no epoll/timerfd

reactor_alarm::reactor_alarm(asio_reactor& reactor) : reactor_(reactor) {
}
reactor_alarm::~reactor_alarm() = default;
void reactor_alarm::set(clock::time_point) noexcept {
}
void reactor_alarm::shutdown() noexcept {
}

#endif

} // namespace kyoto::detail
