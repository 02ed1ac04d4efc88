// kyoto/detail/timer_wheel_entry.hpp
//
// The intrusive node of the timer wheel (`timer_entry`) and the doubly-linked list of such
// nodes that every wheel slot and the wheel's pending list are made of (`timer_list`).
//
// A user embeds a timer_entry in (or derives from it in) its own timer object; the wheel links
// the entry in place, so arming and cancelling never allocate. The entry carries its deadline,
// its two links and its location (level, slot, state), which is what makes removal O(1).
//
// Protocol: an entry belongs to at most one wheel at a time and is touched only by the owner of
// that wheel (see timer_wheel.hpp); it must not be destroyed or moved while armed (a debug
// assertion checks the former). Destroying the wheel disarms every entry it still holds.

#ifndef KYOTO_DETAIL_TIMER_WHEEL_ENTRY_HPP
#define KYOTO_DETAIL_TIMER_WHEEL_ENTRY_HPP

#include <cassert>
#include <cstddef>
#include <cstdint>

namespace kyoto::detail {

template <unsigned Levels, unsigned SlotBits>
class basic_timer_wheel;
template <unsigned SlotBits>
class timer_wheel_level;
class timer_list;

/// A timer as the wheel sees it. Derive from it (or embed it) and recover the outer object in
/// the wheel's callback with static_cast (or offsetof).
struct timer_entry {
 public:
  timer_entry() noexcept = default;
  timer_entry(const timer_entry&) = delete;
  timer_entry& operator=(const timer_entry&) = delete;
  ~timer_entry() { assert(state_ == state::idle && "timer_entry destroyed while still armed"); }

  /// The deadline this entry was last armed for (meaningless before the first insert).
  std::uint64_t deadline() const noexcept { return deadline_; }

 private:
  friend class timer_list;
  template <unsigned, unsigned>
  friend class basic_timer_wheel;
  template <unsigned>
  friend class timer_wheel_level;

  enum class state : std::uint8_t {
    // Not armed: in no list of any wheel.
    idle,
    // Armed, in slot `slot_` of level `level_`.
    slotted,
    // Armed and expired: in the wheel's pending list, waiting for advance() to deliver it.
    pending,
    // In a private list of advance() for the duration of one advance step.
    moving,
  };

  // The time at which the entry expires, in wheel ticks.
  std::uint64_t deadline_ = 0;
  // The previous entry of the list that holds this one, or null at the head.
  timer_entry* prev_ = nullptr;
  // The next entry of the list that holds this one, or null at the tail.
  timer_entry* next_ = nullptr;
  // The wheel level whose slot holds the entry (state slotted only).
  std::uint8_t level_ = 0;
  // The slot of that level (state slotted only).
  std::uint8_t slot_ = 0;
  // Where the entry is; see `state`.
  state state_ = state::idle;
};

/// An intrusive FIFO of timer entries with O(1) push, pop and erase of any member.
class timer_list {
 public:
  timer_list() noexcept = default;
  timer_list(const timer_list&) = delete;
  timer_list& operator=(const timer_list&) = delete;
  timer_list(timer_list&& other) noexcept : head_(other.head_), tail_(other.tail_) {
    other.head_ = other.tail_ = nullptr;
  }
  timer_list& operator=(timer_list&&) = delete;

  bool empty() const noexcept { return head_ == nullptr; }
  timer_entry* front() const noexcept { return head_; }
  static timer_entry* next(const timer_entry& e) noexcept { return e.next_; }

  void push_back(timer_entry& e) noexcept {
    e.prev_ = tail_;
    e.next_ = nullptr;
    if (tail_ != nullptr) {
      tail_->next_ = &e;
    } else {
      head_ = &e;
    }
    tail_ = &e;
  }

  /// Unlinks `e`, which must be a member of this list.
  void erase(timer_entry& e) noexcept {
    if (e.prev_ != nullptr) {
      e.prev_->next_ = e.next_;
    } else {
      assert(head_ == &e && "timer_list::erase: entry is not in this list");
      head_ = e.next_;
    }
    if (e.next_ != nullptr) {
      e.next_->prev_ = e.prev_;
    } else {
      assert(tail_ == &e && "timer_list::erase: entry is not in this list");
      tail_ = e.prev_;
    }
    e.prev_ = e.next_ = nullptr;
  }

  /// Unlinks and returns the first entry, or null when empty.
  timer_entry* pop_front() noexcept {
    timer_entry* e = head_;
    if (e != nullptr) {
      erase(*e);
    }
    return e;
  }

  /// Moves every entry of `other` to the back of this list, keeping their order.
  void splice_back(timer_list& other) noexcept {
    if (other.head_ == nullptr) {
      return;
    }
    if (tail_ != nullptr) {
      tail_->next_ = other.head_;
      other.head_->prev_ = tail_;
    } else {
      head_ = other.head_;
    }
    tail_ = other.tail_;
    other.head_ = other.tail_ = nullptr;
  }

  /// Stable sort by deadline: bottom-up merge sort over the links, O(n log n), no allocation.
  void sort_by_deadline() noexcept {
    if (head_ == tail_) {
      return;
    }
    timer_entry* list = head_;
    for (std::size_t width = 1;; width *= 2) {
      timer_entry* p = list;
      timer_entry* tail = nullptr;
      list = nullptr;
      std::size_t merges = 0;
      while (p != nullptr) {
        ++merges;
        // Run a = [p, q) of up to `width` entries, run b = up to `width` entries from q.
        timer_entry* q = p;
        std::size_t a_len = 0;
        while (a_len < width && q != nullptr) {
          ++a_len;
          q = q->next_;
        }
        std::size_t b_len = width;
        while (a_len > 0 || (b_len > 0 && q != nullptr)) {
          timer_entry* e;
          if (a_len > 0 && (b_len == 0 || q == nullptr || p->deadline_ <= q->deadline_)) {
            e = p;
            p = p->next_;
            --a_len;
          } else {
            e = q;
            q = q->next_;
            --b_len;
          }
          if (tail != nullptr) {
            tail->next_ = e;
          } else {
            list = e;
          }
          e->prev_ = tail;
          tail = e;
        }
        p = q;
      }
      tail->next_ = nullptr;
      if (merges <= 1) {
        head_ = list;
        tail_ = tail;
        return;
      }
    }
  }

 private:
  // The first entry, or null when the list is empty.
  timer_entry* head_ = nullptr;
  // The last entry, or null when the list is empty.
  timer_entry* tail_ = nullptr;
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_TIMER_WHEEL_ENTRY_HPP
