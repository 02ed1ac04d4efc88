// kyoto/steady_timer.hpp
//
// kyoto::steady_timer: the drop-in for boost::asio::steady_timer (same interface, on kyoto's timer
// wheels; see basic_waitable_timer.hpp).

#ifndef KYOTO_STEADY_TIMER_HPP
#define KYOTO_STEADY_TIMER_HPP

#include <kyoto/basic_waitable_timer.hpp>

#include <chrono>

namespace kyoto {

/// A waitable timer on std::chrono::steady_clock.
using steady_timer = basic_waitable_timer<std::chrono::steady_clock>;

} // namespace kyoto

#endif // KYOTO_STEADY_TIMER_HPP
