/* The tabwriter and the Table printer, against what kubectl 1.32 prints for the same Tables
 * (tests/e2e and the recorded transcripts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "kubectl/table.h"
#include "kubectl/tabwriter.h"
#include "lib/cleanup.h"

#define POD_COLUMNS                                                                         \
	"[{\"name\":\"Name\",\"type\":\"string\",\"format\":\"name\",\"priority\":0},"      \
	"{\"name\":\"Ready\",\"type\":\"string\",\"format\":\"\",\"priority\":0},"          \
	"{\"name\":\"Status\",\"type\":\"string\",\"format\":\"\",\"priority\":0},"         \
	"{\"name\":\"Restarts\",\"type\":\"string\",\"format\":\"\",\"priority\":0},"       \
	"{\"name\":\"Age\",\"type\":\"string\",\"format\":\"\",\"priority\":0},"            \
	"{\"name\":\"IP\",\"type\":\"string\",\"format\":\"\",\"priority\":1},"             \
	"{\"name\":\"Node\",\"type\":\"string\",\"format\":\"\",\"priority\":1},"           \
	"{\"name\":\"Nominated Node\",\"type\":\"string\",\"format\":\"\",\"priority\":1}," \
	"{\"name\":\"Readiness Gates\",\"type\":\"string\",\"format\":\"\",\"priority\":1}]"

#define ROW(ns, cells)                                                                       \
	"{\"cells\":" cells ",\"object\":{\"kind\":\"PartialObjectMetadata\",\"metadata\":{" \
	"\"namespace\":\"" ns "\"}}}"

static const char pods_table[] =
    "{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{\"resourceVersion\":"
    "\"177\"},\"columnDefinitions\":" POD_COLUMNS ",\"rows\":[" ROW(
	"default",
	"[\"nginx\",\"1/1\",\"Running\",0,\"2s\",\"10.244.0.173\",\"node-1\","
	"\"<none>\",\"<none>\"]") "," ROW("default",
					  "[\"web\",\"1/"
					  "1\",\"Running\",0,\"1s\",\"10.244.0.175\",\"node-1\","
					  "\"<none>\",\"<none>\"]") "]}";

static json_t *load(const char *text)
{
	json_error_t error;
	json_t *value = json_loads(text, 0, &error);
	if (!value)
		fail_msg("bad JSON in test: %s", error.text);
	return value;
}

static void print_table(const char *json, bool wide, bool with_namespace, const char *prefix,
			const char *expected)
{
	_cleanup_json_ json_t *table = load(json);
	struct table_printer printer;
	table_printer_init(&printer, wide, with_namespace, prefix);
	_cleanup_buf_ struct buf out = {0};
	table_printer_print(&printer, table, &out);
	assert_string_equal(out.data ? out.data : "", expected);
	table_printer_free(&printer);
}

static void pods_print_like_kubectl_get(void **state)
{
	(void)state;
	print_table(pods_table, false, false, NULL,
		    "NAME    READY   STATUS    RESTARTS   AGE\n"
		    "nginx   1/1     Running   0          2s\n"
		    "web     1/1     Running   0          1s\n");
}

static void wide_adds_priority_one_columns(void **state)
{
	(void)state;
	print_table(
	    pods_table, true, false, NULL,
	    "NAME    READY   STATUS    RESTARTS   AGE   IP             NODE     NOMINATED NODE"
	    "   READINESS GATES\n"
	    "nginx   1/1     Running   0          2s    10.244.0.173   node-1   <none>        "
	    "   <none>\n"
	    "web     1/1     Running   0          1s    10.244.0.175   node-1   <none>        "
	    "   <none>\n");
}

static void all_namespaces_and_kind_prefix(void **state)
{
	(void)state;
	print_table(pods_table, false, true, "pod",
		    "NAMESPACE   NAME        READY   STATUS    RESTARTS   AGE\n"
		    "default     pod/nginx   1/1     Running   0          2s\n"
		    "default     pod/web     1/1     Running   0          1s\n");
}

static void empty_table_prints_nothing(void **state)
{
	(void)state;
	print_table("{\"kind\":\"Table\",\"columnDefinitions\":" POD_COLUMNS ",\"rows\":[]}", false,
		    false, NULL, "");
}

static void cells_are_cut_at_line_breaks_and_escaped(void **state)
{
	(void)state;
	print_table("{\"columnDefinitions\":[{\"name\":\"Name\",\"priority\":0},"
		    "{\"name\":\"Message\",\"priority\":0},{\"name\":\"Flag\",\"priority\":0}],"
		    "\"rows\":[{\"cells\":[\"a\\u001b[31m\",\"two\\nlines\",true]},"
		    "{\"cells\":[\"tab\\there\",null,1.5]}]}",
		    false, false, NULL,
		    "NAME       MESSAGE   FLAG\n"
		    "a^[[31m    two...    true\n"
		    "tab here             1.5\n");
}

/* kubectl get -w: the header once, then one-row Tables without column definitions; columns
 * only ever grow, so "Terminating" widens STATUS for its own row only. */
static void watch_rows_stay_aligned_under_the_header(void **state)
{
	(void)state;
	static const char *const events[] = {
	    "{\"columnDefinitions\":null,\"rows\":[" ROW("default",
							 "[\"w1\",\"0/1\",\"Pending\","
							 "0,\"0s\",\"<none>\",\"<none>\","
							 "\"<none>\",\"<none>\"]") "]}",
	    "{\"columnDefinitions\":null,\"rows\":[" ROW("default", "[\"w1\",\"1/1\",\"Running\","
								    "0,\"1s\",\"10.244.0.178\","
								    "\"node-1\",\"<none>\","
								    "\"<none>\"]") "]}",
	    "{\"columnDefinitions\":null,\"rows\":[" ROW(
		"default", "[\"w1\",\"1/1\",\"Terminating\",0,\"2s\",\"10.244.0.178\",\"node-1\","
			   "\"<none>\",\"<none>\"]") "]}",
	};
	struct table_printer printer;
	table_printer_init(&printer, false, false, NULL);
	_cleanup_buf_ struct buf out = {0};
	_cleanup_json_ json_t *first = load(pods_table);
	table_printer_print(&printer, first, &out);
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		_cleanup_json_ json_t *event = load(events[i]);
		table_printer_print(&printer, event, &out);
	}
	table_printer_free(&printer);
	assert_string_equal(out.data, "NAME    READY   STATUS    RESTARTS   AGE\n"
				      "nginx   1/1     Running   0          2s\n"
				      "web     1/1     Running   0          1s\n"
				      "w1      0/1     Pending   0          0s\n"
				      "w1      1/1     Running   0          1s\n"
				      "w1      1/1     Terminating   0          2s\n");
}

static void watch_without_an_initial_list_prints_the_header_with_the_first_row(void **state)
{
	(void)state;
	struct table_printer printer;
	table_printer_init(&printer, false, false, NULL);
	_cleanup_buf_ struct buf out = {0};
	_cleanup_json_ json_t *empty = load("{\"columnDefinitions\":" POD_COLUMNS ",\"rows\":[]}");
	_cleanup_json_ json_t *event = load("{\"columnDefinitions\":" POD_COLUMNS ",\"rows\":[" ROW(
	    "default", "[\"w1\",\"0/1\",\"Pending\",0,\"0s\",\"\",\"\",\"\",\"\"]") "]}");
	table_printer_print(&printer, empty, &out);
	assert_null(out.data);
	table_printer_print(&printer, event, &out);
	table_printer_print(&printer, event, &out);
	table_printer_free(&printer);
	assert_string_equal(out.data, "NAME   READY   STATUS    RESTARTS   AGE\n"
				      "w1     0/1     Pending   0          0s\n"
				      "w1     0/1     Pending   0          0s\n");
}

static void describe_blocks_align_independently(void **state)
{
	(void)state;
	struct tabwriter tw;
	tabwriter_init_describe(&tw);
	tabwriter_write(&tw,
			"Name:\tnginx\nAnnotations:\t<none>\nContainers:\n  nginx:\n"
			"    Restart Count:\t0\n    Image:\tnginx\nConditions:\n  Type\tStatus\n"
			"  PodScheduled \tTrue \nVolumes:\t<none>\nno tab at the end");
	_cleanup_buf_ struct buf out = {0};
	tabwriter_flush(&tw, &out);
	tabwriter_free(&tw);
	assert_string_equal(out.data, "Name:         nginx\n"
				      "Annotations:  <none>\n"
				      "Containers:\n"
				      "  nginx:\n"
				      "    Restart Count:  0\n"
				      "    Image:          nginx\n"
				      "Conditions:\n"
				      "  Type           Status\n"
				      "  PodScheduled   True \n"
				      "Volumes:         <none>\n"
				      "no tab at the end");
}

static void widths_count_characters_not_bytes(void **state)
{
	(void)state;
	struct tabwriter tw;
	tabwriter_init_table(&tw);
	tabwriter_write(&tw, "NAME\tX\nhéllo\ty\n");
	_cleanup_buf_ struct buf out = {0};
	tabwriter_flush(&tw, &out);
	tabwriter_free(&tw);
	assert_string_equal(out.data, "NAME    X\n"
				      "héllo   y\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(pods_print_like_kubectl_get),
	    cmocka_unit_test(wide_adds_priority_one_columns),
	    cmocka_unit_test(all_namespaces_and_kind_prefix),
	    cmocka_unit_test(empty_table_prints_nothing),
	    cmocka_unit_test(cells_are_cut_at_line_breaks_and_escaped),
	    cmocka_unit_test(watch_rows_stay_aligned_under_the_header),
	    cmocka_unit_test(watch_without_an_initial_list_prints_the_header_with_the_first_row),
	    cmocka_unit_test(describe_blocks_align_independently),
	    cmocka_unit_test(widths_count_characters_not_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
