# Timers: kyoto::steady_timer and friends on the per-worker wheels (doc/timers.md).
kyoto_add_test(steady_timer_test timer/steady_timer_test.cpp LABELS unit concurrency TIMEOUT 180)
kyoto_add_test(sleep_test timer/sleep_test.cpp LABELS unit concurrency TIMEOUT 180)
kyoto_add_test(timer_stress_test timer/timer_stress_test.cpp LABELS unit concurrency TIMEOUT 180)
