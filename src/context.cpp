// kyoto::context: the io_context-compatible face of the runtime.

#include <kyoto/context.hpp>

#include <thread>

namespace kyoto {

namespace {
int default_concurrency() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}
} // namespace

context::context() : context(default_concurrency()) {
}

context::context(int concurrency, const context_options& options)
    : runtime_(*this, concurrency, options) {
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
