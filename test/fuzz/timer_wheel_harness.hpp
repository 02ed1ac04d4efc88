// test/fuzz/timer_wheel_harness.hpp
//
// Differential harness for kyoto::detail::basic_timer_wheel: drives a wheel and a reference
// model (a std::multimap from deadline to entry id) with the same operations and reports the
// first disagreement. Shared by the libFuzzer target (timer_wheel_fuzz.cpp) and the unit test
// (unit/timer_wheel_test.cpp), which both turn a byte string into the same operation sequence
// with run_timer_wheel_ops().
//
// Checked after every operation: the wheel's size and per-entry armed state and deadline equal
// the model's; next_expiration() is never later than the model's earliest deadline (and is
// exactly it when that deadline shares now's level-0 turn and there are two levels or more);
// next_advance() lies between now() and next_expiration() (at now() only when an early cascade
// is possible); the wheel's internal invariants. cascade_early() delivers and loses nothing.
// Checked on every advance(t): each callback gets an entry the model says is due (deadline <= t)
// and not yet delivered, in non-decreasing deadline order, with now()
// == t; afterwards every due entry has been delivered (or removed by a callback) and none remains
// armed with deadline <= t.

#ifndef KYOTO_TEST_FUZZ_TIMER_WHEEL_HARNESS_HPP
#define KYOTO_TEST_FUZZ_TIMER_WHEEL_HARNESS_HPP

#include <kyoto/detail/timer_wheel.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace kyoto::test {

inline constexpr std::uint64_t tick_max = std::numeric_limits<std::uint64_t>::max();

inline std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return b > tick_max - a ? tick_max : a + b;
}

/// Reads little-endian integers from a byte string; past its end every read yields zero.
class byte_reader {
 public:
  byte_reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool done() const { return pos_ >= size_; }
  std::uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::uint64_t bytes(unsigned n) {
    std::uint64_t v = 0;
    for (unsigned i = 0; i < n; ++i) {
      v |= std::uint64_t{u8()} << (8 * i);
    }
    return v;
  }

 private:
  // The input.
  const std::uint8_t* data_;
  // The input's length.
  std::size_t size_;
  // The next byte to read.
  std::size_t pos_ = 0;
};

template <unsigned Levels, unsigned SlotBits>
class wheel_differ {
 public:
  using wheel_type = kyoto::detail::basic_timer_wheel<Levels, SlotBits>;

  wheel_differ(std::size_t pool_size, std::uint64_t start)
      : items_(pool_size), model_iter_(pool_size), wheel_(start) {
    for (std::size_t i = 0; i < pool_size; ++i) {
      items_[i].id = i;
    }
  }

  const wheel_type& wheel() const { return wheel_; }
  std::uint64_t now() const { return wheel_.now(); }
  std::size_t pool_size() const { return items_.size(); }
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  std::size_t delivered() const { return delivered_; }
  bool armed(std::size_t id) const { return model_iter_[id].has_value(); }

  /// Arms entry `id` for `deadline` in both; re-arms it if armed.
  bool insert(std::size_t id, std::uint64_t deadline) {
    model_erase(id);
    const bool expect = deadline > wheel_.now();
    const bool got = wheel_.insert(items_[id], deadline);
    if (got != expect) {
      return fail("insert(" + std::to_string(id) + ", " + std::to_string(deadline) + ") returned " +
                  std::to_string(got));
    }
    if (got) {
      model_iter_[id] = model_.emplace(deadline, id);
    }
    return check_entry(id);
  }

  /// Disarms entry `id` in both (a no-op for an unarmed one).
  bool remove(std::size_t id) {
    model_erase(id);
    wheel_.remove(items_[id]);
    return check_entry(id);
  }

  /// advance(target); `actions` (may be null) decides what each callback does.
  bool advance(std::uint64_t target, byte_reader* actions) {
    due_.clear();
    for (auto it = model_.begin(); it != model_.end() && it->first <= target; ++it) {
      due_.insert(it->second);
    }
    in_advance_ = true;
    last_deadline_ = 0;
    std::size_t calls = 0;
    const std::size_t fired = wheel_.advance(target, [&](kyoto::detail::timer_entry& e) {
      ++calls;
      on_fire(static_cast<item&>(e).id, target, actions);
    });
    in_advance_ = false;
    if (!ok()) {
      return false;
    }
    if (fired != calls) {
      return fail("advance returned " + std::to_string(fired) + " after " + std::to_string(calls) +
                  " calls");
    }
    if (!due_.empty()) {
      return fail("advance(" + std::to_string(target) + ") left " + std::to_string(due_.size()) +
                  " due entries behind, e.g. id " + std::to_string(*due_.begin()));
    }
    if (wheel_.now() != target) {
      return fail("now() is " + std::to_string(wheel_.now()) + " after advance(" +
                  std::to_string(target) + ")");
    }
    return check();
  }

  /// cascade_early(max_entries) (a no-op unless the wheel allows it): nothing may be delivered
  /// or lost, at most max_entries move, and an unlimited call finishes the cascade.
  bool cascade_early(std::size_t max_entries = SIZE_MAX) {
    const bool could = wheel_.can_cascade_early();
    const std::size_t moved = wheel_.cascade_early(max_entries);
    if (!could && moved != 0) {
      return fail("cascade_early() moved " + std::to_string(moved) +
                  " entries although can_cascade_early() was false");
    }
    if (moved > max_entries) {
      return fail("cascade_early(" + std::to_string(max_entries) + ") moved " +
                  std::to_string(moved));
    }
    if (max_entries == SIZE_MAX && wheel_.can_cascade_early()) {
      return fail("can_cascade_early() is still true after cascade_early()");
    }
    cascades_ += could ? 1 : 0;
    partial_cascades_ += could && wheel_.can_cascade_early() ? 1 : 0;
    return check();
  }

  /// The number of cascade_early() calls that left part of the slot for later.
  std::size_t partial_cascades() const { return partial_cascades_; }

  /// The number of effective cascade_early() calls so far.
  std::size_t early_cascades() const { return cascades_; }

  /// Compares the whole state.
  bool check() {
    if (!ok()) {
      return false;
    }
    if (wheel_.size() != model_.size() || wheel_.empty() != model_.empty()) {
      return fail("size " + std::to_string(wheel_.size()) + ", model has " +
                  std::to_string(model_.size()));
    }
    for (std::size_t id = 0; id < items_.size(); ++id) {
      if (!check_entry(id)) {
        return false;
      }
    }
    const std::optional<std::uint64_t> next = wheel_.next_expiration();
    if (model_.empty()) {
      if (next) {
        return fail("next_expiration() is " + std::to_string(*next) + " on an empty wheel");
      }
    } else {
      const std::uint64_t earliest = model_.begin()->first;
      if (earliest <= wheel_.now()) {
        return fail("an entry with deadline " + std::to_string(earliest) +
                    " is still armed at now " + std::to_string(wheel_.now()));
      }
      if (!next || *next > earliest || *next <= wheel_.now()) {
        return fail("next_expiration() is " + (next ? std::to_string(*next) : "nullopt") +
                    ", earliest deadline " + std::to_string(earliest) + ", now " +
                    std::to_string(wheel_.now()));
      }
      const std::optional<std::uint64_t> step = wheel_.next_advance();
      if (!step || *step > *next || *step < wheel_.now() ||
          (*step == wheel_.now() && !wheel_.can_cascade_early())) {
        return fail("next_advance() is " + (step ? std::to_string(*step) : "nullopt") +
                    ", next_expiration() " + std::to_string(*next));
      }
      // With one level, clamped entries share level 0 and may come first.
      if (Levels > 1 && (earliest >> SlotBits) == (wheel_.now() >> SlotBits) && *next != earliest) {
        return fail("next_expiration() is not exact in level 0");
      }
    }
    if (!wheel_.check_invariants()) {
      return fail("check_invariants() failed");
    }
    return true;
  }

  bool fail(const std::string& what) {
    if (error_.empty()) {
      std::ostringstream out;
      out << "timer wheel <" << Levels << " levels, " << (1u << SlotBits) << " slots> at now "
          << wheel_.now() << ": " << what;
      error_ = out.str();
    }
    return false;
  }

 private:
  struct item : kyoto::detail::timer_entry {
    // The index in items_.
    std::size_t id = 0;
  };

  void model_erase(std::size_t id) {
    if (model_iter_[id]) {
      model_.erase(*model_iter_[id]);
      model_iter_[id].reset();
    }
    if (in_advance_) {
      due_.erase(id); // a removed or re-armed due entry must not be delivered
    }
  }

  bool check_entry(std::size_t id) {
    const bool armed = model_iter_[id].has_value();
    if (wheel_.is_armed(items_[id]) != armed) {
      return fail("entry " + std::to_string(id) + " armed " +
                  std::to_string(wheel_.is_armed(items_[id])) + ", model says " +
                  std::to_string(armed));
    }
    if (armed && items_[id].deadline() != (*model_iter_[id])->first) {
      return fail("entry " + std::to_string(id) + " has the wrong deadline");
    }
    if (armed && wheel_.level_of(items_[id]) >= 0) {
      const std::uint64_t at = wheel_.next_advance_for(items_[id]);
      const std::optional<std::uint64_t> first = wheel_.next_advance();
      if (at > items_[id].deadline() || at < wheel_.now() || !first || at < *first) {
        return fail("next_advance_for(entry " + std::to_string(id) + ") is " + std::to_string(at));
      }
    }
    return true;
  }

  void on_fire(std::size_t id, std::uint64_t target, byte_reader* actions) {
    if (!ok()) {
      return;
    }
    const std::uint64_t deadline = items_[id].deadline();
    if (due_.erase(id) == 0) {
      fail("delivered entry " + std::to_string(id) + " (deadline " + std::to_string(deadline) +
           ") which is not due at " + std::to_string(target) + " or was already delivered");
      return;
    }
    if (deadline > target || deadline < last_deadline_) {
      fail("delivered deadline " + std::to_string(deadline) + " out of order or early");
      return;
    }
    if (wheel_.is_armed(items_[id]) || wheel_.now() != target) {
      fail("callback sees the entry armed or now() != target");
      return;
    }
    last_deadline_ = deadline;
    model_.erase(*model_iter_[id]);
    model_iter_[id].reset();
    ++delivered_;
    if (actions == nullptr) {
      return;
    }
    const std::uint8_t what = actions->u8();
    const std::size_t other = actions->u8() % items_.size();
    switch (what % 8) {
    case 0: // re-insert the fired entry (0 = at now, which must be refused)
      insert(id, saturating_add(target, actions->u8() % 4 == 0 ? 0 : actions->bytes(2)));
      break;
    case 1:
      remove(other);
      break;
    case 2: // arm or re-arm another one (possibly a due one not yet delivered)
      insert(other, saturating_add(target, actions->bytes(1)));
      break;
    default:
      break;
    }
  }

  // The entries (declared before the wheel, so the wheel is destroyed first and disarms them).
  std::vector<item> items_;
  // The model: deadline -> id of every armed entry.
  std::multimap<std::uint64_t, std::size_t> model_;
  // Each entry's place in model_, when armed.
  std::vector<std::optional<std::multimap<std::uint64_t, std::size_t>::iterator>> model_iter_;
  // The wheel under test.
  wheel_type wheel_;
  // Ids due in the current advance and not yet delivered.
  std::set<std::size_t> due_;
  // True while advance() runs.
  bool in_advance_ = false;
  // The deadline last delivered in the current advance.
  std::uint64_t last_deadline_ = 0;
  // Entries delivered so far.
  std::size_t delivered_ = 0;
  // Effective cascade_early() calls so far.
  std::size_t cascades_ = 0;
  // cascade_early() calls that left part of the slot.
  std::size_t partial_cascades_ = 0;
  // The first mismatch, or empty.
  std::string error_;
};

/// A deadline relative to `now`, spread over past, present, near, far and extreme values.
template <unsigned Levels, unsigned SlotBits>
std::uint64_t decode_deadline(byte_reader& in, std::uint64_t now) {
  constexpr std::uint64_t range = kyoto::detail::basic_timer_wheel<Levels, SlotBits>::range;
  switch (in.u8() % 10) {
  case 0:
    return now;
  case 1:
    return now - std::min<std::uint64_t>(now, 1 + in.u8());
  case 2:
    return saturating_add(now, 1 + in.u8() % 4);
  case 3:
    return saturating_add(now, 1 + in.u8());
  case 4:
    return saturating_add(now, 1 + in.bytes(2));
  case 5:
    return saturating_add(now, 1 + in.bytes(4));
  case 6: { // around whole multiples of the range
    const std::uint64_t base = saturating_add(now, range * (1 + in.u8() % 3));
    return saturating_add(base - std::min<std::uint64_t>(base, 128), in.u8());
  }
  case 7:
    return saturating_add(now, in.bytes(8));
  case 8:
    return tick_max - in.u8() % 4;
  default: { // just past a boundary of some level
    const unsigned k = in.u8() % (Levels * SlotBits + 1);
    const std::uint64_t boundary = saturating_add(now | ((std::uint64_t{1} << k) - 1), 1);
    return saturating_add(boundary, in.u8() % 3);
  }
  }
}

/// The time for the next advance.
template <unsigned Levels, unsigned SlotBits>
std::uint64_t decode_advance(byte_reader& in, const wheel_differ<Levels, SlotBits>& d) {
  constexpr std::uint64_t range = kyoto::detail::basic_timer_wheel<Levels, SlotBits>::range;
  const std::uint64_t now = d.now();
  const std::optional<std::uint64_t> next = d.wheel().next_expiration();
  switch (in.u8() % 8) {
  case 0:
    return now;
  case 1:
    return saturating_add(now, 1);
  case 2:
    return saturating_add(now, in.u8());
  case 3:
    return saturating_add(now, in.bytes(2));
  case 4:
    return next ? *next : saturating_add(now, in.u8());
  case 5:
    return next && *next > now ? *next - 1 : now;
  case 6:
    return saturating_add(now, in.bytes(8));
  default:
    return saturating_add(now, range * (in.u8() % 4) + in.u8());
  }
}

/// Runs the operation sequence encoded in `in` on a fresh wheel starting at `start`, then
/// drains it; returns the first mismatch, or an empty string. Adds the number of effective
/// early cascades to `*early_cascades` and of those that left part of the slot to
/// `*partial_cascades` when given.
template <unsigned Levels, unsigned SlotBits>
std::string run_timer_wheel_ops(byte_reader& in, std::uint64_t start, std::size_t pool_size,
                                std::size_t* early_cascades = nullptr,
                                std::size_t* partial_cascades = nullptr) {
  wheel_differ<Levels, SlotBits> d(pool_size, start);
  while (!in.done() && d.ok()) {
    const std::uint8_t op = in.u8();
    const std::size_t id = in.u8() % pool_size;
    switch (op % 16) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
      d.insert(id, decode_deadline<Levels, SlotBits>(in, d.now()));
      break;
    case 6:
    case 7:
    case 8:
      d.remove(id);
      break;
    case 9:
    case 10:
    case 11:
      d.advance(decode_advance(in, d), &in);
      break;
    case 12: // as the timer service does: advance, then cascade early (in parts) if it can
      if (d.advance(decode_advance(in, d), nullptr)) {
        const std::size_t chunk = in.u8() % 4;
        for (int k = 0; k < 4 && d.ok() && d.wheel().can_cascade_early(); ++k) {
          d.cascade_early(chunk == 0 ? SIZE_MAX : chunk);
          if (in.u8() % 2 == 0) { // meanwhile, the owner arms or cancels
            const std::size_t other = in.u8() % d.pool_size();
            in.u8() % 2 ? d.remove(other)
                        : d.insert(other, decode_deadline<Levels, SlotBits>(in, d.now()));
          }
        }
      }
      break;
    case 13: { // a burst of inserts close together
      const std::size_t n = in.u8() % 16;
      const std::uint64_t base = decode_deadline<Levels, SlotBits>(in, d.now());
      for (std::size_t i = 0; i < n && d.ok(); ++i) {
        d.insert((id + i) % pool_size, saturating_add(base, in.u8() % 8));
      }
      break;
    }
    case 14:
      d.check();
      break;
    default: // walk step by step, to next_expiration() or (cascading early) next_advance()
      for (int i = 0; i < 8 && d.ok(); ++i) {
        const bool early = op & 0x10;
        const std::optional<std::uint64_t> next =
            early ? d.wheel().next_advance() : d.wheel().next_expiration();
        if (!next) {
          break;
        }
        d.advance(*next, &in) && early&& d.cascade_early();
      }
      break;
    }
  }
  if (d.ok()) {
    d.advance(tick_max, nullptr);
  }
  if (d.ok() && !d.wheel().empty()) {
    d.fail("entries left after advance(UINT64_MAX)");
  }
  if (early_cascades != nullptr) {
    *early_cascades += d.early_cascades();
  }
  if (partial_cascades != nullptr) {
    *partial_cascades += d.partial_cascades();
  }
  return d.error();
}

/// The fuzz entry point's body: the first byte picks the geometry, the second the start time.
inline std::string run_timer_wheel_input(const std::uint8_t* data, std::size_t size) {
  byte_reader in(data, size);
  const std::uint8_t geometry = in.u8();
  std::uint64_t start = 0;
  switch (in.u8() % 8) {
  case 0:
  case 1:
  case 2:
  case 3:
    break;
  case 4:
  case 5:
    start = in.bytes(4);
    break;
  case 6:
    start = in.bytes(8);
    break;
  default:
    start = tick_max - in.bytes(2);
    break;
  }
  constexpr std::size_t pool = 48;
  switch (geometry % 5) {
  case 0:
    return run_timer_wheel_ops<6, 6>(in, start, pool);
  case 1:
    return run_timer_wheel_ops<3, 2>(in, start, pool);
  case 2:
    return run_timer_wheel_ops<2, 1>(in, start, pool);
  case 3:
    return run_timer_wheel_ops<4, 3>(in, start, pool);
  default:
    return run_timer_wheel_ops<1, 3>(in, start, pool);
  }
}

} // namespace kyoto::test

#endif // KYOTO_TEST_FUZZ_TIMER_WHEEL_HARNESS_HPP
