/* The container restart back-off: Kubernetes' crash-loop timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>

#include "kubelet/restart_backoff.h"

static void exits_restart_at_once_then_double_to_five_minutes(void **state)
{
	(void)state;
	struct restart_backoff b = {0};
	const int64_t expected[] = {0, 10000, 20000, 40000, 80000, 160000, 300000, 300000};
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		assert_int_equal(restart_backoff_step(&b, 1000), expected[i]);
		assert_int_equal(b.current_ms, expected[i]);
	}
}

static void ten_minutes_of_running_start_over(void **state)
{
	(void)state;
	struct restart_backoff b = {0};
	for (int i = 0; i < 5; i++)
		restart_backoff_step(&b, 5000);
	assert_int_equal(restart_backoff_step(&b, RESTART_BACKOFF_RESET_MS - 1), 160000);
	assert_int_equal(restart_backoff_step(&b, RESTART_BACKOFF_RESET_MS), 0);
	assert_int_equal(restart_backoff_step(&b, 5000), 10000);
}

static void failures_to_start_wait_at_least_the_first_step(void **state)
{
	(void)state;
	struct restart_backoff b = {0};
	assert_int_equal(restart_backoff_step(&b, -1), 10000);
	assert_int_equal(restart_backoff_step(&b, -1), 20000);
	assert_int_equal(restart_backoff_step(&b, -1), 40000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(exits_restart_at_once_then_double_to_five_minutes),
	    cmocka_unit_test(ten_minutes_of_running_start_over),
	    cmocka_unit_test(failures_to_start_wait_at_least_the_first_step),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
