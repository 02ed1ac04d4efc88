kyoto_add_test(timer_wheel_test unit/timer_wheel_test.cpp LABELS unit TIMEOUT 120)
