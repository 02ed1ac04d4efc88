kyoto_add_test(idle_set_test unit/idle_set_test.cpp LABELS unit TIMEOUT 60)
