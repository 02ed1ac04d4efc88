// bench/workloads.hpp
//
// The registry of workloads, in report order. To add one: write bench/workloads/<name>.hpp
// (see bench/workload.hpp for the interface) and add it to the list below.

#ifndef KYOTO_BENCH_WORKLOADS_HPP
#define KYOTO_BENCH_WORKLOADS_HPP

#include "type_list.hpp"
#include "workloads/chained_spawn.hpp"
#include "workloads/coro_ping_pong.hpp"
#include "workloads/coro_yield_many.hpp"
#include "workloads/imbalanced.hpp"
#include "workloads/ping_pong.hpp"
#include "workloads/spawn_inside.hpp"
#include "workloads/spawn_outside_busy.hpp"
#include "workloads/spawn_outside_idle.hpp"
#include "workloads/task_ping_pong.hpp"
#include "workloads/task_yield_many.hpp"
#include "workloads/tcp_echo.hpp"
#include "workloads/timer_arm_cancel.hpp"
#include "workloads/timer_fire.hpp"
#include "workloads/timer_fire_busy.hpp"
#include "workloads/timer_kyoto_arm_cancel.hpp"
#include "workloads/yield_many.hpp"

namespace kyoto_bench {

using all_workloads =
    type_list<spawn_inside, spawn_outside_idle, spawn_outside_busy, yield_many, chained_spawn,
              ping_pong, imbalanced_handout, imbalanced_local, timer_arm_cancel<1'000>,
              timer_arm_cancel<100'000>, timer_arm_cancel<1'000'000>, timer_kyoto_arm_cancel<1'000>,
              timer_kyoto_arm_cancel<100'000>, timer_kyoto_arm_cancel<1'000'000>, timer_fire,
              timer_fire_busy, tcp_echo, task_ping_pong, coro_ping_pong, task_yield_many,
              coro_yield_many>;

} // namespace kyoto_bench

#endif // KYOTO_BENCH_WORKLOADS_HPP
