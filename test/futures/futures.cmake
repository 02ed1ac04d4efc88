# Futures, wakers and tasks.
kyoto_add_test(future_test futures/future_test.cpp LABELS unit TIMEOUT 60)
kyoto_add_test(task_test futures/task_test.cpp LABELS unit concurrency TIMEOUT 120)
kyoto_add_test(sync_test futures/sync_test.cpp LABELS unit concurrency TIMEOUT 120)
kyoto_add_test(task_context_test futures/task_context_test.cpp LABELS unit concurrency TIMEOUT 120)
