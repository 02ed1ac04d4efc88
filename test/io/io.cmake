# I/O on a context: sockets, timers, signals, descriptors and coroutines, on kyoto::context and
# (as the reference) boost::asio::io_context.
kyoto_add_test(tcp_test io/tcp_test.cpp LABELS io concurrency TIMEOUT 120)
kyoto_add_test(misc_io_test io/misc_io_test.cpp LABELS io concurrency TIMEOUT 120)
kyoto_add_test(coroutine_io_test io/coroutine_io_test.cpp LABELS io concurrency TIMEOUT 120)
kyoto_add_test(threads_test io/threads_test.cpp LABELS io concurrency TIMEOUT 120)
# Stackful coroutines (asio::spawn): not under ThreadSanitizer, which cannot follow Boost.Context's
# stack switches.
kyoto_add_test(stackful_io_test io/stackful_io_test.cpp LABELS io TIMEOUT 120)
kyoto_add_test(private_completions_test io/private_completions_test.cpp LABELS io concurrency TIMEOUT 120)
