kyoto_add_test(local_queue_stress_test stress/local_queue_stress_test.cpp
               LABELS stress concurrency TIMEOUT 300)
