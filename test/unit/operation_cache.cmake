kyoto_add_test(operation_cache_test unit/operation_cache_test.cpp LABELS unit concurrency TIMEOUT 120)
