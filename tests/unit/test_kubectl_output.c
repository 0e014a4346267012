/* What ckube kubectl prints besides tables: error answers, -o json|name, Lists, ages, flags. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kubectl/args.h"
#include "kubectl/output.h"
#include "kubectl/status.h"
#include "kubectl/timefmt.h"
#include "lib/cleanup.h"

static json_t *load(const char *text)
{
	json_error_t error;
	json_t *value = json_loads(text, JSON_DECODE_ANY, &error);
	if (!value)
		fail_msg("bad JSON in test: %s", error.text);
	return value;
}

static void assert_status_text(const char *status_json, const char *verb, const char *source,
			       const char *expected)
{
	_cleanup_json_ json_t *status = load(status_json);
	_cleanup_buf_ struct buf text = {0};
	status_format(status, verb, source, &text);
	assert_string_equal(text.data, expected);
}

static void server_errors_read_like_kubectl(void **state)
{
	(void)state;
	assert_status_text(
	    "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"pods \\\"nope\\\" "
	    "not found\",\"reason\":\"NotFound\",\"code\":404}",
	    NULL, NULL, "Error from server (NotFound): pods \"nope\" not found");
	assert_status_text("{\"message\":\"pods \\\"nginx\\\" already exists\",\"reason\":"
			   "\"AlreadyExists\",\"code\":409}",
			   "creating", "pod.yaml",
			   "Error from server (AlreadyExists): error when creating \"pod.yaml\": "
			   "pods \"nginx\" already exists");
	assert_status_text("{\"message\":\"boom\",\"code\":500}", NULL, NULL,
			   "Error from server: boom");
	assert_status_text(
	    "{\"message\":\"Unauthorized\",\"reason\":\"Unauthorized\",\"code\":401}", NULL, NULL,
	    "error: You must be logged in to the server (Unauthorized)");
	assert_status_text(
	    "{\"reason\":\"Invalid\",\"message\":\"ignored\",\"details\":{\"name\":"
	    "\"bad\",\"kind\":\"Pod\",\"causes\":[{\"reason\":\"FieldValueRequired\","
	    "\"message\":\"Required value\",\"field\":\"spec.containers\"}]}}",
	    "creating", "bad.yaml", "The Pod \"bad\" is invalid: spec.containers: Required value");
	assert_status_text(
	    "{\"reason\":\"Invalid\",\"details\":{\"name\":\"bad\",\"kind\":\"Pod\","
	    "\"causes\":[{\"message\":\"Required value\",\"field\":\"a\"},{"
	    "\"message\":\"Invalid value: -1\",\"field\":\"b\"}]}}",
	    NULL, NULL,
	    "The Pod \"bad\" is invalid: \n* a: Required value\n* b: Invalid value: -1");
	assert_status_text("{\"reason\":\"Invalid\",\"message\":\"no details\"}", NULL, NULL,
			   "The request is invalid: no details");
}

static void answers_without_a_status_get_client_go_wording(void **state)
{
	(void)state;
	_cleanup_json_ json_t *not_found = status_from_response(404, "404 page not found\n", 19);
	_cleanup_buf_ struct buf text = {0};
	status_format(not_found, NULL, NULL, &text);
	assert_string_equal(
	    text.data,
	    "Error from server (NotFound): the server could not find the requested resource");
	assert_int_equal(status_code(not_found), 404);

	_cleanup_json_ json_t *crash = status_from_response(502, "bad gateway", 11);
	buf_reset(&text);
	status_format(crash, NULL, NULL, &text);
	assert_string_equal(text.data,
			    "Error from server (InternalError): an error on the server (\"bad "
			    "gateway\") has prevented the request from succeeding");

	const char body[] = "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"message\":\"m\"}";
	_cleanup_json_ json_t *real = status_from_response(409, body, strlen(body));
	assert_int_equal(status_code(real), 409);
	assert_string_equal(json_string_value(json_object_get(real, "reason")), "Conflict");
}

static void json_output_matches_go(void **state)
{
	(void)state;
	_cleanup_json_ json_t *value =
	    load("{\"b\":[1,2.5,true,null,{}],\"a\":\"<tag> & \\u2028 \\u0001\\n\",\"e\":[],"
		 "\"r\":1e-7,\"big\":1e21,\"one\":1.0}");
	_cleanup_buf_ struct buf out = {0};
	output_json(value, &out);
	assert_string_equal(out.data,
			    "{\n"
			    "    \"a\": \"\\u003ctag\\u003e \\u0026 \\u2028 \\u0001\\n\",\n"
			    "    \"b\": [\n"
			    "        1,\n"
			    "        2.5,\n"
			    "        true,\n"
			    "        null,\n"
			    "        {}\n"
			    "    ],\n"
			    "    \"big\": 1e+21,\n"
			    "    \"e\": [],\n"
			    "    \"one\": 1,\n"
			    "    \"r\": 1e-7\n"
			    "}\n");
}

static char *print(const json_t *object, enum output_format format)
{
	char *text = NULL;
	size_t len = 0;
	struct kubectl k = {.out = open_memstream(&text, &len), .err = stderr};
	struct ck_error err = {0};
	assert_int_equal(output_object(&k, object, format, &err), 0);
	fclose(k.out);
	return text;
}

static void lists_and_names(void **state)
{
	(void)state;
	_cleanup_json_ json_t *pod_list =
	    load("{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"items\":[{\"metadata\":{\"name\":"
		 "\"a\"}}]}");
	json_t *item = json_array_get(json_object_get(pod_list, "items"), 0);
	output_fill_item_type(item, pod_list);
	_cleanup_json_ json_t *deployment = load(
	    "{\"kind\":\"Deployment\",\"apiVersion\":\"apps/v1\",\"metadata\":{\"name\":\"d\"}}");
	_cleanup_json_ json_t *items = json_pack("[O,O]", item, deployment);
	_cleanup_json_ json_t *list = output_list(items);

	_cleanup_free_ char *names = print(list, OUTPUT_NAME);
	assert_string_equal(names, "pod/a\ndeployment.apps/d\n");
	_cleanup_free_ char *yaml = print(list, OUTPUT_YAML);
	assert_string_equal(yaml, "apiVersion: v1\n"
				  "items:\n"
				  "- apiVersion: v1\n"
				  "  kind: Pod\n"
				  "  metadata:\n"
				  "    name: a\n"
				  "- apiVersion: apps/v1\n"
				  "  kind: Deployment\n"
				  "  metadata:\n"
				  "    name: d\n"
				  "kind: List\n"
				  "metadata:\n"
				  "  resourceVersion: \"\"\n");

	enum output_format format;
	struct ck_error err = {0};
	assert_int_equal(output_format_parse("wide", &format, &err), 0);
	assert_int_equal(format, OUTPUT_WIDE);
	assert_int_equal(output_format_parse("jsonpath", &format, &err), -EINVAL);
	assert_string_equal(err.message, "unable to match a printer suitable for the output format "
					 "\"jsonpath\", allowed formats are: json,name,wide,yaml");
}

static void ages_and_dates(void **state)
{
	(void)state;
	static const struct {
		const char *when;
		const char *age;
	} ages[] = {
	    {"2026-11-25T12:50:00Z", "0s"},   {"2026-11-25T12:49:52Z", "8s"},
	    {"2026-11-25T12:46:57Z", "3m3s"}, {"2026-11-25T09:20:00Z", "3h30m"},
	    {"2026-11-23T10:50:00Z", "2d2h"}, {"2026-11-25T12:50:05Z", "<invalid>"},
	    {"yesterday", "<unknown>"},
	};
	time_t now;
	assert_int_equal(time_parse_rfc3339("2026-11-25T12:50:00Z", &now), 0);
	for (size_t i = 0; i < sizeof(ages) / sizeof(ages[0]); i++) {
		_cleanup_buf_ struct buf text = {0};
		time_format_age(ages[i].when, now, &text);
		assert_string_equal(text.data, ages[i].age);
	}
	time_t t;
	assert_int_equal(time_parse_rfc3339("2026-11-25T12:49:56Z", &t), 0);
	assert_int_equal(t, 1795610996);
	assert_int_equal(time_parse_rfc3339("2026-11-25T13:49:56.5+01:00", &t), 0);
	assert_int_equal(t, 1795610996);
	assert_int_equal(time_parse_rfc3339("2026-11-25 12:49:56Z", &t), -EINVAL);
	assert_int_equal(time_parse_rfc3339("2026-11-25T12:49:56", &t), -EINVAL);
	assert_int_equal(time_parse_rfc3339(NULL, &t), -EINVAL);

	setenv("TZ", "UTC", 1);
	tzset();
	_cleanup_buf_ struct buf date = {0}, unknown = {0};
	time_format_rfc1123z(1795610996, &date);
	assert_string_equal(date.data, "Wed, 25 Nov 2026 12:49:56 +0000");
	time_format_age(NULL, 0, &unknown);
	assert_string_equal(unknown.data, "<unknown>");
}

static void flags_parse_like_pflag(void **state)
{
	(void)state;
	const char *namespace = NULL, *output = NULL;
	bool all = false, watch = false, wait = true;
	long tail = -1;
	struct arg_strings files = {0}, rest = {0};
	const struct arg_option options[] = {
	    {'n', "namespace", ARG_STRING, &namespace},
	    {'o', "output", ARG_STRING, &output},
	    {'A', "all-namespaces", ARG_BOOL, &all},
	    {'w', "watch", ARG_BOOL, &watch},
	    {0, "wait", ARG_BOOL, &wait},
	    {0, "tail", ARG_LONG, &tail},
	    {'f', "filename", ARG_STRINGS, &files},
	    {0},
	};
	const char *argv[] = {"get",  "-nkube-system", "pods", "-Aw",    "--wait=false",      "-o",
			      "yaml", "--tail=-3",     "-f",   "a.yaml", "--filename=b.yaml", "--",
			      "-x"};
	struct ck_error err = {0};
	assert_int_equal(args_parse(13, argv, options, false, &rest, &err), 0);
	assert_string_equal(namespace, "kube-system");
	assert_string_equal(output, "yaml");
	assert_true(all && watch && !wait);
	assert_int_equal(tail, -3);
	assert_int_equal(files.count, 2);
	assert_string_equal(files.items[1], "b.yaml");
	assert_int_equal(rest.count, 3);
	assert_string_equal(rest.items[1], "pods");
	assert_string_equal(rest.items[2], "-x");
	arg_strings_free(&files);
	arg_strings_free(&rest);

	const char *unknown[] = {"--bogus"};
	assert_int_equal(args_parse(1, unknown, options, false, &rest, &err), -EINVAL);
	assert_string_equal(err.message, "unknown flag: --bogus");
	const char *shorthand[] = {"-Ax"};
	assert_int_equal(args_parse(1, shorthand, options, false, &rest, &err), -EINVAL);
	assert_string_equal(err.message, "unknown shorthand flag: 'x' in -Ax");
	const char *missing[] = {"--namespace"};
	assert_int_equal(args_parse(1, missing, options, false, &rest, &err), -EINVAL);
	assert_string_equal(err.message, "flag needs an argument: --namespace");
	const char *bad_bool[] = {"--wait=maybe"};
	assert_int_equal(args_parse(1, bad_bool, options, false, &rest, &err), -EINVAL);
	assert_string_equal(err.message, "invalid argument \"maybe\" for \"--wait\" flag: "
					 "strconv.ParseBool: parsing \"maybe\": invalid syntax");
	arg_strings_free(&rest);

	/* the global pass leaves what it does not know, values included, for the verb */
	const char *global[] = {"get", "-o", "wide", "-n", "x", "--watch", "--", "y"};
	namespace = NULL;
	const struct arg_option globals[] = {{'n', "namespace", ARG_STRING, &namespace}, {0}};
	assert_int_equal(args_parse(8, global, globals, true, &rest, &err), 0);
	assert_string_equal(namespace, "x");
	assert_int_equal(rest.count, 6);
	assert_string_equal(rest.items[1], "-o");
	assert_string_equal(rest.items[4], "--");
	arg_strings_free(&rest);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(server_errors_read_like_kubectl),
	    cmocka_unit_test(answers_without_a_status_get_client_go_wording),
	    cmocka_unit_test(json_output_matches_go),
	    cmocka_unit_test(lists_and_names),
	    cmocka_unit_test(ages_and_dates),
	    cmocka_unit_test(flags_parse_like_pflag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
