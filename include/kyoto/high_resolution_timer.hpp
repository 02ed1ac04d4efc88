// kyoto/high_resolution_timer.hpp
//
// kyoto::high_resolution_timer: the drop-in for boost::asio::high_resolution_timer (same interface,
// on kyoto's timer wheels; see basic_waitable_timer.hpp).

#ifndef KYOTO_HIGH_RESOLUTION_TIMER_HPP
#define KYOTO_HIGH_RESOLUTION_TIMER_HPP

#include <kyoto/basic_waitable_timer.hpp>

#include <chrono>

namespace kyoto {

/// A waitable timer on std::chrono::high_resolution_clock.
using high_resolution_timer = basic_waitable_timer<std::chrono::high_resolution_clock>;

} // namespace kyoto

#endif // KYOTO_HIGH_RESOLUTION_TIMER_HPP
