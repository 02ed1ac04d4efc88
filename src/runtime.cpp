// kyoto::detail::runtime: the facade that kyoto::context holds; everything is in runtime_impl.

#include <kyoto/detail/runtime.hpp>

#include "runtime_impl.hpp"

namespace kyoto::detail {

runtime::runtime(boost::asio::execution_context& owner, int concurrency,
                 const context_options& options)
    : impl_(std::make_unique<runtime_impl>(owner, concurrency, options)) {
}

runtime::~runtime() = default;

void runtime::schedule(operation* op, schedule_hint hint) noexcept {
  impl_->schedule(op, hint);
}

bool runtime::running_in_this_thread() const noexcept {
  return impl_->current_worker();
}

bool runtime::can_run_inline() const noexcept {
  worker* w = impl_->current_worker();
  return w && !w->in_asio;
}

int runtime::current_worker_index() const noexcept {
  worker* w = impl_->current_worker();
  return w ? static_cast<int>(w->index) : -1;
}

void runtime::work_started() noexcept {
  impl_->work_started();
}
void runtime::work_finished() noexcept {
  impl_->work_finished();
}

namespace {
constexpr auto no_deadline = std::chrono::steady_clock::time_point::max();
}

std::size_t runtime::run() {
  return impl_->run_loop(false, true, no_deadline);
}
std::size_t runtime::run_one() {
  return impl_->run_loop(true, true, no_deadline);
}
std::size_t runtime::run_until(std::chrono::steady_clock::time_point deadline) {
  return impl_->run_loop(false, true, deadline);
}
std::size_t runtime::run_one_until(std::chrono::steady_clock::time_point deadline) {
  return impl_->run_loop(true, true, deadline);
}
std::size_t runtime::poll() {
  return impl_->run_loop(false, false, no_deadline);
}
std::size_t runtime::poll_one() {
  return impl_->run_loop(true, false, no_deadline);
}
void runtime::stop() noexcept {
  impl_->stop();
}
bool runtime::stopped() const noexcept {
  return impl_->stopped();
}
void runtime::restart() noexcept {
  impl_->restart();
}
void runtime::shutdown() noexcept {
  impl_->shutdown();
}
std::size_t runtime::concurrency() const noexcept {
  return impl_->concurrency();
}
const context_options& runtime::options() const noexcept {
  return impl_->options();
}
runtime_metrics runtime::metrics() const {
  return impl_->metrics();
}
void runtime::set_timer_hooks(timer_hooks* hooks) noexcept {
  impl_->set_timer_hooks(hooks);
}

bool runtime::timer_needs_interrupt(std::chrono::steady_clock::time_point deadline) noexcept {
  return impl_->timer_needs_interrupt(deadline);
}

void runtime::interrupt_reactor() noexcept {
  impl_->interrupt_reactor();
}

} // namespace kyoto::detail
