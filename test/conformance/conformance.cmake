# Conformance: kyoto::context against the documented behaviour of boost::asio::io_context. Every
# test body runs on both context types (see conformance/conformance_support.hpp).
option(KYOTO_CONFORMANCE_ASIO_ONLY
       "Run the conformance test bodies on boost::asio::io_context only (to check the tests)" OFF)

foreach(concept context executor strand coroutine)
  kyoto_add_test(conformance_${concept}_test conformance/${concept}_test.cpp
                 LABELS conformance concurrency TIMEOUT 120)
  if(KYOTO_CONFORMANCE_ASIO_ONLY)
    target_compile_definitions(conformance_${concept}_test PRIVATE KYOTO_CONFORMANCE_ASIO_ONLY=1)
  endif()
endforeach()

# A user may define BOOST_ASIO_NO_DEPRECATED (the library does not): the coroutine suite compiles
# kyoto's headers that way.
target_compile_definitions(conformance_coroutine_test PRIVATE BOOST_ASIO_NO_DEPRECATED)

# Stackful coroutines: not under ThreadSanitizer, which cannot follow Boost.Context's stack switches.
kyoto_add_test(conformance_stackful_test conformance/stackful_test.cpp LABELS conformance TIMEOUT 120)
if(KYOTO_CONFORMANCE_ASIO_ONLY)
  target_compile_definitions(conformance_stackful_test PRIVATE KYOTO_CONFORMANCE_ASIO_ONLY=1)
endif()
