// Tests of kyoto/detail/idle_set.hpp, single-threaded: who gets woken, the counts of unparked and
// searching workers, and the exclusion a worker parked in the reactor uses to wake a peer rather
// than itself. (The lost wake-up argument is exercised by the scheduler's stress tests.)

#include <kyoto/detail/idle_set.hpp>

#include <boost/test/unit_test.hpp>

#include <optional>

using kyoto::detail::idle_set;

BOOST_AUTO_TEST_CASE(a_new_set_has_every_worker_unparked_and_none_searching) {
  idle_set s(4);
  BOOST_TEST(s.num_unparked() == 4u);
  BOOST_TEST(s.num_searching() == 0u);
  BOOST_TEST(!s.worker_to_notify().has_value()); // nobody parked
}

BOOST_AUTO_TEST_CASE(the_most_recent_sleeper_is_woken_and_counts_as_searching) {
  idle_set s(3);
  BOOST_TEST(!s.transition_to_parked(0, false));
  BOOST_TEST(!s.transition_to_parked(2, false));
  BOOST_TEST(s.num_unparked() == 1u);
  BOOST_TEST(s.is_parked(0));
  BOOST_TEST(s.is_parked(2));
  std::optional<std::size_t> w = s.worker_to_notify();
  BOOST_REQUIRE(w.has_value());
  BOOST_TEST(*w == 2u);
  BOOST_TEST(!s.is_parked(2));
  BOOST_TEST(s.num_unparked() == 2u);
  BOOST_TEST(s.num_searching() == 1u);
  // A worker is searching: nobody else is woken.
  BOOST_TEST(!s.worker_to_notify().has_value());
  BOOST_TEST(s.transition_from_searching()); // the last searcher
  w = s.worker_to_notify();
  BOOST_REQUIRE(w.has_value());
  BOOST_TEST(*w == 0u);
}

BOOST_AUTO_TEST_CASE(the_last_searcher_to_park_is_told_so) {
  idle_set s(2);
  BOOST_TEST(s.transition_to_searching());
  BOOST_TEST(!s.transition_to_searching()); // at most half the workers search
  BOOST_TEST(s.transition_to_parked(1, true));
  BOOST_TEST(s.num_searching() == 0u);
}

BOOST_AUTO_TEST_CASE(a_worker_can_exclude_itself_from_the_choice) {
  idle_set s(2);
  // Worker 0 parked first (on its condition variable), worker 1 after it (in the reactor):
  // worker 1 is the most recent sleeper.
  s.transition_to_parked(0, false);
  s.transition_to_parked(1, false);
  std::optional<std::size_t> w = s.worker_to_notify(1);
  BOOST_REQUIRE(w.has_value());
  BOOST_TEST(*w == 0u);
  BOOST_TEST(s.is_parked(1)); // still on the list: it wakes by its own means
  BOOST_TEST(s.num_unparked() == 1u);
  BOOST_TEST(s.num_searching() == 1u);
}

BOOST_AUTO_TEST_CASE(excluding_the_only_sleeper_wakes_no_one_and_changes_nothing) {
  idle_set s(2);
  s.transition_to_parked(1, false);
  s.transition_to_parked(0, false);
  BOOST_TEST(s.unpark_by_id(0)); // worker 0 leaves by itself
  BOOST_TEST(!s.worker_to_notify(1).has_value());
  BOOST_TEST(s.is_parked(1));
  BOOST_TEST(s.num_unparked() == 1u);
  BOOST_TEST(s.num_searching() == 0u);
  // Without the exclusion it would be chosen.
  std::optional<std::size_t> w = s.worker_to_notify();
  BOOST_REQUIRE(w.has_value());
  BOOST_TEST(*w == 1u);
}
