// Tests of oneshot, mpsc and the join/select combinators on a manual scheduler.

#include <kyoto/sync/mpsc.hpp>

#include <boost/test/unit_test.hpp>

#include <kyoto/combinators.hpp>
#include <kyoto/sync/oneshot.hpp>
#include <kyoto/task.hpp>

#include "futures/counting_waker.hpp"
#include "futures/manual_scheduler.hpp"
#include "support/sanitizers.hpp"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

using kyoto::test::manual_scheduler;

namespace {
template <typename T>
kyoto::poll<T> poll_handle(kyoto::join_handle<T>& h) {
  kyoto::waker w;
  kyoto::task_context cx(w);
  return h.poll(cx);
}
} // namespace

BOOST_AUTO_TEST_CASE(oneshot_send_wakes_receiver) {
  manual_scheduler s;
  auto [tx, rx] = kyoto::sync::make_oneshot<std::string>();
  auto h = kyoto::detail::spawn_on(s, std::move(rx));
  s.run();
  BOOST_TEST(!h.is_finished());
  BOOST_TEST(tx.send("hi"));
  BOOST_TEST(s.queued() == 1u);
  s.run();
  BOOST_TEST(poll_handle(h).value() == "hi");
  BOOST_TEST(!tx.send("again"));
}

BOOST_AUTO_TEST_CASE(oneshot_dropped_sender_closes) {
  manual_scheduler s;
  auto [tx, rx] = kyoto::sync::make_oneshot<int>();
  auto h = kyoto::detail::spawn_on(s, std::move(rx));
  s.run();
  { auto dead = std::move(tx); }
  s.run();
  BOOST_CHECK_EXCEPTION(poll_handle(h), boost::system::system_error,
                        [](const auto& e) { return e.code() == kyoto::error::channel_closed; });
}

// The oneshot protocol under races: one thread polls the receiver, switching between two
// wakers on every poll (the waker hand-back path), while another thread sends or drops the
// sender. The receiver must get the value (or channel_closed) exactly once, and the sender
// wakes at most one of the wakers (it never sees a waker being replaced).
BOOST_AUTO_TEST_CASE(oneshot_send_and_drop_race_with_polls_and_waker_changes) {
  const int rounds = kyoto_test::sanitized ? 2'000 : 20'000;
  int values = 0, closed = 0, failed_sends = 0;
  for (int round = 0; round < rounds; ++round) {
    auto [tx, rx] = kyoto::sync::make_oneshot<int>();
    kyoto::test::counting_waker a, b;
    const bool drop_sender = round % 4 == 0;
    std::atomic<bool> go{false};
    std::thread sender([&, tx = std::move(tx)]() mutable {
      while (!go.load())
        std::this_thread::yield();
      for (int spin = round % 64; spin > 0; --spin)
        std::atomic_signal_fence(std::memory_order_seq_cst);
      if (drop_sender) {
        auto gone = std::move(tx);
      } else if (!tx.send(round)) {
        ++failed_sends; // read after join()
      }
    });
    go = true;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool done = false;
    for (int poll = 0; !done; ++poll) {
      kyoto::task_context cx((poll % 2 ? a : b).get());
      try {
        kyoto::poll<int> r = rx.poll(cx);
        if (r.is_ready()) {
          BOOST_REQUIRE_EQUAL(r.value(), round);
          ++values;
          done = true;
        }
      } catch (const boost::system::system_error& e) {
        BOOST_REQUIRE(e.code() == kyoto::error::channel_closed);
        BOOST_REQUIRE(drop_sender);
        ++closed;
        done = true;
      }
      if (!done && (poll & 1023) == 1023) {
        std::this_thread::yield(); // let a descheduled sender run (2 cores, sanitizers)
        if (std::chrono::steady_clock::now() > give_up)
          break;
      }
    }
    sender.join();
    BOOST_REQUIRE_MESSAGE(done, "the receiver never saw the sender finish");
    BOOST_REQUIRE(a.wakes() + b.wakes() <= 1);
  }
  BOOST_TEST(failed_sends == 0);
  BOOST_TEST(values + closed == rounds);
  BOOST_TEST(closed == rounds / 4);
}

BOOST_AUTO_TEST_CASE(oneshot_receiver_replaced_by_move_assignment_closes_its_channel) {
  auto [tx1, rx1] = kyoto::sync::make_oneshot<int>();
  auto [tx2, rx2] = kyoto::sync::make_oneshot<int>();
  rx1 = std::move(rx2);
  BOOST_TEST(tx1.is_closed());
  BOOST_TEST(!tx1.send(5)); // nobody can receive it
  BOOST_TEST(!tx2.is_closed());
  BOOST_TEST(tx2.send(7));
  BOOST_TEST(rx1.try_recv().value() == 7);
  BOOST_TEST(!rx2.try_recv()); // moved from: no value, no crash
}

// A pending receiver is woken exactly once when the sender finishes on another thread.
BOOST_AUTO_TEST_CASE(oneshot_pending_receiver_is_woken_from_another_thread) {
  const int rounds = kyoto_test::sanitized ? 1'000 : 10'000;
  for (int round = 0; round < rounds; ++round) {
    auto [tx, rx] = kyoto::sync::make_oneshot<int>();
    kyoto::test::counting_waker w;
    kyoto::task_context cx(w.get());
    BOOST_REQUIRE(rx.poll(cx).is_pending());
    std::thread sender([tx = std::move(tx), round]() mutable { tx.send(round); });
    sender.join();
    BOOST_REQUIRE_EQUAL(w.wakes(), 1);
    BOOST_REQUIRE_EQUAL(rx.poll(cx).value(), round);
  }
}

BOOST_AUTO_TEST_CASE(mpsc_bounded_send_waits_and_recv_gets_all) {
  manual_scheduler s;
  auto [tx, rx] = kyoto::sync::make_mpsc<int>(2);
  BOOST_CHECK_THROW(kyoto::sync::make_mpsc<int>(0), std::invalid_argument);
  auto producer = kyoto::detail::spawn_on(
      s, kyoto::poll_fn(
             [tx = std::move(tx), i = 0, f = std::optional<kyoto::sync::mpsc_send_future<int>>()](
                 kyoto::task_context& cx) mutable -> kyoto::poll<int> {
               while (i < 10) {
                 if (!f)
                   f.emplace(tx.send(i));
                 if (f->poll(cx).is_pending())
                   return kyoto::pending;
                 f.reset();
                 ++i;
               }
               return i;
             }));
  s.run();
  BOOST_TEST(!producer.is_finished()); // blocked: the channel holds 2
  std::vector<int> got;
  while (auto m = rx.try_recv()) {
    got.push_back(*m);
    s.run();
  }
  BOOST_TEST(producer.is_finished());
  BOOST_TEST(got.size() == 10u);
  for (int i = 0; i < 10; ++i)
    BOOST_TEST(got[i] == i);
  // All senders gone: recv() is ready with nullopt.
  { auto dead = std::move(producer); }
  kyoto::waker w;
  kyoto::task_context cx(w);
  auto f = rx.recv();
  auto r = f.poll(cx);
  BOOST_REQUIRE(r.is_ready());
  BOOST_TEST(!r.value().has_value());
}

BOOST_AUTO_TEST_CASE(select_with_recv_loses_no_message) {
  manual_scheduler s;
  auto [tx, rx] = kyoto::sync::make_mpsc<int>(32);
  auto [stop_tx, stop_rx] = kyoto::sync::make_oneshot<int>();
  {
    // A pending recv (registered its waker) dropped as the loser of a select.
    kyoto::waker w;
    kyoto::task_context cx(w);
    auto sel = kyoto::select(rx.recv(), kyoto::poll_fn([](kyoto::task_context&) {
                               return kyoto::poll<int>(kyoto::pending);
                             }));
    BOOST_TEST(sel.poll(cx).is_pending());
  }
  // Many selects in which recv loses to an already-ready branch: no message may vanish.
  int received = 0;
  for (int round = 0; round < 20; ++round) {
    BOOST_TEST(tx.try_send(round));
    kyoto::waker w;
    kyoto::task_context cx(w);
    if (round % 2) {
      auto sel = kyoto::select(kyoto::ready_future<int>(-1), rx.recv());
      auto r = sel.poll(cx);
      BOOST_REQUIRE(r.is_ready());
      BOOST_TEST(r.value().index() == 0u); // recv lost and was dropped
    } else {
      auto sel = kyoto::select(rx.recv(), kyoto::ready_future<int>(-1));
      auto r = sel.poll(cx);
      BOOST_REQUIRE(r.is_ready());
      BOOST_REQUIRE(r.value().index() == 0u);
      ++received;
    }
  }
  BOOST_TEST(received > 0);
  BOOST_TEST(received < 20);
  while (rx.try_recv())
    ++received;
  BOOST_TEST(received == 20);
  (void)stop_tx;
  (void)stop_rx;
}

BOOST_AUTO_TEST_CASE(select_reports_winner_and_drops_losers) {
  manual_scheduler s;
  auto [tx1, rx1] = kyoto::sync::make_oneshot<int>();
  auto [tx2, rx2] = kyoto::sync::make_oneshot<std::string>();
  auto h = kyoto::detail::spawn_on(s, kyoto::select(std::move(rx1), std::move(rx2)));
  s.run();
  BOOST_TEST(tx2.send("two"));
  s.run();
  auto r = poll_handle(h);
  BOOST_REQUIRE(r.is_ready());
  BOOST_TEST(r.value().index() == 1u);
  BOOST_TEST(std::get<1>(r.value()) == "two");
  BOOST_TEST(tx1.is_closed()); // the losing receiver was destroyed
}

BOOST_AUTO_TEST_CASE(join_waits_for_all) {
  manual_scheduler s;
  auto [tx1, rx1] = kyoto::sync::make_oneshot<int>();
  auto [tx2, rx2] = kyoto::sync::make_oneshot<int>();
  auto h =
      kyoto::detail::spawn_on(s, kyoto::join(std::move(rx1), std::move(rx2), kyoto::yield_now()));
  s.run();
  tx2.send(2);
  s.run();
  BOOST_TEST(!h.is_finished());
  tx1.send(1);
  s.run();
  auto r = poll_handle(h);
  BOOST_REQUIRE(r.is_ready());
  BOOST_TEST(std::get<0>(r.value()) == 1);
  BOOST_TEST(std::get<1>(r.value()) == 2);
}
