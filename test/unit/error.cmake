kyoto_add_test(error_test unit/error_test.cpp LABELS unit TIMEOUT 60)
