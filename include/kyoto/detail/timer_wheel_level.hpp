// kyoto/detail/timer_wheel_level.hpp
//
// One level of the hierarchical timer wheel: 2^SlotBits slots, each an intrusive list of
// entries, plus a 64-bit occupancy mask (bit s set <=> slot s is non-empty), so the next
// occupied slot is found with one count-trailing-zeros instead of a scan.
//
// The level knows nothing about time: the wheel (timer_wheel.hpp) decides which slot an entry
// goes to and what time a slot stands for. Same thread-safety contract as the wheel.

#ifndef KYOTO_DETAIL_TIMER_WHEEL_LEVEL_HPP
#define KYOTO_DETAIL_TIMER_WHEEL_LEVEL_HPP

#include <kyoto/detail/timer_wheel_entry.hpp>

#include <array>
#include <bit>
#include <cassert>
#include <cstdint>
#include <utility>

namespace kyoto::detail {

template <unsigned SlotBits>
class timer_wheel_level {
  static_assert(SlotBits >= 1 && SlotBits <= 6,
                "timer_wheel_level: a level's occupancy mask is one 64-bit word, so SlotBits "
                "must be between 1 and 6 (2 to 64 slots)");

 public:
  /// The number of slots.
  static constexpr unsigned slot_count = 1u << SlotBits;

  bool empty() const noexcept { return occupied_ == 0; }
  std::uint64_t occupied() const noexcept { return occupied_; }
  const timer_list& slot(unsigned s) const noexcept { return slots_[s]; }

  /// Appends `e` to slot `s` and records the slot in the entry.
  void push(timer_entry& e, unsigned s) noexcept {
    assert(s < slot_count);
    slots_[s].push_back(e);
    e.slot_ = static_cast<std::uint8_t>(s);
    occupied_ |= std::uint64_t{1} << s;
  }

  /// Unlinks `e`, which must be in one of this level's slots.
  void erase(timer_entry& e) noexcept {
    timer_list& list = slots_[e.slot_];
    list.erase(e);
    if (list.empty()) {
      occupied_ &= ~(std::uint64_t{1} << e.slot_);
    }
  }

  /// Unlinks and returns the first entry of slot `s`, or null when it is empty.
  timer_entry* pop_front(unsigned s) noexcept {
    timer_entry* e = slots_[s].pop_front();
    if (slots_[s].empty()) {
      occupied_ &= ~(std::uint64_t{1} << s);
    }
    return e;
  }

  /// Empties slot `s` and returns what it held.
  timer_list take(unsigned s) noexcept {
    occupied_ &= ~(std::uint64_t{1} << s);
    return timer_list(std::move(slots_[s]));
  }

  /// The first occupied slot in the circular order from, from + 1, ..., slot_count - 1, 0, ...,
  /// from - 1. The level must not be empty.
  unsigned next_occupied(unsigned from) const noexcept {
    assert(occupied_ != 0 && from < slot_count);
    const std::uint64_t at_or_after = occupied_ & (~std::uint64_t{0} << from);
    return static_cast<unsigned>(std::countr_zero(at_or_after != 0 ? at_or_after : occupied_));
  }

 private:
  // Bit s is set exactly when slots_[s] is non-empty.
  std::uint64_t occupied_ = 0;
  // The entries of each slot, in arrival order.
  std::array<timer_list, slot_count> slots_{};
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_TIMER_WHEEL_LEVEL_HPP
