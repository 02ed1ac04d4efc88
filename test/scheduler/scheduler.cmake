kyoto_add_test(scheduler_test scheduler/scheduler_test.cpp LABELS unit concurrency TIMEOUT 120)
kyoto_add_test(scheduler_stress_test scheduler/scheduler_stress_test.cpp
               LABELS stress concurrency TIMEOUT 600)
