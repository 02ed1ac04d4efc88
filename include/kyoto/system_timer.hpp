// kyoto/system_timer.hpp
//
// kyoto::system_timer: the drop-in for boost::asio::system_timer (same interface, on kyoto's timer
// wheels; see basic_waitable_timer.hpp).

#ifndef KYOTO_SYSTEM_TIMER_HPP
#define KYOTO_SYSTEM_TIMER_HPP

#include <kyoto/basic_waitable_timer.hpp>

#include <chrono>

namespace kyoto {

/// A waitable timer on std::chrono::system_clock.
using system_timer = basic_waitable_timer<std::chrono::system_clock>;

} // namespace kyoto

#endif // KYOTO_SYSTEM_TIMER_HPP
