// kyoto/detail/task_cell.hpp
//
// task_cell<F>: the one allocation of a spawned task. The header is followed by a union that
// holds the future while it runs and its output (value or exception) once it is done, so an idle
// task costs sizeof(task_header) plus the larger of the future and the output.
//
// Protocol: the stage (task_header::stage_) and the union are touched only by the owner of the
// task's content: the poller while `running` is set, afterwards the join handle (or the completer
// when there is no join handle). See task_header.hpp.

#ifndef KYOTO_DETAIL_TASK_CELL_HPP
#define KYOTO_DETAIL_TASK_CELL_HPP

#include <kyoto/detail/task_header.hpp>
#include <kyoto/error.hpp>
#include <kyoto/future.hpp>

#include <boost/system/system_error.hpp>

#include <exception>
#include <memory>
#include <optional>
#include <typeinfo>
#include <variant>

namespace kyoto::detail {

/// The output of a task: its value (std::monostate for void) or the exception it threw.
template <typename T>
using task_result =
    std::variant<std::conditional_t<std::is_void_v<T>, std::monostate, T>, std::exception_ptr>;

/// The exception a cancelled task's join handle reports.
inline std::exception_ptr task_aborted_exception() noexcept {
  try {
    return std::make_exception_ptr(boost::system::system_error(
        make_error_code(kyoto::error::task_aborted), "join_handle: the task was aborted"));
  } catch (...) {
    return std::current_exception();
  }
}

/// Returns the value of a task_result, or rethrows its exception.
template <typename T>
T take_result(task_result<T>&& r) {
  if (r.index() == 1)
    std::rethrow_exception(std::get<1>(std::move(r)));
  if constexpr (!std::is_void_v<T>)
    return std::get<0>(std::move(r));
}

template <typename F>
class task_cell final : public task_header {
 public:
  using output_type = future_output_t<F>;
  using result_type = task_result<output_type>;

  /// Allocates a task running `f` on `s`. The caller then binds and schedules it.
  template <typename G>
  static task_cell* create(G&& f, task_scheduler* s) {
    return new task_cell(std::forward<G>(f), s);
  }

 private:
  template <typename G>
  task_cell(G&& f, task_scheduler* s) : task_header(&vtable_, s), future_(std::forward<G>(f)) {}
  ~task_cell() {
    if (stage_ == 0)
      future_.~F();
    else if (stage_ == 1)
      output_.~result_type();
  }

  template <typename... A>
  void finish(A&&... a) noexcept {
    future_.~F();
    try {
      ::new (static_cast<void*>(&output_)) result_type(std::forward<A>(a)...);
    } catch (...) {
      // The value's move constructor threw: report that instead.
      ::new (static_cast<void*>(&output_))
          result_type(std::in_place_index<1>, std::current_exception());
    }
    stage_ = 1;
  }

  static bool poll_future(task_header* h, task_context& cx) noexcept {
    auto* self = static_cast<task_cell*>(h);
    try {
      auto r = self->future_.poll(cx);
      if (r.is_pending())
        return false;
      if constexpr (std::is_void_v<output_type>)
        self->finish(std::in_place_index<0>);
      else
        self->finish(std::in_place_index<0>, std::move(r).value());
    } catch (...) {
      self->finish(std::in_place_index<1>, std::current_exception());
    }
    return true;
  }

  static void cancel(task_header* h) noexcept {
    static_cast<task_cell*>(h)->finish(std::in_place_index<1>, task_aborted_exception());
  }

  static void read_output(task_header* h, void* out) noexcept {
    auto* self = static_cast<task_cell*>(h);
    auto* dst = static_cast<std::optional<result_type>*>(out);
    if (self->stage_ != 1) {
      dst->emplace(std::in_place_index<1>, task_aborted_exception());
      return;
    }
    try {
      dst->emplace(std::move(self->output_));
    } catch (...) {
      dst->emplace(std::in_place_index<1>, std::current_exception());
    }
    self->output_.~result_type();
    self->stage_ = 2;
  }

  static void drop_output(task_header* h) noexcept {
    auto* self = static_cast<task_cell*>(h);
    if (self->stage_ == 1) {
      self->output_.~result_type();
      self->stage_ = 2;
    }
  }

  static void dealloc(task_header* h) noexcept { delete static_cast<task_cell*>(h); }

  static inline const task_vtable vtable_{&poll_future, &cancel,  &read_output,
                                          &drop_output, &dealloc, typeid(F).name()};

  union {
    // The future, while stage_ == 0.
    F future_;
    // The output, while stage_ == 1.
    result_type output_;
  };
};

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_TASK_CELL_HPP
