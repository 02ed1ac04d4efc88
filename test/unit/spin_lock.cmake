kyoto_add_test(spin_lock_test unit/spin_lock_test.cpp LABELS unit concurrency TIMEOUT 120)
