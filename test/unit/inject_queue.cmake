kyoto_add_test(inject_queue_test unit/inject_queue_test.cpp LABELS unit concurrency TIMEOUT 120)
