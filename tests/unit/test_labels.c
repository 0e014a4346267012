/* Label selectors: the text syntax, metav1.LabelSelector, Service selectors, matching, the
 * canonical text, and Kubernetes' error messages. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/labels.h"

#define LABEL_VALUE_MSG                                                                          \
	"a valid label must be an empty string or consist of alphanumeric characters, '-', '_' " \
	"or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "    \
	"'my_value',  or '12345', regex used for validation is "                                 \
	"'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
#define NAME_PART_MSG                                                                             \
	"name part must consist of alphanumeric characters, '-', '_' or '.', and must start and " \
	"end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex " \
	"used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
#define INTEGER_MSG "for 'Gt', 'Lt' operators, the value must be an integer"

static void selector_freep(struct label_selector **sel)
{
	label_selector_free(*sel);
}
#define _cleanup_selector_ _cleanup_(selector_freep)

static json_t *labels_of(const char *json_text)
{
	json_error_t error;
	json_t *labels = json_loads(json_text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
	if (!labels)
		fail_msg("bad test JSON %s: %s", json_text, error.text);
	return labels;
}

/* Parses `text` and checks its canonical form. */
static struct label_selector *parse_ok(const char *text, const char *canonical)
{
	struct label_selector *sel = NULL;
	struct ck_error err = {0};
	if (label_selector_parse(text, &sel, &err) < 0)
		fail_msg("\"%s\" refused: %s", text, err.message);
	_cleanup_free_ char *formatted = label_selector_format(sel);
	assert_string_equal(formatted, canonical);
	return sel;
}

static void assert_parse_fails(const char *text, const char *message)
{
	struct label_selector *sel = NULL;
	struct ck_error err = {0};
	assert_int_equal(label_selector_parse(text, &sel, &err), -EINVAL);
	assert_null(sel);
	assert_int_equal(err.code, EINVAL);
	assert_string_equal(err.message, message);
}

static bool matches(const struct label_selector *sel, const char *labels_json)
{
	json_t *labels = labels_json ? labels_of(labels_json) : NULL;
	bool result = label_selector_matches(sel, labels);
	json_decref(labels);
	return result;
}

static void test_parse_canonical_forms(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
	    {"x=a", "x=a"},
	    {"x==a", "x==a"},
	    {"x!=a", "x!=a"},
	    {"x", "x"},
	    {"!x", "!x"},
	    {"x in (a,b)", "x in (a,b)"},
	    {"x in (b,a,b)", "x in (a,b)"},
	    {"x notin (a)", "x notin (a)"},
	    {"x>1", "x>1"},
	    {"x<0", "x<0"},
	    {"x in ()", "x in ()"},
	    {"x in (,a)", "x in (,a)"},
	    {"x in (a,)", "x in (,a)"},
	    {"x in (a,,b)", "x in (,a,b)"},
	    {"x=", "x="},
	    {"x=,y=b", "x=,y=b"},
	    {"x=in", "x=in"},
	    {"in=notin", "in=notin"},
	    {"x in(a)", "x in (a)"},
	    {"  x\t=\ra \n, y ", "x=a,y"},
	    {"z=1,a=2,m", "a=2,m,z=1"},
	    {"b=1,a=2,b!=3", "a=2,b=1,b!=3"},
	    {"!canary,app.kubernetes.io/name=web", "app.kubernetes.io/name=web,!canary"},
	    {"x==a,x==a", "x==a,x==a"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_selector_ struct label_selector *sel = parse_ok(cases[i][0], cases[i][1]);
		assert_false(label_selector_selects_everything(sel));
	}
}

static void test_empty_selects_everything(void **state)
{
	(void)state;
	static const char *const empty[] = {"", " ", "\t\r\n"};
	for (size_t i = 0; i < 3; i++) {
		_cleanup_selector_ struct label_selector *sel = parse_ok(empty[i], "");
		assert_true(label_selector_selects_everything(sel));
		assert_true(matches(sel, NULL));
		assert_true(matches(sel, "{\"a\": \"b\"}"));
	}
}

static void test_matching(void **state)
{
	(void)state;
	_cleanup_selector_ struct label_selector *eq = parse_ok("app=web", "app=web");
	assert_true(matches(eq, "{\"app\": \"web\", \"tier\": \"front\"}"));
	assert_false(matches(eq, "{\"app\": \"web2\"}"));
	assert_false(matches(eq, "{}"));
	assert_false(matches(eq, NULL));
	assert_false(matches(eq, "{\"app\": 5}")); /* not a string: no such label */

	_cleanup_selector_ struct label_selector *ne = parse_ok("app!=web", "app!=web");
	assert_false(matches(ne, "{\"app\": \"web\"}"));
	assert_true(matches(ne, "{\"app\": \"db\"}"));
	assert_true(matches(ne, NULL)); /* missing counts as different */

	_cleanup_selector_ struct label_selector *in =
	    parse_ok("tier in (front, back)", "tier in (back,front)");
	assert_true(matches(in, "{\"tier\": \"front\"}"));
	assert_true(matches(in, "{\"tier\": \"back\"}"));
	assert_false(matches(in, "{\"tier\": \"middle\"}"));
	assert_false(matches(in, "{}"));

	_cleanup_selector_ struct label_selector *notin =
	    parse_ok("tier notin (front)", "tier notin (front)");
	assert_false(matches(notin, "{\"tier\": \"front\"}"));
	assert_true(matches(notin, "{\"tier\": \"back\"}"));
	assert_true(matches(notin, "{}"));

	_cleanup_selector_ struct label_selector *exists = parse_ok("canary", "canary");
	assert_true(matches(exists, "{\"canary\": \"\"}"));
	assert_false(matches(exists, "{\"stable\": \"true\"}"));

	_cleanup_selector_ struct label_selector *absent = parse_ok("!canary", "!canary");
	assert_false(matches(absent, "{\"canary\": \"\"}"));
	assert_true(matches(absent, NULL));

	_cleanup_selector_ struct label_selector *empty_value = parse_ok("x=", "x=");
	assert_true(matches(empty_value, "{\"x\": \"\"}"));
	assert_false(matches(empty_value, "{}"));

	_cleanup_selector_ struct label_selector *both =
	    parse_ok("app=web,tier!=db", "app=web,tier!=db");
	assert_true(matches(both, "{\"app\": \"web\", \"tier\": \"front\"}"));
	assert_false(matches(both, "{\"app\": \"web\", \"tier\": \"db\"}"));

	/* A label value with a NUL byte is not equal to its first part. */
	_cleanup_selector_ struct label_selector *a = parse_ok("x=a", "x=a");
	assert_false(matches(a, "{\"x\": \"a\\u0000b\"}"));
}

static void test_numeric_comparisons(void **state)
{
	(void)state;
	_cleanup_selector_ struct label_selector *gt = parse_ok("replicas>3", "replicas>3");
	assert_true(matches(gt, "{\"replicas\": \"4\"}"));
	assert_true(matches(gt, "{\"replicas\": \"0010\"}"));
	assert_false(matches(gt, "{\"replicas\": \"3\"}"));
	assert_false(matches(gt, "{\"replicas\": \"-7\"}"));
	assert_false(matches(gt, "{\"replicas\": \"many\"}"));
	assert_false(matches(gt, "{\"replicas\": \"\"}"));
	assert_false(matches(gt, "{\"replicas\": \"99999999999999999999\"}"));
	assert_false(matches(gt, "{}"));

	_cleanup_selector_ struct label_selector *lt = parse_ok("replicas<3", "replicas<3");
	assert_true(matches(lt, "{\"replicas\": \"2\"}"));
	assert_true(matches(lt, "{\"replicas\": \"-9223372036854775808\"}"));
	assert_false(matches(lt, "{\"replicas\": \"3\"}"));
	assert_false(matches(lt, "{}"));

	_cleanup_selector_ struct label_selector *huge =
	    parse_ok("n<9223372036854775807", "n<9223372036854775807");
	assert_true(matches(huge, "{\"n\": \"9223372036854775806\"}"));
	assert_false(matches(huge, "{\"n\": \"9223372036854775807\"}"));
}

static void test_syntax_errors(void **state)
{
	(void)state;
	assert_parse_fails(",", "found ',', expected: !, identifier, or 'end of string'");
	assert_parse_fails("(", "found '(', expected: !, identifier, or 'end of string'");
	assert_parse_fails("=a", "found '=', expected: !, identifier, or 'end of string'");
	assert_parse_fails("x,", "found '', expected: identifier after ','");
	assert_parse_fails("x=a,", "found '', expected: identifier after ','");
	assert_parse_fails("x,,y", "found ',', expected: identifier after ','");
	assert_parse_fails("x=a b", "found 'b', expected: ',' or 'end of string'");
	assert_parse_fails("!x=a", "found '=', expected: ',' or 'end of string'");
	assert_parse_fails("x==a==b", "found '==', expected: ',' or 'end of string'");
	assert_parse_fails("x=a)", "found ')', expected: ',' or 'end of string'");
	assert_parse_fails("!", "unable to parse requirement: found '', expected: identifier");
	assert_parse_fails("!!x", "unable to parse requirement: found '!', expected: identifier");
	assert_parse_fails("x y", "unable to parse requirement: found 'y', expected: in, notin, =, "
				  "==, !=, gt, lt");
	assert_parse_fails("x (a)", "unable to parse requirement: found '(', expected: in, notin, "
				    "=, ==, !=, gt, lt");
	assert_parse_fails("x>=1", "unable to parse requirement: found '=', expected: identifier");
	assert_parse_fails("x=(a)", "unable to parse requirement: found '(', expected: identifier");
	assert_parse_fails("x in a", "unable to parse requirement: found 'a' expected: '('");
	assert_parse_fails("x in", "unable to parse requirement: found '' expected: '('");
	assert_parse_fails("x in (a",
			   "unable to parse requirement: found '', expected: ',' or ')'");
	assert_parse_fails("x in (a b)",
			   "unable to parse requirement: found 'b', expected: ',' or ')'");
	assert_parse_fails("x in (a,=)",
			   "unable to parse requirement: found '=', expected: ',', or identifier");
	assert_parse_fails("x in (a,",
			   "unable to parse requirement: found '', expected: ',', or identifier");
	assert_parse_fails(
	    "x in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier");
	assert_parse_fails("x notin", "unable to parse requirement: found '' expected: '('");
}

static void test_invalid_keys_and_values(void **state)
{
	(void)state;
	assert_parse_fails(
	    "-x=a", "unable to parse requirement: <nil>: Invalid value: \"-x\": " NAME_PART_MSG);
	assert_parse_fails("x/y/z",
			   "unable to parse requirement: <nil>: Invalid value: \"x/y/z\": "
			   "a valid label key must consist of alphanumeric characters, '-', "
			   "'_' or '.', and must start and end with an alphanumeric "
			   "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
			   "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') "
			   "with an optional DNS subdomain prefix and '/' (e.g. "
			   "'example.com/MyName')");
	/* Several messages for one key are joined with "; ". */
	assert_parse_fails("/",
			   "unable to parse requirement: <nil>: Invalid value: \"/\": prefix "
			   "part must be non-empty; name part must be non-empty; " NAME_PART_MSG);
	assert_parse_fails("x=-a", "unable to parse requirement: values[0][x]: Invalid value: "
				   "\"-a\": " LABEL_VALUE_MSG);
	assert_parse_fails("x=caf\xc3\xa9", "unable to parse requirement: values[0][x]: Invalid "
					    "value: \"caf\xc3\xa9\": " LABEL_VALUE_MSG);
	/* Set values are checked in sorted order; several problems become "[a, b]". */
	assert_parse_fails(
	    "x in (-b,-a)",
	    "unable to parse requirement: [values[0][x]: Invalid value: \"-a\": " LABEL_VALUE_MSG
	    ", values[1][x]: Invalid value: \"-b\": " LABEL_VALUE_MSG "]");
	assert_parse_fails(
	    "x=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "unable to parse requirement: values[0][x]: Invalid value: "
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": must "
	    "be no more than 63 bytes");
}

static void test_numeric_errors(void **state)
{
	(void)state;
	assert_parse_fails(
	    "x>a", "unable to parse requirement: values[0]: Invalid value: \"a\": " INTEGER_MSG);
	assert_parse_fails(
	    "x>", "unable to parse requirement: values[0]: Invalid value: \"\": " INTEGER_MSG);
	assert_parse_fails("x<99999999999999999999",
			   "unable to parse requirement: values[0]: "
			   "Invalid value: \"99999999999999999999\": " INTEGER_MSG);
	/* A negative number is an integer but not a label value. */
	assert_parse_fails("x>-1", "unable to parse requirement: values[0][x]: Invalid value: "
				   "\"-1\": " LABEL_VALUE_MSG);
	assert_parse_fails(
	    "x>1_", "unable to parse requirement: [values[0]: Invalid value: \"1_\": " INTEGER_MSG
		    ", values[0][x]: Invalid value: \"1_\": " LABEL_VALUE_MSG "]");
}

static struct label_selector *from_json_ok(const char *json_text, const char *canonical)
{
	json_t *json = labels_of(json_text);
	struct label_selector *sel = NULL;
	struct ck_error err = {0};
	if (label_selector_from_json(json, &sel, &err) < 0)
		fail_msg("%s refused: %s", json_text, err.message);
	json_decref(json);
	_cleanup_free_ char *formatted = label_selector_format(sel);
	assert_string_equal(formatted, canonical);
	return sel;
}

static void assert_from_json_fails(const char *json_text, const char *message)
{
	json_t *json = labels_of(json_text);
	struct label_selector *sel = NULL;
	struct ck_error err = {0};
	assert_int_equal(label_selector_from_json(json, &sel, &err), -EINVAL);
	json_decref(json);
	assert_null(sel);
	assert_string_equal(err.message, message);
}

static void test_from_json(void **state)
{
	(void)state;
	struct label_selector *nothing = NULL;
	assert_int_equal(label_selector_from_json(NULL, &nothing, NULL), 0);
	assert_false(label_selector_selects_everything(nothing));
	assert_false(matches(nothing, NULL));
	assert_false(matches(nothing, "{\"a\": \"b\"}"));
	_cleanup_free_ char *nothing_text = label_selector_format(nothing);
	assert_string_equal(nothing_text, "");
	label_selector_free(nothing);

	_cleanup_selector_ struct label_selector *null = from_json_ok("null", "");
	assert_false(matches(null, "{}"));

	static const char *const everything[] = {
	    "{}", "{\"matchLabels\": {}}", "{\"matchLabels\": null, \"matchExpressions\": []}"};
	for (size_t i = 0; i < 3; i++) {
		_cleanup_selector_ struct label_selector *sel = from_json_ok(everything[i], "");
		assert_true(label_selector_selects_everything(sel));
		assert_true(matches(sel, NULL));
	}

	_cleanup_selector_ struct label_selector *sel = from_json_ok(
	    "{\"matchLabels\": {\"app\": \"web\"}, \"matchExpressions\": ["
	    "{\"key\": \"tier\", \"operator\": \"In\", \"values\": [\"front\", \"back\"]},"
	    "{\"key\": \"env\", \"operator\": \"NotIn\", \"values\": [\"dev\"]},"
	    "{\"key\": \"canary\", \"operator\": \"DoesNotExist\"},"
	    "{\"key\": \"team\", \"operator\": \"Exists\", \"values\": []}]}",
	    "app=web,!canary,env notin (dev),team,tier in (back,front)");
	assert_true(matches(sel, "{\"app\": \"web\", \"tier\": \"back\", \"team\": \"a\"}"));
	assert_false(matches(sel, "{\"app\": \"web\", \"tier\": \"back\"}"));
	assert_false(matches(sel, "{\"app\": \"web\", \"tier\": \"back\", \"team\": \"a\", "
				  "\"canary\": \"1\"}"));
	assert_false(matches(sel, "{\"app\": \"web\", \"tier\": \"back\", \"team\": \"a\", "
				  "\"env\": \"dev\"}"));
}

static void test_from_json_errors(void **state)
{
	(void)state;
	assert_from_json_fails("{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"Gt\", "
			       "\"values\": [\"1\"]}]}",
			       "\"Gt\" is not a valid label selector operator");
	assert_from_json_fails("{\"matchExpressions\": [{\"key\": \"a\"}]}",
			       "\"\" is not a valid label selector operator");
	assert_from_json_fails("{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"in\"}]}",
			       "\"in\" is not a valid label selector operator");
	assert_from_json_fails(
	    "{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"In\"}]}",
	    "values: Invalid value: null: for 'in', 'notin' operators, values set "
	    "can't be empty");
	assert_from_json_fails(
	    "{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"NotIn\", "
	    "\"values\": []}]}",
	    "values: Invalid value: null: for 'in', 'notin' operators, values set "
	    "can't be empty");
	assert_from_json_fails("{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"Exists\", "
			       "\"values\": [\"x\", \"y\"]}]}",
			       "values: Invalid value: [\"x\",\"y\"]: values set must be empty for "
			       "exists and does not exist");
	assert_from_json_fails("{\"matchLabels\": {\"-app\": \"web\"}}",
			       "key: Invalid value: \"-app\": " NAME_PART_MSG);
	assert_from_json_fails("{\"matchLabels\": {\"app\": \"-web\"}}",
			       "values[0][app]: Invalid value: \"-web\": " LABEL_VALUE_MSG);
	/* A JSON string may hold NUL; the message shows the whole value. */
	assert_from_json_fails("{\"matchLabels\": {\"app\": \"we\\u0000b\"}}",
			       "values[0][app]: Invalid value: \"we\\x00b\": " LABEL_VALUE_MSG);
	/* jansson's reader refuses NUL in keys, but an object built in code can hold one. */
	json_t *match_labels = json_object();
	json_object_setn_new(match_labels, "a\0b", 3, json_string("web"));
	json_t *selector = json_pack("{so}", "matchLabels", match_labels);
	struct label_selector *sel = NULL;
	struct ck_error err = {0};
	assert_int_equal(label_selector_from_json(selector, &sel, &err), -EINVAL);
	assert_string_equal(err.message, "key: Invalid value: \"a\\x00b\": " NAME_PART_MSG);
	json_decref(selector);
	/* Every problem of one requirement at once. */
	assert_from_json_fails(
	    "{\"matchExpressions\": [{\"operator\": \"In\", \"values\": "
	    "[\"-a\"]}]}",
	    "[key: Invalid value: \"\": name part must be non-empty; " NAME_PART_MSG
	    ", values[0][]: Invalid value: \"-a\": " LABEL_VALUE_MSG "]");

	assert_from_json_fails("[]", "a label selector must be an object");
	assert_from_json_fails("{\"matchLabels\": []}", "matchLabels must be an object of strings");
	assert_from_json_fails("{\"matchLabels\": {\"a\": 1}}",
			       "matchLabels: the value of \"a\" must be a string");
	assert_from_json_fails("{\"matchExpressions\": {}}", "matchExpressions must be a list");
	assert_from_json_fails("{\"matchExpressions\": [1]}",
			       "matchExpressions: each entry must be an object");
	assert_from_json_fails("{\"matchExpressions\": [{\"key\": 1, \"operator\": \"Exists\"}]}",
			       "matchExpressions: key must be a string");
	assert_from_json_fails("{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"In\", "
			       "\"values\": \"x\"}]}",
			       "matchExpressions: values must be a list");
	assert_from_json_fails("{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"In\", "
			       "\"values\": [1]}]}",
			       "matchExpressions: values must be strings");
}

static void test_from_map(void **state)
{
	(void)state;
	static const char *const selects_nothing[] = {NULL, "null", "{}"};
	for (size_t i = 0; i < 3; i++) {
		json_t *map = selects_nothing[i] ? labels_of(selects_nothing[i]) : NULL;
		struct label_selector *sel = NULL;
		assert_int_equal(label_selector_from_map(map, &sel, NULL), 0);
		json_decref(map);
		assert_false(label_selector_selects_everything(sel));
		assert_false(matches(sel, "{\"app\": \"web\"}"));
		assert_false(matches(sel, NULL));
		label_selector_free(sel);
	}

	json_t *map = labels_of("{\"tier\": \"front\", \"app\": \"web\"}");
	_cleanup_selector_ struct label_selector *sel = NULL;
	assert_int_equal(label_selector_from_map(map, &sel, NULL), 0);
	json_decref(map);
	_cleanup_free_ char *text = label_selector_format(sel);
	assert_string_equal(text, "app=web,tier=front");
	assert_true(matches(sel, "{\"app\": \"web\", \"tier\": \"front\", \"x\": \"y\"}"));
	assert_false(matches(sel, "{\"app\": \"web\"}"));

	static const char *const bad[][2] = {
	    {"[]", "a selector must be an object of strings"},
	    {"\"app=web\"", "a selector must be an object of strings"},
	    {"{\"app\": true}", "selector: the value of \"app\" must be a string"},
	    {"{\"app\": \"web app\"}",
	     "values[0][app]: Invalid value: \"web app\": " LABEL_VALUE_MSG},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *json = labels_of(bad[i][0]);
		struct label_selector *none = NULL;
		struct ck_error err = {0};
		assert_int_equal(label_selector_from_map(json, &none, &err), -EINVAL);
		json_decref(json);
		assert_null(none);
		assert_string_equal(err.message, bad[i][1]);
	}
}

static void test_free_null(void **state)
{
	(void)state;
	label_selector_free(NULL);
}

static void test_long_selectors(void **state)
{
	(void)state;
	/* Many requirements: linear enough to parse, sorted stably, all kept. */
	const size_t count = 20000;
	_cleanup_buf_ struct buf text = {0};
	for (size_t i = 0; i < count; i++)
		buf_printf(&text, "%sk%zu=v", i ? "," : "", count - i);
	_cleanup_selector_ struct label_selector *sel = NULL;
	assert_int_equal(label_selector_parse(text.data, &sel, NULL), 0);
	_cleanup_free_ char *formatted = label_selector_format(sel);
	assert_true(strncmp(formatted, "k1=v,k10=v,k100=v,k1000=v,k10000=v,k10001=v", 40) == 0);
	assert_int_equal(strlen(formatted), text.len);

	/* A long set of bad values gives a bounded message. */
	buf_reset(&text);
	buf_puts(&text, "x in (");
	for (size_t i = 0; i < count; i++)
		buf_printf(&text, "%s-%zu", i ? "," : "", i);
	buf_putc(&text, ')');
	struct ck_error err = {0};
	assert_int_equal(label_selector_parse(text.data, &sel, &err), -EINVAL);
	assert_true(strncmp(err.message, "unable to parse requirement: [values[0][x]", 42) == 0);

	/* A huge identifier is one token; the message is cut to fit. */
	buf_reset(&text);
	for (size_t i = 0; i < 100000; i++)
		buf_putc(&text, 'k');
	assert_int_equal(label_selector_parse(text.data, &sel, &err), -EINVAL);
	assert_true(strncmp(err.message, "unable to parse requirement: <nil>: Invalid value: \"kkk",
			    54) == 0);
	text.data[200] = '\0';
	assert_int_equal(label_selector_parse(text.data, &sel, &err), -EINVAL);
	assert_true(strstr(err.message, "\": name part must be no more than 63 bytes") != NULL);
}

/* A small deterministic generator, so that failures can be reproduced. */
static uint32_t next_random(uint32_t *seed)
{
	*seed ^= *seed << 13;
	*seed ^= *seed >> 17;
	*seed ^= *seed << 5;
	return *seed;
}

static void test_random_text_never_breaks(void **state)
{
	(void)state;
	static const char *const atoms[] = {"a", "b", "x", "=",  "==",   "!=", "!",       "(",
					    ")", ",", "<", ">",  " ",    "in", "notin",   "1",
					    "-", "/", ".", "\t", "\xff", "_",  "k8s.io/", "A"};
	uint32_t seed = 12345;
	for (int round = 0; round < 20000; round++) {
		char text[64] = "";
		int atoms_in_text = (int)(next_random(&seed) % 10);
		for (int i = 0; i < atoms_in_text; i++)
			strcat(text,
			       atoms[next_random(&seed) % (sizeof(atoms) / sizeof(atoms[0]))]);
		struct label_selector *sel = NULL;
		struct ck_error err = {0};
		if (label_selector_parse(text, &sel, &err) < 0) {
			assert_null(sel);
			assert_true(err.message[0] != '\0');
			continue;
		}
		/* The canonical text parses back to itself and selects the same sets. */
		_cleanup_free_ char *first = label_selector_format(sel);
		struct label_selector *again = NULL;
		if (label_selector_parse(first, &again, &err) < 0)
			fail_msg("\"%s\" -> \"%s\" does not parse: %s", text, first, err.message);
		_cleanup_free_ char *second = label_selector_format(again);
		assert_string_equal(first, second);
		static const char *const label_sets[] = {
		    NULL, "{\"a\": \"1\"}", "{\"x\": \"b\"}",
		    "{\"a\": \"\", \"b\": \"2\", \"x\": \"1\"}"};
		for (size_t i = 0; i < 4; i++)
			assert_int_equal(matches(sel, label_sets[i]),
					 matches(again, label_sets[i]));
		label_selector_free(again);
		label_selector_free(sel);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_canonical_forms),
	    cmocka_unit_test(test_empty_selects_everything),
	    cmocka_unit_test(test_matching),
	    cmocka_unit_test(test_numeric_comparisons),
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_invalid_keys_and_values),
	    cmocka_unit_test(test_numeric_errors),
	    cmocka_unit_test(test_from_json),
	    cmocka_unit_test(test_from_json_errors),
	    cmocka_unit_test(test_from_map),
	    cmocka_unit_test(test_free_null),
	    cmocka_unit_test(test_long_selectors),
	    cmocka_unit_test(test_random_text_never_breaks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
