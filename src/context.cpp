// kyoto::context: the io_context-compatible face of the runtime.

#include <kyoto/context.hpp>

#include <boost/asio/detail/concurrency_hint.hpp>

#include <thread>

namespace kyoto {

namespace {
int default_concurrency() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

// io_context's special concurrency hints, which are not thread counts: the ones that turn any
// locking off (UNSAFE, UNSAFE_IO) promise one thread (one slot); BOOST_ASIO_CONCURRENCY_HINT_SAFE
// keeps every lock and promises nothing (the default). Anything else is a thread count, checked
// by the runtime.
int slots_for(int concurrency_hint) {
  if (!BOOST_ASIO_CONCURRENCY_HINT_IS_SPECIAL(concurrency_hint))
    return concurrency_hint;
  const bool every_lock =
      BOOST_ASIO_CONCURRENCY_HINT_IS_LOCKING(SCHEDULER, concurrency_hint) &&
      BOOST_ASIO_CONCURRENCY_HINT_IS_LOCKING(REACTOR_REGISTRATION, concurrency_hint) &&
      BOOST_ASIO_CONCURRENCY_HINT_IS_LOCKING(REACTOR_IO, concurrency_hint);
  return every_lock ? default_concurrency() : 1;
}
} // namespace

context::context() : context(default_concurrency()) {
}

context::context(int concurrency, const context_options& options)
    : runtime_(*this, slots_for(concurrency), options) {
}

context::~context() {
  // Queued handlers first (their destructors may close sockets while the services are still
  // alive), then Asio's services, which destroy their pending operations; anything scheduled by
  // a destructor meanwhile is destroyed at once. The runtime outlives all of it, so tracked
  // executors released by those destructors still find their counter.
  runtime_.shutdown();
  shutdown();
  destroy();
}

context::count_type context::run() {
  return runtime_.run();
}
context::count_type context::run_one() {
  return runtime_.run_one();
}
context::count_type context::poll() {
  return runtime_.poll();
}
context::count_type context::poll_one() {
  return runtime_.poll_one();
}
void context::stop() {
  runtime_.stop();
}
bool context::stopped() const {
  return runtime_.stopped();
}
void context::restart() {
  runtime_.restart();
}

} // namespace kyoto
