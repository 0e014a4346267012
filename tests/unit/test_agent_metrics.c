/* The agent's metrics in the Prometheus text format, checked as exact text: families in name
 * order with HELP and TYPE, cumulative histogram buckets with _sum and _count, counters by
 * label, escaped label values, numbers as Go's client writes them; and recording from several
 * threads at once. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kubelet/agent_metrics.h"
#include "lib/buf.h"

#define HEADERS_API                                                                                \
	"# HELP ckube_api_errors_total Calls of the node agent to the API server that failed, by " \
	"operation.\n"                                                                             \
	"# TYPE ckube_api_errors_total counter\n"
#define HEADERS_CPU                                                                            \
	"# HELP ckube_container_cpu_usage_seconds_total CPU time used by a running container " \
	"(its "                                                                                \
	"cgroup's cpu.stat usage_usec).\n"                                                     \
	"# TYPE ckube_container_cpu_usage_seconds_total counter\n"
#define HEADERS_MEMORY                                                                         \
	"# HELP ckube_container_memory_working_set_bytes Working set of a running container: " \
	"memory.current minus inactive_file, or its processes' resident memory without the "   \
	"memory controller.\n"                                                                 \
	"# TYPE ckube_container_memory_working_set_bytes gauge\n"
#define HEADERS_START                                                                          \
	"# HELP ckube_pod_start_duration_seconds Time from the agent seeing a pod to all its " \
	"containers running.\n"                                                                \
	"# TYPE ckube_pod_start_duration_seconds histogram\n"
#define HEADERS_SYNC                                                              \
	"# HELP ckube_pod_sync_duration_seconds Time one sync of one pod took.\n" \
	"# TYPE ckube_pod_sync_duration_seconds histogram\n"
#define HEADERS_RUNNING                                                                         \
	"# HELP ckube_running_containers Containers of pods whose process runs on this node.\n" \
	"# TYPE ckube_running_containers gauge\n"

#define EMPTY_HISTOGRAM(name)                                                              \
	name "_bucket{le=\"0.005\"} 0\n" name "_bucket{le=\"0.01\"} 0\n" name              \
	     "_bucket{le=\"0.025\"} 0\n" name "_bucket{le=\"0.05\"} 0\n" name              \
	     "_bucket{le=\"0.1\"} 0\n" name "_bucket{le=\"0.25\"} 0\n" name                \
	     "_bucket{le=\"0.5\"} 0\n" name "_bucket{le=\"1\"} 0\n" name                   \
	     "_bucket{le=\"2.5\"} 0\n" name "_bucket{le=\"5\"} 0\n" name                   \
	     "_bucket{le=\"10\"} 0\n" name "_bucket{le=\"+Inf\"} 0\n" name "_sum 0\n" name \
	     "_count 0\n"

static void assert_text(struct agent_metrics *metrics, const struct container_usage *containers,
			size_t count, const char *expected)
{
	struct buf out = {0};

	agent_metrics_render(metrics, containers, count, &out);
	if (strcmp(out.data, expected) != 0)
		fail_msg("got:\n%s\nwanted:\n%s", out.data, expected);
	buf_free(&out);
}

static void test_nothing_recorded(void **state)
{
	(void)state;
	struct agent_metrics *metrics = agent_metrics_new("/nonexistent/ckube-run", "");

	assert_text(metrics, NULL, 0,
		    HEADERS_API HEADERS_CPU HEADERS_MEMORY HEADERS_START EMPTY_HISTOGRAM(
			"ckube_pod_start_duration_seconds")
			HEADERS_SYNC EMPTY_HISTOGRAM("ckube_pod_sync_duration_seconds")
			    HEADERS_RUNNING "ckube_running_containers 0\n");
	/* A scrape without a run directory has no containers and says so. */
	char *scraped = agent_metrics_scrape(metrics);
	assert_non_null(strstr(scraped, "\nckube_running_containers 0\n"));
	free(scraped);
	agent_metrics_free(metrics);
}

static void test_everything_recorded(void **state)
{
	(void)state;
	struct agent_metrics *metrics = agent_metrics_new("/nonexistent/ckube-run", "");
	const struct container_usage containers[] = {
	    {.namespace = (char *)"default",
	     .pod = (char *)"web",
	     .container = (char *)"app",
	     .usage = {.cpu_usec = 1500000, .working_set = 1048576}},
	    {.namespace = (char *)"we\"ird",
	     .pod = (char *)"p\\q",
	     .container = (char *)"c\nd",
	     .usage = {.cpu_usec = 12, .working_set = 0}},
	};

	agent_metrics_pod_started(metrics, 0.003);
	agent_metrics_pod_started(metrics, 0.2);
	agent_metrics_pod_started(metrics, 3);
	agent_metrics_pod_started(metrics, 12); /* above every bucket: only +Inf */
	agent_metrics_pod_synced(metrics, 0.1); /* a bucket's bound is inside it (le) */
	agent_metrics_pod_synced(metrics, 0.2);
	agent_metrics_api_error(metrics, "update_pod_status");
	agent_metrics_api_error(metrics, "report_usage");
	agent_metrics_api_error(metrics, "update_pod_status");

	assert_text(
	    metrics, containers, 2,
	    HEADERS_API
	    "ckube_api_errors_total{operation=\"report_usage\"} 1\n"
	    "ckube_api_errors_total{operation=\"update_pod_status\"} 2\n" HEADERS_CPU
	    "ckube_container_cpu_usage_seconds_total{namespace=\"default\",pod=\"web\","
	    "container=\"app\"} 1.5\n"
	    "ckube_container_cpu_usage_seconds_total{namespace=\"we\\\"ird\",pod=\"p\\\\q\","
	    "container=\"c\\nd\"} 1.2e-05\n" HEADERS_MEMORY
	    "ckube_container_memory_working_set_bytes{namespace=\"default\",pod=\"web\","
	    "container=\"app\"} 1.048576e+06\n"
	    "ckube_container_memory_working_set_bytes{namespace=\"we\\\"ird\","
	    "pod=\"p\\\\q\",container=\"c\\nd\"} 0\n" HEADERS_START
	    "ckube_pod_start_duration_seconds_bucket{le=\"0.005\"} 1\n"
	    "ckube_pod_start_duration_seconds_bucket{le=\"0.01\"} 1\n"
	    "ckube_pod_start_duration_seconds_bucket{le=\"0.025\"} 1\n"
	    "ckube_pod_start_duration_seconds_bucket{le=\"0.05\"} 1\n"
	    "ckube_pod_start_duration_seconds_bucket{le=\"0.1\"} 1\n"
	    "ckube_pod_start_duration_seconds_bucket{le=\"0.25\"} 2\n"
	    "ckube_pod_start_duration_seconds_bucket{le=\"0.5\"} 2\n"
	    "ckube_pod_start_duration_seconds_bucket{le=\"1\"} 2\n"
	    "ckube_pod_start_duration_seconds_bucket{le=\"2.5\"} 2\n"
	    "ckube_pod_start_duration_seconds_bucket{le=\"5\"} 3\n"
	    "ckube_pod_start_duration_seconds_bucket{le=\"10\"} 3\n"
	    "ckube_pod_start_duration_seconds_bucket{le=\"+Inf\"} 4\n"
	    "ckube_pod_start_duration_seconds_sum 15.203\n"
	    "ckube_pod_start_duration_seconds_count 4\n" HEADERS_SYNC
	    "ckube_pod_sync_duration_seconds_bucket{le=\"0.005\"} 0\n"
	    "ckube_pod_sync_duration_seconds_bucket{le=\"0.01\"} 0\n"
	    "ckube_pod_sync_duration_seconds_bucket{le=\"0.025\"} 0\n"
	    "ckube_pod_sync_duration_seconds_bucket{le=\"0.05\"} 0\n"
	    "ckube_pod_sync_duration_seconds_bucket{le=\"0.1\"} 1\n"
	    "ckube_pod_sync_duration_seconds_bucket{le=\"0.25\"} 2\n"
	    "ckube_pod_sync_duration_seconds_bucket{le=\"0.5\"} 2\n"
	    "ckube_pod_sync_duration_seconds_bucket{le=\"1\"} 2\n"
	    "ckube_pod_sync_duration_seconds_bucket{le=\"2.5\"} 2\n"
	    "ckube_pod_sync_duration_seconds_bucket{le=\"5\"} 2\n"
	    "ckube_pod_sync_duration_seconds_bucket{le=\"10\"} 2\n"
	    "ckube_pod_sync_duration_seconds_bucket{le=\"+Inf\"} 2\n"
	    /* The shortest text that reads back as the same double, like Go. */
	    "ckube_pod_sync_duration_seconds_sum 0.30000000000000004\n"
	    "ckube_pod_sync_duration_seconds_count 2\n" HEADERS_RUNNING
	    "ckube_running_containers 2\n");
	agent_metrics_free(metrics);
}

#define THREADS 4
#define ROUNDS 20000

static void *record(void *arg)
{
	struct agent_metrics *metrics = arg;

	for (int i = 0; i < ROUNDS; i++) {
		agent_metrics_pod_synced(metrics, 0.5);
		agent_metrics_api_error(metrics, i % 2 ? "a" : "b");
	}
	return NULL;
}

static void test_recording_from_threads(void **state)
{
	(void)state;
	struct agent_metrics *metrics = agent_metrics_new("/nonexistent/ckube-run", "");
	pthread_t threads[THREADS];
	struct buf out = {0};
	char line[128];

	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, record, metrics), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);
	agent_metrics_render(metrics, NULL, 0, &out);
	snprintf(line, sizeof(line), "\nckube_pod_sync_duration_seconds_count %d\n",
		 THREADS * ROUNDS);
	assert_non_null(strstr(out.data, line));
	snprintf(line, sizeof(line), "\nckube_pod_sync_duration_seconds_sum %d\n",
		 THREADS * ROUNDS / 2);
	assert_non_null(strstr(out.data, line));
	snprintf(line, sizeof(line), "\nckube_api_errors_total{operation=\"a\"} %d\n",
		 THREADS * ROUNDS / 2);
	assert_non_null(strstr(out.data, line));
	snprintf(line, sizeof(line), "\nckube_api_errors_total{operation=\"b\"} %d\n",
		 THREADS * ROUNDS / 2);
	assert_non_null(strstr(out.data, line));
	buf_free(&out);
	agent_metrics_free(metrics);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nothing_recorded),
	    cmocka_unit_test(test_everything_recorded),
	    cmocka_unit_test(test_recording_from_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
