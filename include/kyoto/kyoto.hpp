// kyoto/kyoto.hpp: the whole public interface.

#ifndef KYOTO_KYOTO_HPP
#define KYOTO_KYOTO_HPP

#include <kyoto/as_future.hpp>
#include <kyoto/basic_waitable_timer.hpp>
#include <kyoto/blocking.hpp>
#include <kyoto/bridge.hpp>
#include <kyoto/combinators.hpp>
#include <kyoto/context.hpp>
#include <kyoto/context_options.hpp>
#include <kyoto/error.hpp>
#include <kyoto/future.hpp>
#include <kyoto/high_resolution_timer.hpp>
#include <kyoto/join_set.hpp>
#include <kyoto/metrics.hpp>
#include <kyoto/sleep.hpp>
#include <kyoto/steady_timer.hpp>
#include <kyoto/sync/mpsc.hpp>
#include <kyoto/sync/notify.hpp>
#include <kyoto/sync/oneshot.hpp>
#include <kyoto/sync/semaphore.hpp>
#include <kyoto/system_timer.hpp>
#include <kyoto/task.hpp>
#include <kyoto/task_diagnostics.hpp>
#include <kyoto/thread_pool.hpp>

#endif // KYOTO_KYOTO_HPP
