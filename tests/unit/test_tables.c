/* The columns `kubectl get` prints, computed by the server for each kind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/resources.h"
#include "apiserver/table.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"

static const time_t now = 1800000000; /* fixed, so ages are predictable */

/* The cells of one row as "a|b|c". */
static char *row_of(const char *plural, const char *json)
{
	const struct api_resource *r =
	    api_resource_find(plural[0] == 'l' ? "coordination.k8s.io" : "", "v1", plural);
	json_error_t error;
	_cleanup_json_ json_t *obj = json_loads(json, 0, &error);
	if (!obj)
		fail_msg("bad JSON: %s", error.text);
	_cleanup_json_ json_t *table = table_new(r, "meta.k8s.io/v1", true);
	table_add_row(table, r, obj, TABLE_INCLUDE_METADATA, now);
	json_t *cells = json_object_get(json_array_get(json_object_get(table, "rows"), 0), "cells");
	assert_int_equal(json_array_size(cells),
			 json_array_size(json_object_get(table, "columnDefinitions")));
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	size_t i;
	json_t *cell;
	json_array_foreach (cells, i, cell) {
		if (json_is_string(cell))
			fprintf(f, "%s%s", i ? "|" : "", json_string_value(cell));
		else
			fprintf(f, "%s%lld", i ? "|" : "", (long long)json_integer_value(cell));
	}
	fclose(f);
	return out;
}

/* 2027-01-15T08:00:00Z is `now` minus 5 minutes. */
#define FIVE_MINUTES_AGO "2027-01-15T07:55:00Z"

static void pending_pod(void **state)
{
	(void)state;
	char *row = row_of(
	    "pods",
	    "{\"metadata\":{\"name\":\"web\",\"creationTimestamp\":\"" FIVE_MINUTES_AGO "\"},"
	    "\"spec\":{\"containers\":[{\"name\":\"c\"}]},\"status\":{\"phase\":\"Pending\"}}");
	assert_string_equal(row, "web|0/1|Pending|0|5m|<none>|<none>|<none>|<none>");
	free(row);
}

static void running_pod_with_restarts(void **state)
{
	(void)state;
	char *row = row_of(
	    "pods",
	    "{\"metadata\":{\"name\":\"web\",\"creationTimestamp\":\"" FIVE_MINUTES_AGO "\"},"
	    "\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}]},"
	    "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.244.0.7\",\"podIPs\":[{\"ip\":\"10."
	    "244.0.7\"}],"
	    "\"containerStatuses\":[{\"name\":\"a\",\"ready\":true,\"restartCount\":2,"
	    "\"state\":{\"running\":{}},\"lastState\":{\"terminated\":{\"finishedAt\":"
	    "\"" FIVE_MINUTES_AGO "\"}}},"
	    "{\"name\":\"b\",\"ready\":false,\"restartCount\":1,\"state\":{\"waiting\":{\"reason\":"
	    "\"CrashLoopBackOff\"}}}]}}");
	assert_string_equal(row,
			    "web|1/2|CrashLoopBackOff|3 (5m ago)|5m|10.244.0.7|n1|<none>|<none>");
	free(row);
}

static void init_containers_and_termination(void **state)
{
	(void)state;
	char *row = row_of(
	    "pods",
	    "{\"metadata\":{\"name\":\"p\",\"creationTimestamp\":\"" FIVE_MINUTES_AGO "\"},"
	    "\"spec\":{\"initContainers\":[{\"name\":\"i\"}],\"containers\":[{\"name\":\"c\"}]},"
	    "\"status\":{\"phase\":\"Pending\",\"initContainerStatuses\":[{\"name\":\"i\","
	    "\"state\":{\"running\":{}}}]}}");
	assert_string_equal(row, "p|0/1|Init:0/1|0|5m|<none>|<none>|<none>|<none>");
	free(row);
	row = row_of(
	    "pods",
	    "{\"metadata\":{\"name\":\"p\",\"creationTimestamp\":\"" FIVE_MINUTES_AGO "\","
	    "\"deletionTimestamp\":\"" FIVE_MINUTES_AGO "\"},"
	    "\"spec\":{\"containers\":[{\"name\":\"c\"}]},\"status\":{\"phase\":\"Running\"}}");
	assert_string_equal(row, "p|0/1|Terminating|0|5m|<none>|<none>|<none>|<none>");
	free(row);
}

static void services_show_ports_and_selector(void **state)
{
	(void)state;
	char *row = row_of(
	    "services",
	    "{\"metadata\":{\"name\":\"web\",\"creationTimestamp\":\"" FIVE_MINUTES_AGO "\"},"
	    "\"spec\":{\"type\":\"NodePort\",\"clusterIP\":\"10.96.0.10\",\"selector\":{\"app\":"
	    "\"web\"},"
	    "\"ports\":[{\"port\":80,\"nodePort\":30080,\"protocol\":\"TCP\"},{\"port\":53,"
	    "\"protocol\":\"UDP\"}]}}");
	assert_string_equal(row, "web|NodePort|10.96.0.10|<none>|80:30080/TCP,53/UDP|5m|app=web");
	free(row);
}

static void nodes_show_readiness_and_roles(void **state)
{
	(void)state;
	char *row =
	    row_of("nodes",
		   "{\"metadata\":{\"name\":\"n1\",\"creationTimestamp\":\"" FIVE_MINUTES_AGO "\","
		   "\"labels\":{\"node-role.kubernetes.io/control-plane\":\"\"}},"
		   "\"spec\":{\"unschedulable\":true},"
		   "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],"
		   "\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"192.0.2.4\"}],"
		   "\"nodeInfo\":{\"kubeletVersion\":\"v1.32.0\",\"osImage\":\"Debian\","
		   "\"kernelVersion\":\"6.1\",\"containerRuntimeVersion\":\"ckube://0.1.0\"}}}");
	assert_string_equal(row,
			    "n1|Ready,SchedulingDisabled|control-plane|5m|v1.32.0|192.0.2.4|<none>|"
			    "Debian|6.1|ckube://0.1.0");
	free(row);
	row =
	    row_of("nodes",
		   "{\"metadata\":{\"name\":\"n2\",\"creationTimestamp\":\"" FIVE_MINUTES_AGO "\"},"
		   "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"Unknown\"}]}}");
	assert_string_equal(row,
			    "n2|NotReady|<none>|5m||<none>|<none>|<unknown>|<unknown>|<unknown>");
	free(row);
}

static void endpoints_are_abbreviated(void **state)
{
	(void)state;
	char *row = row_of(
	    "endpoints",
	    "{\"metadata\":{\"name\":\"web\",\"creationTimestamp\":\"" FIVE_MINUTES_AGO "\"},"
	    "\"subsets\":[{\"addresses\":[{\"ip\":\"10.0.0.1\"},{\"ip\":\"10.0.0.2\"},"
	    "{\"ip\":\"10.0.0.3\"},{\"ip\":\"10.0.0.4\"}],\"ports\":[{\"port\":80}]}]}");
	assert_string_equal(row, "web|10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more...|5m");
	free(row);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(pending_pod),
	    cmocka_unit_test(running_pod_with_restarts),
	    cmocka_unit_test(init_containers_and_termination),
	    cmocka_unit_test(services_show_ports_and_selector),
	    cmocka_unit_test(nodes_show_readiness_and_roles),
	    cmocka_unit_test(endpoints_are_abbreviated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
