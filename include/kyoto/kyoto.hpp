// kyoto/kyoto.hpp: the whole public interface.

#ifndef KYOTO_KYOTO_HPP
#define KYOTO_KYOTO_HPP

#include <kyoto/context.hpp>
#include <kyoto/context_options.hpp>
#include <kyoto/error.hpp>
#include <kyoto/metrics.hpp>
#include <kyoto/thread_pool.hpp>

#endif // KYOTO_KYOTO_HPP
