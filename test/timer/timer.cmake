# Timers: kyoto::steady_timer and friends on the per-worker wheels (doc/timers.md).
kyoto_add_test(steady_timer_test timer/steady_timer_test.cpp LABELS unit concurrency TIMEOUT 180)
kyoto_add_test(sleep_test timer/sleep_test.cpp LABELS unit concurrency TIMEOUT 180)
kyoto_add_test(wait_memory_test timer/wait_memory_test.cpp LABELS unit concurrency TIMEOUT 120)
kyoto_add_test(timer_stress_test timer/timer_stress_test.cpp LABELS unit concurrency TIMEOUT 180)
# Lateness is measured on the real clock: run alone, not beside a CPU-heavy test.
set_tests_properties(timer_stress_test PROPERTIES RUN_SERIAL TRUE)
