/* From resources to cgroup v2 limits with the kubelet's numbers, and from limits to the text of
 * the files with the kernel's bounds. Pure: no cgroup is touched. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cgroup/cgroup.h"
#include "cgroup/cgroup_internal.h"
#include "lib/quantity.h"

#define NONE (-1)

static int64_t milli(const char *text)
{
	struct quantity q;
	assert_int_equal(quantity_parse(text, &q, NULL), 0);
	return q.milli;
}

static int64_t bytes(const char *text)
{
	struct quantity q;
	assert_int_equal(quantity_parse(text, &q, NULL), 0);
	return q.value;
}

static struct cgroup_limits map(struct cgroup_resources resources)
{
	struct cgroup_limits limits;
	memset(&limits, 0x5a, sizeof(limits));
	cgroup_limits_from_resources(&resources, &limits);
	return limits;
}

static int64_t weight_for_request(int64_t request_milli)
{
	return map((struct cgroup_resources){request_milli, NONE, NONE, NONE, NONE}).cpu_weight;
}

static int64_t quota_for_limit(int64_t limit_milli)
{
	return map((struct cgroup_resources){NONE, limit_milli, NONE, NONE, NONE}).cpu_quota_us;
}

static void test_cpu_weight_from_request(void **state)
{
	(void)state;
	/* No request means the kernel's smallest share (2), which is weight 1. */
	assert_int_equal(weight_for_request(NONE), 1);
	assert_int_equal(weight_for_request(0), 1);
	/* 1m and 2m round to fewer than 2 shares and are raised to 2. */
	assert_int_equal(weight_for_request(milli("1m")), 1);
	assert_int_equal(weight_for_request(milli("2m")), 1);
	assert_int_equal(weight_for_request(milli("100m")), 4);
	assert_int_equal(weight_for_request(milli("250m")), 10);
	assert_int_equal(weight_for_request(milli("500m")), 20);
	/* One CPU is 1024 shares, which the linear conversion turns into 39. */
	assert_int_equal(weight_for_request(milli("1000m")), 39);
	assert_int_equal(weight_for_request(milli("1")), 39);
	assert_int_equal(weight_for_request(milli("2")), 79);
	assert_int_equal(weight_for_request(milli("64")), 2500);
	/* 256 CPUs reach the 262144-share ceiling, weight 10000; more stays there. */
	assert_int_equal(weight_for_request(milli("255999m")), 9999);
	assert_int_equal(weight_for_request(milli("256")), 10000);
	assert_int_equal(weight_for_request(milli("1000")), 10000);
	assert_int_equal(weight_for_request(milli("1E")), 10000);
	assert_int_equal(weight_for_request(INT64_MAX), 10000);
}

static void test_cpu_request_defaults_to_limit(void **state)
{
	(void)state;
	struct cgroup_limits only_limit =
	    map((struct cgroup_resources){NONE, milli("500m"), NONE, NONE, NONE});
	assert_int_equal(only_limit.cpu_weight, 20);
	struct cgroup_limits zero_request =
	    map((struct cgroup_resources){0, milli("1"), NONE, NONE, NONE});
	assert_int_equal(zero_request.cpu_weight, 39);
	struct cgroup_limits both =
	    map((struct cgroup_resources){milli("100m"), milli("2"), NONE, NONE, NONE});
	assert_int_equal(both.cpu_weight, 4);
}

static void test_cpu_quota_from_limit(void **state)
{
	(void)state;
	/* Without a limit the quota is unset, with the period still given: "max 100000". */
	assert_int_equal(quota_for_limit(NONE), -1);
	assert_int_equal(quota_for_limit(0), -1);
	/* Below 10m the quota would be under the kernel's 1 ms minimum and is raised to it. */
	assert_int_equal(quota_for_limit(milli("1m")), 1000);
	assert_int_equal(quota_for_limit(milli("5m")), 1000);
	assert_int_equal(quota_for_limit(milli("10m")), 1000);
	assert_int_equal(quota_for_limit(milli("11m")), 1100);
	assert_int_equal(quota_for_limit(milli("250m")), 25000);
	assert_int_equal(quota_for_limit(milli("1")), 100000);
	assert_int_equal(quota_for_limit(milli("1500m")), 150000);
	assert_int_equal(quota_for_limit(milli("64")), 6400000);
	/* A limit too large to multiply saturates rather than wrapping negative. */
	assert_true(quota_for_limit(INT64_MAX) == INT64_MAX);
	for (int64_t limit = NONE; limit <= 2000; limit += 250)
		assert_int_equal(
		    map((struct cgroup_resources){NONE, limit, NONE, NONE, NONE}).cpu_period_us,
		    100000);
}

static void test_memory_and_pids(void **state)
{
	(void)state;
	struct cgroup_limits burstable = map((struct cgroup_resources){
	    NONE, NONE, bytes("32Mi"), bytes("64Mi"), 1024, .guaranteed = false});
	assert_int_equal(burstable.memory_max, 67108864);
	assert_int_equal(burstable.memory_min, -1);
	assert_int_equal(burstable.pids_max, 1024);

	struct cgroup_limits guaranteed = map((struct cgroup_resources){
	    milli("1"), milli("1"), bytes("64Mi"), bytes("64Mi"), NONE, .guaranteed = true});
	assert_int_equal(guaranteed.memory_max, 67108864);
	assert_int_equal(guaranteed.memory_min, 67108864);
	assert_int_equal(guaranteed.pids_max, -1);

	struct cgroup_limits best_effort =
	    map((struct cgroup_resources){NONE, NONE, NONE, NONE, 0});
	assert_int_equal(best_effort.memory_max, -1);
	assert_int_equal(best_effort.memory_min, -1);
	assert_int_equal(best_effort.pids_max, -1);

	/* A zero limit is no limit, as in the kubelet, not a cgroup that can hold nothing. */
	struct cgroup_limits zero = map((struct cgroup_resources){NONE, NONE, 0, 0, NONE});
	assert_int_equal(zero.memory_max, -1);
	assert_int_equal(zero.memory_min, -1);
}

static void test_oom_group_for_containers_only(void **state)
{
	(void)state;
	assert_true(map((struct cgroup_resources){NONE, NONE, NONE, NONE, NONE, .container = true})
			.oom_group);
	assert_false(map((struct cgroup_resources){NONE, NONE, NONE, NONE, NONE}).oom_group);
}

struct rendered {
	size_t count;
	struct cgroup_limit_file files[CGROUP_LIMIT_FILES_MAX];
};

static struct rendered render(struct cgroup_limits limits)
{
	struct rendered out;
	struct ck_error err = {0};
	if (cgroup_limits_render(&limits, out.files, &out.count, &err) < 0)
		fail_msg("refused: %s", err.message);
	return out;
}

static const char *value_of(const struct rendered *r, const char *file)
{
	for (size_t i = 0; i < r->count; i++)
		if (strcmp(r->files[i].file, file) == 0)
			return r->files[i].value;
	return NULL;
}

static void test_render_files(void **state)
{
	(void)state;
	struct cgroup_limits limits;
	cgroup_limits_from_resources(
	    &(struct cgroup_resources){milli("250m"), milli("500m"), bytes("64Mi"), bytes("64Mi"),
				       4096, .guaranteed = true, .container = true},
	    &limits);
	struct rendered all = render(limits);
	assert_int_equal(all.count, 6);
	assert_string_equal(value_of(&all, "cpu.weight"), "10");
	assert_string_equal(value_of(&all, "cpu.max"), "50000 100000");
	assert_string_equal(value_of(&all, "memory.max"), "67108864");
	assert_string_equal(value_of(&all, "memory.min"), "67108864");
	assert_string_equal(value_of(&all, "memory.oom.group"), "1");
	assert_string_equal(value_of(&all, "pids.max"), "4096");
	for (size_t i = 0; i < all.count; i++) {
		enum cgroup_controller expected =
		    strncmp(all.files[i].file, "cpu.", 4) == 0    ? CGROUP_CPU
		    : strncmp(all.files[i].file, "pids.", 5) == 0 ? CGROUP_PIDS
								  : CGROUP_MEMORY;
		assert_int_equal(all.files[i].controller, expected);
	}

	cgroup_limits_from_resources(&(struct cgroup_resources){NONE, NONE, NONE, NONE, NONE},
				     &limits);
	struct rendered best_effort = render(limits);
	assert_int_equal(best_effort.count, 2);
	assert_string_equal(value_of(&best_effort, "cpu.weight"), "1");
	assert_string_equal(value_of(&best_effort, "cpu.max"), "max 100000");

	struct rendered nothing = render((struct cgroup_limits){-1, -1, -1, -1, -1, -1, false});
	assert_int_equal(nothing.count, 0);
}

static void assert_refused(struct cgroup_limits limits, const char *message)
{
	struct cgroup_limit_file files[CGROUP_LIMIT_FILES_MAX];
	size_t count = 99;
	struct ck_error err = {0};
	assert_int_equal(cgroup_limits_render(&limits, files, &count, &err), -EINVAL);
	assert_string_equal(err.message, message);
	/* Refused before any descriptor is used: -1 would otherwise fail with EBADF. */
	unsigned not_enforced = 77;
	assert_int_equal(cgroup_apply_limits(-1, &limits, &not_enforced, &err), -EINVAL);
	assert_string_equal(err.message, message);
	assert_int_equal(not_enforced, 0);
}

static void test_impossible_limits_refused(void **state)
{
	(void)state;
	const struct cgroup_limits ok = {39, 100000, 100000, 1 << 20, -1, 100, false};
	struct cgroup_limits l = ok;
	l.cpu_weight = 0;
	assert_refused(l, "cpu.weight: weight 0 is outside 1..10000");
	l.cpu_weight = 10001;
	assert_refused(l, "cpu.weight: weight 10001 is outside 1..10000");
	l = ok;
	l.cpu_quota_us = 999;
	assert_refused(l, "cpu.max: quota (us) 999 is outside 1000..17592186044415");
	l.cpu_quota_us = INT64_MAX;
	assert_refused(l, "cpu.max: quota (us) 9223372036854775807 is outside "
			  "1000..17592186044415");
	l = ok;
	l.cpu_period_us = 999;
	assert_refused(l, "cpu.max: period (us) 999 is outside 1000..1000000");
	l.cpu_period_us = 1000001;
	assert_refused(l, "cpu.max: period (us) 1000001 is outside 1000..1000000");
	l.cpu_period_us = -1;
	assert_refused(l, "cpu.max: a quota needs a period");
	l = ok;
	l.memory_max = -2;
	assert_refused(l, "memory.max: bytes -2 is outside 0..9223372036854775807");
	l = ok;
	l.memory_min = -5;
	assert_refused(l, "memory.min: bytes -5 is outside 0..9223372036854775807");
	l = ok;
	l.pids_max = 4194305;
	assert_refused(l, "pids.max: processes 4194305 is outside 0..4194304");
	l.pids_max = -3;
	assert_refused(l, "pids.max: processes -3 is outside 0..4194304");

	/* The bounds themselves are accepted. */
	struct rendered edges = render((struct cgroup_limits){1, 1000, 1000, 0, 0, 0, false});
	assert_string_equal(value_of(&edges, "cpu.max"), "1000 1000");
	assert_string_equal(value_of(&edges, "pids.max"), "0");
	edges = render((struct cgroup_limits){10000, 17592186044415, 1000000, -1, -1, 4194304});
	assert_string_equal(value_of(&edges, "cpu.weight"), "10000");
	assert_string_equal(value_of(&edges, "cpu.max"), "17592186044415 1000000");
	assert_string_equal(value_of(&edges, "pids.max"), "4194304");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cpu_weight_from_request),
	    cmocka_unit_test(test_cpu_request_defaults_to_limit),
	    cmocka_unit_test(test_cpu_quota_from_limit),
	    cmocka_unit_test(test_memory_and_pids),
	    cmocka_unit_test(test_oom_group_for_containers_only),
	    cmocka_unit_test(test_render_files),
	    cmocka_unit_test(test_impossible_limits_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
