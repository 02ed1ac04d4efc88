kyoto_add_test(local_queue_test unit/local_queue_test.cpp LABELS unit TIMEOUT 120)
