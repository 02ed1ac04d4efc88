// kyoto/impl/context_strand.hpp
//
// kyoto::context::strand: io_context::strand's interface, for existing code that names it. It
// is asio::strand<kyoto::context::executor_type> (what new code should use directly) plus what
// io_context::strand has beyond it: construction from the context, and, unless
// BOOST_ASIO_NO_DEPRECATED is defined, the one-argument dispatch() and post() and wrap(). Like
// io_context::strand it is copyable, and copies are the same strand.
//
// Thread safety: distinct objects safe; shared objects safe.

#ifndef KYOTO_IMPL_CONTEXT_STRAND_HPP
#define KYOTO_IMPL_CONTEXT_STRAND_HPP

#include <boost/asio/detail/wrapped_handler.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <utility>

namespace kyoto {

class context::strand : public boost::asio::strand<context::executor_type> {
 public:
  using base_type = boost::asio::strand<context::executor_type>;

  explicit strand(kyoto::context& ctx) : base_type(ctx.get_executor()) {}

  // The Networking TS forms, with an allocator.
  using base_type::defer;
  using base_type::dispatch;
  using base_type::post;

#if !defined(BOOST_ASIO_NO_DEPRECATED)
  /// asio::dispatch(strand, token): inline when already running in this strand.
  template <typename CompletionToken>
  auto dispatch(CompletionToken&& token) const {
    return boost::asio::dispatch(base(), std::forward<CompletionToken>(token));
  }

  /// asio::post(strand, token).
  template <typename CompletionToken>
  auto post(CompletionToken&& token) const {
    return boost::asio::post(base(), std::forward<CompletionToken>(token));
  }

  /// A handler that dispatch()es `handler`, with its arguments, through this strand when called.
  template <typename Handler>
  boost::asio::detail::wrapped_handler<strand, Handler,
                                       boost::asio::detail::is_continuation_if_running>
  wrap(Handler handler) const {
    return boost::asio::detail::wrapped_handler<strand, Handler,
                                                boost::asio::detail::is_continuation_if_running>(
        *this, handler);
  }
#endif

 private:
  const base_type& base() const noexcept {
    return *this;
  }
};

} // namespace kyoto

#endif // KYOTO_IMPL_CONTEXT_STRAND_HPP
