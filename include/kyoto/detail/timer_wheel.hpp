// kyoto/detail/timer_wheel.hpp
//
// A hierarchical timing wheel (after Varghese & Lauck, in the layout of Tokio's time driver):
// the data structure only. Time is an unsigned 64-bit tick count (1 tick = 1 ms in kyoto's
// driver); the wheel never reads a clock, it is moved forward by advance(now).
//
// Geometry. Levels L (default 6) of S = 2^B slots (default B = 6, S = 64). A slot of level l
// spans S^l ticks and the whole level spans S^(l+1), so the wheel covers range = 2^(L*B) ticks
// (2^36 ms, about 2.2 years, by default). Think of a time t as L base-S digits:
// digit(t, l) = (t >> l*B) & (S - 1).
//
// Placement. An entry armed at time `now` for deadline d is stored under a slot time `when`:
// d itself when d - now < range, else now + range - 1 (clamped: the entry is looked at again
// when that slot comes due, re-armed from there, and so never dropped nor fired early). Its
// level is the highest digit in which `when` and `now` differ, (bit_width((now ^ when) |
// (S - 1)) - 1) / B, or the top level when they differ above bit L*B (when is past the end of
// the top level's current turn); its slot is digit(when, level). Hence for every level below
// the top, an occupied slot lies strictly after now's digit in now's current turn of that
// level, and the lowest non-empty level holds the earliest slot. The top level is circular: a
// slot at or before now's digit stands for the next turn (its start is one range later).
//
// Expiration and cascading. The start of the first occupied slot after now's digit in the
// lowest non-empty level is the next time anything can happen (next_expiration(); exact at
// level 0, where a slot is one tick). advance(target) repeatedly jumps now to that start T
// while T <= target and empties the slot: an entry with deadline <= T expires (it has
// deadline == T, so expirations come out in deadline order); an entry due after `target` is
// put aside and re-armed once now == target; any other entry is re-armed from T, which puts it
// in a strictly lower level (cascading) or, for a clamped one, later in the top level. Expired
// entries go to a pending list and are handed to the callback only once the structure has
// reached `target`, so the callback sees now() == target and may insert and remove freely.
// A jump of a whole range or more empties every slot anyway; it is done in one pass (entries
// due by `target` are merge-sorted by deadline) so that far-future entries cost O(1) each,
// not one re-arm per range of skipped time.
//
// Early cascading. Emptying a coarse slot re-arms every entry in it, possibly many thousands,
// and doing that at T, the moment some of them are due, makes them late by the time it takes.
// One tick before, at now == T - 1, it can be done ahead of time: every level-0 slot of now's
// turn is then in the past, so level 0 is empty and can stand for the next turn [T, T + S).
// cascade_early() takes the slot due at T and re-arms its entries as seen from T (placement
// base T instead of now); the wheel is then "staged" until now moves: in every level l whose
// current turn ends at T (digits 0..l of now all S - 1), a slot stands for the next turn, as
// the top level's always may. Inserts while staged are placed from T as well (a deadline > now
// is >= T), so the lowest non-empty level still holds the earliest slot. The cascade may be
// done in parts (cascade_early(max_entries)), so that the owner can release its lock between
// them: until the coarse slot is empty it stays the first slot to come due (next_slot() names
// it although lower levels are not empty; they hold only what was cascaded, due at T or later),
// and an advance beyond now moves the rest first. next_advance() tells the owner when to call
// advance() so that cascades can happen early: one tick before a coarse slot comes due.
//
// Never early: an entry is delivered only after a slot start T <= target with deadline <= T.
// Never late: every entry's slot start is <= its deadline, so an entry due by `target` is in a
// slot processed before advance() returns, and re-arming it keeps its slot start <= deadline.
//
// Complexity: insert, remove, is_armed O(1); next_expiration O(L); advance O(L + number of
// entries it touches, each at most L times), O(n + k log k) for a jump of a whole range or
// more (n entries, k due). No allocation anywhere.
//
// Thread safety: none. The wheel and every entry armed in it belong to one owner (a worker,
// or whoever holds the lock guarding the wheel), which serialises all calls. The callback of
// advance() runs on the calling thread and may call insert/remove/is_armed/now on the same
// wheel, but not advance.

#ifndef KYOTO_DETAIL_TIMER_WHEEL_HPP
#define KYOTO_DETAIL_TIMER_WHEEL_HPP

#include <kyoto/detail/timer_wheel_entry.hpp>
#include <kyoto/detail/timer_wheel_level.hpp>

#include <array>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <utility>

namespace kyoto::detail {

template <unsigned Levels = 6, unsigned SlotBits = 6>
class basic_timer_wheel {
  static_assert(Levels >= 1, "basic_timer_wheel: needs at least one level");
  static_assert(SlotBits >= 1 && SlotBits <= 6,
                "basic_timer_wheel: a level's occupancy mask is one 64-bit word, so SlotBits "
                "must be between 1 and 6 (2 to 64 slots per level)");
  static_assert(Levels * SlotBits < 64,
                "basic_timer_wheel: the range 2^(Levels*SlotBits) must fit in 64 bits");

 public:
  /// The number of levels.
  static constexpr unsigned level_count = Levels;
  /// The number of slots per level.
  static constexpr unsigned slots_per_level = 1u << SlotBits;
  /// The span of the whole wheel in ticks; later deadlines are clamped and re-armed.
  static constexpr std::uint64_t range = std::uint64_t{1} << (Levels * SlotBits);

  explicit basic_timer_wheel(std::uint64_t now = 0) noexcept : now_(now) {}
  basic_timer_wheel(const basic_timer_wheel&) = delete;
  basic_timer_wheel& operator=(const basic_timer_wheel&) = delete;
  ~basic_timer_wheel() { clear(); }

  /// The time the wheel has been advanced to.
  std::uint64_t now() const noexcept { return now_; }
  /// The number of armed entries (including expired ones not yet delivered).
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  /// Arms `e` for `deadline`. A deadline <= now() is not inserted and false is returned (the
  /// caller fires it at once); `e` is then not armed. An `e` already armed in this wheel is
  /// disarmed first (re-arming); `e` must not be armed in another wheel.
  bool insert(timer_entry& e, std::uint64_t deadline) noexcept {
    if (e.state_ != timer_entry::state::idle) {
      remove(e);
    }
    if (deadline <= now_) {
      return false;
    }
    e.deadline_ = deadline;
    place(e);
    ++size_;
    return true;
  }

  /// Disarms `e` in O(1). An entry that is not armed is left alone.
  void remove(timer_entry& e) noexcept {
    switch (e.state_) {
    case timer_entry::state::idle:
      return;
    case timer_entry::state::slotted:
      levels_[e.level_].erase(e);
      cascading_ = cascading_ && cascading(); // the cascaded slot may just have become empty
      break;
    case timer_entry::state::pending:
      pending_.erase(e);
      break;
    case timer_entry::state::moving:
      assert(!"basic_timer_wheel::remove: entry is in the middle of an advance step");
      return;
    }
    e.state_ = timer_entry::state::idle;
    --size_;
  }

  bool is_armed(const timer_entry& e) const noexcept {
    return e.state_ != timer_entry::state::idle;
  }

  /// The level whose slot holds `e`, or -1 when `e` is not in a slot (not armed, or expired
  /// and waiting for delivery). For tests and diagnostics.
  int level_of(const timer_entry& e) const noexcept {
    return e.state_ == timer_entry::state::slotted ? e.level_ : -1;
  }

  /// The earliest time at which advance() may have something to do: a lower bound on the next
  /// deadline, exact when that deadline is in level 0; now() if expired entries wait for
  /// delivery (a callback threw); nullopt when the wheel is empty.
  std::optional<std::uint64_t> next_expiration() const noexcept {
    if (!pending_.empty()) {
      return now_;
    }
    if (const std::optional<expiration> exp = next_slot()) {
      return exp->time;
    }
    return std::nullopt;
  }

  /// When the owner should next call advance(): next_expiration(), or one tick earlier when the
  /// slot due then is a coarse one whose entries can be cascaded early (see cascade_early()).
  std::optional<std::uint64_t> next_advance() const noexcept {
    if (!pending_.empty()) {
      return now_;
    }
    if (const std::optional<expiration> exp = next_slot()) {
      return exp->level > 0 ? exp->time - 1 : exp->time;
    }
    return std::nullopt;
  }

  /// When advance() must next be called for `e`: the start of its slot, or one tick earlier
  /// for a coarse slot (so that it can be cascaded early); never after e's deadline and never
  /// before next_advance(). now() for an entry not in a slot (not armed, or expired).
  std::uint64_t next_advance_for(const timer_entry& e) const noexcept {
    if (e.state_ != timer_entry::state::slotted) {
      return now_;
    }
    const std::uint64_t start = slot_start(e.level_, e.slot_);
    return e.level_ > 0 ? start - 1 : start;
  }

  /// True when cascade_early() has something to do: the next slot is a coarse one due at
  /// now() + 1 and not yet (entirely) cascaded.
  bool can_cascade_early() const noexcept {
    if (!pending_.empty()) {
      return false;
    }
    if (cascading()) {
      return true;
    }
    if (staged_) {
      return false;
    }
    const std::optional<expiration> exp = next_slot();
    return exp && exp->level > 0 && exp->time == now_ + 1;
  }

  /// Re-arms, one tick ahead of time, up to `max_entries` entries of the coarse slot due at
  /// now() + 1, so that advance(now() + 1) only delivers; call it again (can_cascade_early()
  /// says whether to) for the rest. Does nothing (and returns 0) unless can_cascade_early();
  /// returns the number of entries moved. Never delivers anything and never changes now(). An
  /// advance() beyond now() first finishes a cascade left unfinished.
  std::size_t cascade_early(std::size_t max_entries = SIZE_MAX) noexcept {
    if (!can_cascade_early()) {
      return 0;
    }
    if (!cascading()) {
      const expiration exp = *next_slot();
      staged_ = true;
      cascading_ = true;
      cascade_level_ = exp.level;
      cascade_slot_ = exp.slot;
    }
    return continue_cascade(max_entries);
  }

  /// Moves time forward to `now` and calls fn(timer_entry&) once for each armed entry whose
  /// deadline is <= now, in deadline order. Each entry is disarmed before its call; fn sees
  /// now() == `now` and may insert and remove entries (a removed expired entry is not
  /// delivered). Returns the number of calls. If fn throws, the entries not yet delivered stay
  /// armed and the next advance() delivers them first. Throws std::invalid_argument when `now`
  /// is earlier than now().
  template <typename F>
  std::size_t advance(std::uint64_t now, F&& fn) {
    if (now < now_) {
      throw std::invalid_argument(
          "kyoto::detail::basic_timer_wheel::advance: the new time is earlier than now()");
    }
    if (now - now_ >= range) {
      advance_far(now);
    } else {
      advance_near(now);
    }
    std::size_t fired = 0;
    while (timer_entry* e = pending_.pop_front()) {
      e->state_ = timer_entry::state::idle;
      --size_;
      ++fired;
      fn(*e);
    }
    return fired;
  }

  /// Disarms every entry without calling anything.
  void clear() noexcept {
    for (level_type& level : levels_) {
      while (!level.empty()) {
        disarm_all(level.take(level.next_occupied(0)));
      }
    }
    disarm_all(std::move(pending_));
    size_ = 0;
    staged_ = false;
    cascading_ = false;
  }

  /// Checks every structural invariant in O(size + Levels * slots); for tests.
  bool check_invariants() const noexcept {
    std::size_t count = 0;
    std::optional<std::uint64_t> earliest;
    for (unsigned l = 0; l < Levels; ++l) {
      for (unsigned s = 0; s < slots_per_level; ++s) {
        const timer_list& list = levels_[l].slot(s);
        const bool bit = (levels_[l].occupied() >> s) & 1u;
        if (bit == list.empty()) {
          return false;
        }
        if (list.empty()) {
          continue;
        }
        if (l + 1 < Levels && s <= digit(now_, l) && !next_turn_allowed(l)) {
          return false; // below the top level, occupied slots lie after now's digit
        }
        const std::uint64_t start = slot_start(l, s);
        if (start <= now_) {
          return false;
        }
        if (!earliest || start < *earliest) {
          earliest = start;
        }
        const timer_entry* prev = nullptr;
        for (const timer_entry* e = list.front(); e != nullptr; e = timer_list::next(*e)) {
          if (e->state_ != timer_entry::state::slotted || e->level_ != l || e->slot_ != s ||
              e->prev_ != prev || e->deadline_ < start) {
            return false;
          }
          prev = e;
          ++count;
        }
      }
    }
    const std::optional<expiration> next = next_slot();
    if (next.has_value() != earliest.has_value() || (next && next->time != *earliest)) {
      return false;
    }
    for (const timer_entry* e = pending_.front(); e != nullptr; e = timer_list::next(*e)) {
      if (e->state_ != timer_entry::state::pending || e->deadline_ > now_) {
        return false;
      }
      ++count;
    }
    // The early-cascade state: a cascade is staged, staging happens at the end of a level-0
    // turn, and the slot being cascaded is the one due at now + 1.
    if (cascading_ &&
        (!staged_ || !cascading() || slot_start(cascade_level_, cascade_slot_) != now_ + 1)) {
      return false;
    }
    if (staged_ && ((now_ + 1) & slot_mask) != 0) {
      return false;
    }
    return count == size_;
  }

 private:
  using level_type = timer_wheel_level<SlotBits>;

  static constexpr unsigned top_level = Levels - 1;
  static constexpr std::uint64_t slot_mask = slots_per_level - 1;

  // A slot and the time it comes due.
  struct expiration {
    // The start of the slot's span, in ticks.
    std::uint64_t time;
    // The level of the slot.
    unsigned level;
    // The slot index.
    unsigned slot;
  };

  static unsigned digit(std::uint64_t t, unsigned level) noexcept {
    return static_cast<unsigned>((t >> (level * SlotBits)) & slot_mask);
  }

  // The level for slot time `when`, given now < when < now + range.
  static unsigned level_for(std::uint64_t now, std::uint64_t when) noexcept {
    const std::uint64_t differ = (now ^ when) | slot_mask;
    if (differ >= range) {
      return top_level;
    }
    return static_cast<unsigned>(std::bit_width(differ) - 1) / SlotBits;
  }

  // The time slot `s` of level `l` next comes due, seen from now_.
  std::uint64_t slot_start(unsigned l, unsigned s) const noexcept {
    const unsigned shift = l * SlotBits;
    const std::uint64_t turn = std::uint64_t{1} << (shift + SlotBits);
    std::uint64_t start = (now_ & ~(turn - 1)) + (std::uint64_t{s} << shift);
    if (s <= digit(now_, l)) {
      // The slot stands for its next turn: always allowed in the top level, below it only for
      // the entries of an early cascade.
      assert(l == top_level || next_turn_allowed(l));
      start += turn;
    }
    return start;
  }

  // Whether a slot of level l below the top may stand for the level's next turn: when the
  // wheel is staged and now's turn of that level ends at now_ + 1.
  bool next_turn_allowed(unsigned l) const noexcept {
    const std::uint64_t turn_mask = (std::uint64_t{1} << ((l + 1) * SlotBits)) - 1;
    return staged_ && ((now_ + 1) & turn_mask) == 0;
  }

  // True while cascade_early() has moved part of a coarse slot (due at now_ + 1) and part of
  // it is left.
  bool cascading() const noexcept {
    return cascading_ && ((levels_[cascade_level_].occupied() >> cascade_slot_) & 1u) != 0;
  }

  // Moves up to max_entries entries of the coarse slot being cascaded early; returns how many.
  std::size_t continue_cascade(std::size_t max_entries) noexcept {
    std::size_t moved = 0;
    while (moved < max_entries) {
      timer_entry* e = levels_[cascade_level_].pop_front(cascade_slot_);
      if (e == nullptr) {
        break;
      }
      place(*e); // from base now_ + 1: into a lower level (next turn) or later in the top one
      ++moved;
    }
    cascading_ = cascading();
    return moved;
  }

  // The first slot to come due, or nullopt when no slot is occupied.
  std::optional<expiration> next_slot() const noexcept {
    if (cascading()) {
      // The rest of the coarse slot comes due first, although lower levels are not empty (they
      // hold what was cascaded, all due at now_ + 1 or later).
      return expiration{now_ + 1, cascade_level_, cascade_slot_};
    }
    for (unsigned l = 0; l < Levels; ++l) {
      if (!levels_[l].empty()) {
        const unsigned s = levels_[l].next_occupied((digit(now_, l) + 1) & slot_mask);
        return expiration{slot_start(l, s), l, s};
      }
    }
    return std::nullopt;
  }

  // Puts `e` (deadline_ > now_) in its slot as seen from now_, or from now_ + 1 when staged.
  void place(timer_entry& e) noexcept {
    assert(e.deadline_ > now_);
    const std::uint64_t base = staged_ ? now_ + 1 : now_;
    const std::uint64_t when = e.deadline_ - base >= range ? base + (range - 1) : e.deadline_;
    const unsigned l = level_for(base, when);
    e.level_ = static_cast<std::uint8_t>(l);
    e.state_ = timer_entry::state::slotted;
    levels_[l].push(e, digit(when, l));
  }

  // advance() for target - now_ < range: processes slots one by one, in time order.
  void advance_near(std::uint64_t target) noexcept {
    if (target != now_) {
      if (cascading()) {
        continue_cascade(SIZE_MAX); // the rest, so that the slot is empty before now_ moves
      }
      cascading_ = false; // also when cancels emptied the slot: the flag must not outlive now_
    }
    timer_list later;
    for (;;) {
      const std::optional<expiration> exp = next_slot();
      if (!exp || exp->time > target) {
        break;
      }
      assert(exp->time > now_);
      now_ = exp->time;
      staged_ = false;
      timer_list due = levels_[exp->level].take(exp->slot);
      while (timer_entry* e = due.pop_front()) {
        if (e->deadline_ <= now_) {
          assert(e->deadline_ == now_);
          e->state_ = timer_entry::state::pending;
          pending_.push_back(*e);
        } else if (e->deadline_ > target) {
          e->state_ = timer_entry::state::moving;
          later.push_back(*e);
        } else {
          place(*e); // cascades into a lower level
        }
      }
    }
    if (target != now_) {
      now_ = target;
      staged_ = false;
    }
    while (timer_entry* e = later.pop_front()) {
      place(*e);
    }
  }

  // advance() for target - now_ >= range: every slot comes due, so empty them all in one pass.
  void advance_far(std::uint64_t target) noexcept {
    timer_list due;
    timer_list later;
    for (level_type& level : levels_) {
      while (!level.empty()) {
        timer_list slot = level.take(level.next_occupied(0));
        while (timer_entry* e = slot.pop_front()) {
          e->state_ = timer_entry::state::moving;
          (e->deadline_ <= target ? due : later).push_back(*e);
        }
      }
    }
    due.sort_by_deadline();
    for (timer_entry* e = due.front(); e != nullptr; e = timer_list::next(*e)) {
      e->state_ = timer_entry::state::pending;
    }
    pending_.splice_back(due);
    now_ = target;
    staged_ = false;
    cascading_ = false;
    while (timer_entry* e = later.pop_front()) {
      place(*e);
    }
  }

  static void disarm_all(timer_list list) noexcept {
    while (timer_entry* e = list.pop_front()) {
      e->state_ = timer_entry::state::idle;
    }
  }

  // The time the wheel has been advanced to.
  std::uint64_t now_;
  // The number of armed entries, pending ones included.
  std::size_t size_ = 0;
  // True from cascade_early() until now_ moves: entries are placed as seen from now_ + 1.
  bool staged_ = false;
  // True from an unfinished cascade_early() until the rest is done (see cascading()).
  bool cascading_ = false;
  // The level and slot of the coarse slot being cascaded early, while cascading_.
  unsigned cascade_level_ = 0;
  unsigned cascade_slot_ = 0;
  // Expired entries not yet handed to advance()'s callback, in deadline order.
  timer_list pending_;
  // Level l holds entries whose slot time first differs from now_ in digit l.
  std::array<level_type, Levels> levels_{};
};

/// The production geometry: 6 levels of 64 slots, 2^36 ticks (about 2.2 years at 1 ms).
using timer_wheel = basic_timer_wheel<>;

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_TIMER_WHEEL_HPP
