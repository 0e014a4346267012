/* Resource usage for `kubectl top`: the cgroup and /proc parsers, a fake cgroup tree and run
 * directory read as the reporter reads them, the rates and their quantity texts, and the
 * NodeMetrics and PodMetrics bodies made from two samples. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kubelet/usage_report.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/json_util.h"

#define T0 1795610995 /* 2026-11-25T12:49:55Z */
#define SECOND 1000000000LL

static void put(const char *root, const char *file, const char *text)
{
	_cleanup_free_ char *path = NULL;
	struct ck_error err = {0};
	assert_true(asprintf(&path, "%s/%s", root, file) > 0);
	_cleanup_free_ char *dir = strdup(path);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(fs_mkdir_p(dir, 0755, &err), 0);
	assert_int_equal(fs_write_file(path, text, strlen(text), 0644, &err), 0);
}

static int make_root(void **state)
{
	char *root = strdup("/tmp/ckube-test-usage-XXXXXX");
	assert_non_null(mkdtemp(root));
	*state = root;
	return 0;
}

static int remove_root(void **state)
{
	fs_remove_tree(AT_FDCWD, *state, NULL);
	free(*state);
	return 0;
}

/* --- Parsers ------------------------------------------------------------------------------ */

static void test_keyed_files(void **state)
{
	(void)state;
	const char *cpu_stat = "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n";
	const char *memory_stat =
	    "anon 4096\nfile 8192\ninactive_file_extra 7\ninactive_file 2048\n"
	    "active_file 6144";
	int64_t value = -1;

	assert_int_equal(usage_parse_keyed(cpu_stat, "usage_usec", &value), 0);
	assert_int_equal(value, 123456);
	assert_int_equal(usage_parse_keyed(cpu_stat, "system_usec", &value), 0);
	assert_int_equal(value, 23456);
	/* A key is a whole word: inactive_file_extra is not inactive_file. */
	assert_int_equal(usage_parse_keyed(memory_stat, "inactive_file", &value), 0);
	assert_int_equal(value, 2048);
	assert_int_equal(usage_parse_keyed(memory_stat, "active_file", &value), 0);
	assert_int_equal(value, 6144);
	assert_int_equal(usage_parse_keyed(memory_stat, "file", &value), 0);
	assert_int_equal(value, 8192);
	assert_int_equal(usage_parse_keyed(cpu_stat, "nr_periods", &value), -EINVAL);
	assert_int_equal(usage_parse_keyed("usage_usec lots\n", "usage_usec", &value), -EINVAL);
	assert_int_equal(usage_parse_keyed("", "usage_usec", &value), -EINVAL);
}

static void test_proc_stat(void **state)
{
	(void)state;
	/* user nice system idle iowait irq softirq steal guest guest_nice, at 100 ticks a second:
	 * busy = 100 + 20 + 30 + 5 + 5 + 10 ticks = 1.7 s; idle, iowait and guest do not count. */
	const char *text = "cpu  100 20 30 1000 50 5 5 10 40 0\ncpu0 50 10 15 500 25 2 3 5 20 0\n";
	uint64_t busy = 0;

	assert_int_equal(usage_parse_proc_stat(text, 100, &busy), 0);
	assert_int_equal(busy, 1700000);
	/* Ticks that are not whole hundredths of a second at 3 ticks a second. */
	assert_int_equal(usage_parse_proc_stat("cpu 1 0 0 9 0 0 0 0\n", 3, &busy), 0);
	assert_int_equal(busy, 333333);
	assert_int_equal(usage_parse_proc_stat("intr 1 2 3\n", 100, &busy), -EINVAL);
	assert_int_equal(usage_parse_proc_stat("cpu 1 2 3\n", 100, &busy), -EINVAL);
	assert_int_equal(usage_parse_proc_stat(text, 0, &busy), -EINVAL);
}

static void test_statm(void **state)
{
	(void)state;
	int64_t pages = -1;

	assert_int_equal(usage_parse_statm_resident("2000 345 100 10 0 300 0\n", &pages), 0);
	assert_int_equal(pages, 345);
	assert_int_equal(usage_parse_statm_resident("2000\n", &pages), -EINVAL);
}

/* --- A fake cgroup ------------------------------------------------------------------------ */

static void test_cgroup_with_memory_controller(void **state)
{
	const char *root = *state;
	_cleanup_free_ char *cgroup = NULL;
	struct cgroup_usage usage;
	struct ck_error err = {0};

	assert_true(asprintf(&cgroup, "%s/cg/burstable/podu1/app", root) > 0);
	put(root, "cg/burstable/podu1/app/cpu.stat", "usage_usec 2500000\nuser_usec 2000000\n");
	put(root, "cg/burstable/podu1/app/memory.current", "10485760\n");
	put(root, "cg/burstable/podu1/app/memory.stat", "anon 4194304\ninactive_file 3145728\n");
	assert_int_equal(usage_read_cgroup(root, cgroup, &usage, &err), 0);
	assert_int_equal(usage.cpu_usec, 2500000);
	assert_int_equal(usage.working_set, 10485760 - 3145728);

	/* More inactive cache than the charge (they are read one after the other): never below 0.
	 */
	put(root, "cg/burstable/podu1/app/memory.stat", "inactive_file 20971520\n");
	assert_int_equal(usage_read_cgroup(root, cgroup, &usage, &err), 0);
	assert_int_equal(usage.working_set, 0);

	put(root, "cg/burstable/podu1/app/memory.stat", "anon 1\n");
	assert_int_equal(usage_read_cgroup(root, cgroup, &usage, &err), -EINVAL);
	assert_non_null(strstr(err.message, "memory.stat: no inactive_file"));
}

static void test_cgroup_without_memory_controller(void **state)
{
	const char *root = *state;
	_cleanup_free_ char *cgroup = NULL;
	struct cgroup_usage usage;
	struct ck_error err = {0};
	const int64_t page = sysconf(_SC_PAGESIZE);

	assert_true(asprintf(&cgroup, "%s/cg/besteffort/podu2/app", root) > 0);
	put(root, "cg/besteffort/podu2/app/cpu.stat", "usage_usec 42\n");
	/* 4000001 has exited since the list was read: it counts for nothing. */
	put(root, "cg/besteffort/podu2/app/cgroup.procs", "4000000\n4000001\n4000002\n");
	put(root, "proc/4000000/statm", "1000 100 10 1 0 50 0\n");
	put(root, "proc/4000002/statm", "1000 28 10 1 0 50 0\n");
	assert_int_equal(usage_read_cgroup(root, cgroup, &usage, &err), 0);
	assert_int_equal(usage.cpu_usec, 42);
	assert_int_equal(usage.working_set, 128 * page);
}

static void test_cgroup_gone(void **state)
{
	const char *root = *state;
	_cleanup_free_ char *cgroup = NULL;
	struct cgroup_usage usage;
	struct ck_error err = {0};

	assert_true(asprintf(&cgroup, "%s/cg/gone", root) > 0);
	assert_int_equal(usage_read_cgroup(root, cgroup, &usage, &err), -ENOENT);
	put(root, "cg/odd/cpu.stat", "user_usec 1\n");
	free(cgroup);
	assert_true(asprintf(&cgroup, "%s/cg/odd", root) > 0);
	assert_int_equal(usage_read_cgroup(root, cgroup, &usage, &err), -EINVAL);
	assert_non_null(strstr(err.message, "cpu.stat: no usage_usec"));
}

/* --- A fake run directory ----------------------------------------------------------------- */

/* This test's own start time, so that a state file naming this process counts as running. */
static long long own_start_time(void)
{
	_cleanup_free_ char *text = NULL;
	struct ck_error err = {0};
	assert_int_equal(fs_read_file("/proc/self/stat", &text, NULL, &err), 0);
	const char *p = strrchr(text, ')');
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	assert_non_null(p);
	return atoll(p + 1);
}

static void put_state(const char *root, const char *id, long long pid, long long start_time,
		      const char *annotations, const char *cgroup)
{
	_cleanup_free_ char *file = NULL, *text = NULL;
	assert_true(asprintf(&file, "run/containers/%s/state.json", id) > 0);
	assert_true(asprintf(&text,
			     "{\"id\":\"%s\",\"pid\":%lld,\"startTime\":%lld,\"stopSignal\":15,"
			     "\"annotations\":%s,\"cgroup\":\"%s/%s\"}",
			     id, pid, start_time, annotations, root, cgroup) > 0);
	put(root, file, text);
}

static void put_cgroup(const char *root, const char *cgroup, const char *usage_usec,
		       const char *current)
{
	_cleanup_free_ char *cpu = NULL, *memory = NULL, *stat = NULL;
	assert_true(asprintf(&cpu, "%s/cpu.stat", cgroup) > 0);
	assert_true(asprintf(&memory, "%s/memory.current", cgroup) > 0);
	assert_true(asprintf(&stat, "%s/memory.stat", cgroup) > 0);
	put(root, cpu, usage_usec);
	put(root, memory, current);
	put(root, stat, "inactive_file 0\n");
}

static void test_containers_from_state_files(void **state)
{
	const char *root = *state;
	const long long self = getpid(), started = own_start_time();
	_cleanup_free_ char *run_dir = NULL;
	struct container_usage *list;
	size_t count;
	struct ck_error err = {0};

	assert_true(asprintf(&run_dir, "%s/run", root) > 0);
	put_state(root, "u2-web-0", self, started,
		  "{\"podUID\":\"u2\",\"podNamespace\":\"shop\",\"podName\":\"web\","
		  "\"containerName\":\"web\",\"restartCount\":0}",
		  "cg/u2/web");
	put_state(root, "u1-sidecar-3", self, started,
		  "{\"podUID\":\"u1\",\"podNamespace\":\"default\",\"podName\":\"api\","
		  "\"containerName\":\"sidecar\",\"restartCount\":3}",
		  "cg/u1/sidecar");
	put_state(root, "u1-main-0", self, started,
		  "{\"podUID\":\"u1\",\"podNamespace\":\"default\",\"podName\":\"api\","
		  "\"containerName\":\"main\"}",
		  "cg/u1/main");
	/* Not counted: a `ckube run` container (no pod), one whose process is another
	 * (the start time differs: its pid was reused), and one whose cgroup is gone. */
	put_state(root, "run-1", self, started, "{\"imageID\":\"sha256:1\"}", "cg/run");
	put_state(root, "u1-old-0", self, started + 1,
		  "{\"podUID\":\"u1\",\"podNamespace\":\"default\",\"podName\":\"api\","
		  "\"containerName\":\"old\"}",
		  "cg/u1/old");
	put_state(root, "u3-gone-0", self, started,
		  "{\"podUID\":\"u3\",\"podNamespace\":\"default\",\"podName\":\"gone\","
		  "\"containerName\":\"gone\"}",
		  "cg/u3/gone");
	put_cgroup(root, "cg/u2/web", "usage_usec 300\n", "3000\n");
	put_cgroup(root, "cg/u1/sidecar", "usage_usec 200\n", "2000\n");
	put_cgroup(root, "cg/u1/main", "usage_usec 100\n", "1000\n");
	put_cgroup(root, "cg/run", "usage_usec 400\n", "4000\n");
	put_cgroup(root, "cg/u1/old", "usage_usec 500\n", "5000\n");

	assert_int_equal(usage_containers_read(run_dir, root, &list, &count, &err), 0);
	assert_int_equal(count, 3);
	/* Sorted by namespace, pod, container. */
	assert_string_equal(list[0].id, "u1-main-0");
	assert_string_equal(list[0].namespace, "default");
	assert_string_equal(list[0].pod, "api");
	assert_string_equal(list[0].pod_uid, "u1");
	assert_string_equal(list[0].container, "main");
	assert_int_equal(list[0].pid, self);
	assert_int_equal(list[0].usage.cpu_usec, 100);
	assert_int_equal(list[0].usage.working_set, 1000);
	assert_string_equal(list[1].container, "sidecar");
	assert_int_equal(list[1].usage.cpu_usec, 200);
	assert_string_equal(list[2].namespace, "shop");
	assert_string_equal(list[2].container, "web");
	assert_true(strstr(list[2].cgroup, "/cg/u2/web") != NULL);
	usage_containers_free(list, count);

	/* No run directory yet: no containers, no error. */
	free(run_dir);
	assert_true(asprintf(&run_dir, "%s/nothing", root) > 0);
	assert_int_equal(usage_containers_read(run_dir, root, &list, &count, &err), 0);
	assert_int_equal(count, 0);
	usage_containers_free(list, count);
}

static void test_sample_of_the_node(void **state)
{
	const char *root = *state;
	_cleanup_free_ char *run_dir = NULL;
	struct usage_sample sample;
	struct ck_error err = {0};
	const long hz = sysconf(_SC_CLK_TCK);
	char stat[128];

	assert_true(asprintf(&run_dir, "%s/run", root) > 0);
	snprintf(stat, sizeof(stat), "cpu  %ld 0 %ld 5000 7 0 0 0 0 0\n", 3 * hz, hz);
	put(root, "proc/stat", stat);
	put(root, "proc/meminfo",
	    "MemTotal:  2048000 kB\nMemFree: 100 kB\nMemAvailable: 1024000 kB\n");
	if (usage_sample_read(run_dir, root, &sample, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(sample.node_cpu_usec, 4000000);
	assert_int_equal(sample.node_working_set, 1024000LL * 1024);
	assert_int_equal(sample.count, 0);
	assert_true(sample.monotonic_ns > 0);
	assert_true(sample.wall > T0 - 10 * 365 * 86400);
	usage_sample_clear(&sample);

	put(root, "proc/meminfo", "MemTotal:  2048000 kB\n");
	assert_int_equal(usage_sample_read(run_dir, root, &sample, &err), -EINVAL);
	assert_non_null(strstr(err.message, "meminfo: no MemTotal or MemAvailable"));
	usage_sample_clear(&sample);
}

/* --- Rates and texts ---------------------------------------------------------------------- */

static void test_rates(void **state)
{
	(void)state;
	/* 0.15 s of CPU over 15 s is a hundredth of a core. */
	assert_int_equal(usage_nanocores(1000000, 1150000, 15 * SECOND), 10000000);
	/* Two cores busy for 15.004 s over a 15.004 s window. */
	assert_int_equal(usage_nanocores(0, 30008000, 15004000000LL), 2000000000);
	/* 12345 us of CPU over 1000 s: 12345 ns a second. */
	assert_int_equal(usage_nanocores(7, 7 + 12345, 1000 * SECOND), 12345);
	/* A whole day of 64 CPUs: no overflow. */
	assert_int_equal(usage_nanocores(0, 64ULL * 86400 * 1000000, 86400 * SECOND),
			 64000000000ULL);
	assert_int_equal(usage_nanocores(500, 400, 15 * SECOND), 0);
	assert_int_equal(usage_nanocores(400, 500, 0), 0);
}

static void test_cpu_texts(void **state)
{
	(void)state;
	char text[USAGE_TEXT_SIZE];

	assert_string_equal(usage_format_nanocores(0, text), "0");
	assert_string_equal(usage_format_nanocores(12345, text), "12345n");
	assert_string_equal(usage_format_nanocores(5000000, text), "5m");
	assert_string_equal(usage_format_nanocores(1500000, text), "1500u");
	assert_string_equal(usage_format_nanocores(2000000000, text), "2");
	assert_string_equal(usage_format_nanocores(2500000000ULL, text), "2500m");
}

static void test_durations(void **state)
{
	(void)state;
	char text[USAGE_TEXT_SIZE];

	assert_string_equal(usage_format_duration(15 * SECOND, text), "15s");
	assert_string_equal(usage_format_duration(15004000000LL, text), "15.004s");
	assert_string_equal(usage_format_duration(15000000001LL, text), "15.000000001s");
	assert_string_equal(usage_format_duration(90 * SECOND, text), "1m30s");
	assert_string_equal(usage_format_duration(3600 * SECOND, text), "1h0m0s");
	assert_string_equal(usage_format_duration(3725500000000LL, text), "1h2m5.5s");
	assert_string_equal(usage_format_duration(500000000, text), "500ms");
	assert_string_equal(usage_format_duration(1500000, text), "1.5ms");
	assert_string_equal(usage_format_duration(1500, text), "1.5µs");
	assert_string_equal(usage_format_duration(7, text), "7ns");
	assert_string_equal(usage_format_duration(0, text), "0s");
}

/* --- Reports ------------------------------------------------------------------------------ */

static struct container_usage fake(const char *id, const char *uid, const char *namespace,
				   const char *pod, const char *container, uint64_t cpu_usec,
				   int64_t working_set)
{
	return (struct container_usage){.id = (char *)id,
					.pod_uid = (char *)uid,
					.namespace = (char *)namespace,
					.pod = (char *)pod,
					.container = (char *)container,
					.cgroup = (char *)"/sys/fs/cgroup/x",
					.usage = {cpu_usec, working_set}};
}

static void assert_json(const json_t *actual, const char *expected_text)
{
	json_error_t error;
	_cleanup_json_ json_t *expected = json_loads(expected_text, 0, &error);
	_cleanup_free_ char *text = json_dump_compact(actual);
	assert_non_null(expected);
	if (!json_equal(actual, expected))
		fail_msg("got %s", text);
}

static void test_reports(void **state)
{
	(void)state;
	struct container_usage first[] = {
	    fake("u1-main-0", "u1", "default", "api", "main", 1000000, 1),
	    fake("u1-side-0", "u1", "default", "api", "side", 2000000, 1),
	    fake("u9-old-0", "u9", "default", "old", "old", 1, 1),
	};
	struct container_usage second[] = {
	    /* 0.15 s more over 15 s: 10m; its working set 64 MiB. */
	    fake("u1-main-0", "u1", "default", "api", "main", 1150000, 64 << 20),
	    /* Restarted: a new run has no rate yet. */
	    fake("u1-side-1", "u1", "default", "api", "side", 5, 1000),
	    fake("u2-web-0", "u2", "shop", "web", "web", 0, 1536 << 10),
	};
	struct container_usage before_web = fake("u2-web-0", "u2", "shop", "web", "web", 0, 1);
	struct container_usage *first_all = calloc(4, sizeof(*first_all));
	memcpy(first_all, first, sizeof(first));
	first_all[3] = before_web;
	struct usage_sample before = {.monotonic_ns = 100 * SECOND,
				      .wall = T0 - 15,
				      .node_cpu_usec = 10000000,
				      .node_working_set = 1,
				      .containers = first_all,
				      .count = 4};
	struct usage_sample after = {.monotonic_ns = 115 * SECOND,
				     .wall = T0,
				     .node_cpu_usec = 40000000, /* 30 s of CPU in 15 s: 2 cores */
				     .node_working_set = 3LL << 30,
				     .containers = second,
				     .count = 3};

	_cleanup_json_ json_t *node = usage_node_metrics("node-1", &before, &after);
	assert_json(node, "{\"kind\":\"NodeMetrics\",\"apiVersion\":\"metrics.k8s.io/v1beta1\","
			  "\"metadata\":{\"name\":\"node-1\"},"
			  "\"timestamp\":\"2026-11-25T12:49:55Z\",\"window\":\"15s\","
			  "\"usage\":{\"cpu\":\"2\",\"memory\":\"3Gi\"}}");
	_cleanup_json_ json_t *pods = usage_pod_metrics(&before, &after);
	assert_json(pods, "[{\"kind\":\"PodMetrics\",\"apiVersion\":\"metrics.k8s.io/v1beta1\","
			  "\"metadata\":{\"name\":\"api\",\"namespace\":\"default\"},"
			  "\"timestamp\":\"2026-11-25T12:49:55Z\",\"window\":\"15s\","
			  "\"containers\":[{\"name\":\"main\",\"usage\":{\"cpu\":\"10m\","
			  "\"memory\":\"64Mi\"}}]},"
			  "{\"kind\":\"PodMetrics\",\"apiVersion\":\"metrics.k8s.io/v1beta1\","
			  "\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},"
			  "\"timestamp\":\"2026-11-25T12:49:55Z\",\"window\":\"15s\","
			  "\"containers\":[{\"name\":\"web\",\"usage\":{\"cpu\":\"0\","
			  "\"memory\":\"1536Ki\"}}]}]");
	free(first_all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keyed_files),
	    cmocka_unit_test(test_proc_stat),
	    cmocka_unit_test(test_statm),
	    cmocka_unit_test_setup_teardown(test_cgroup_with_memory_controller, make_root,
					    remove_root),
	    cmocka_unit_test_setup_teardown(test_cgroup_without_memory_controller, make_root,
					    remove_root),
	    cmocka_unit_test_setup_teardown(test_cgroup_gone, make_root, remove_root),
	    cmocka_unit_test_setup_teardown(test_containers_from_state_files, make_root,
					    remove_root),
	    cmocka_unit_test_setup_teardown(test_sample_of_the_node, make_root, remove_root),
	    cmocka_unit_test(test_rates),
	    cmocka_unit_test(test_cpu_texts),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_reports),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
