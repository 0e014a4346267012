/* Kubernetes' format checks and their exact messages (apimachinery pkg/util/validation and
 * pkg/api/validate/content). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/cleanup.h"
#include "lib/validation.h"

#define LABEL_MSG                                                                                \
	"a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', " \
	"and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', " \
	"regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
#define SUBDOMAIN_MSG                                                                             \
	"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' " \
	"or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "     \
	"regex used for validation is "                                                           \
	"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
#define DNS1035_MSG                                                                               \
	"a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with " \
	"an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "   \
	"'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
#define NAME_PART_MSG                                                                             \
	"name part must consist of alphanumeric characters, '-', '_' or '.', and must start and " \
	"end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex " \
	"used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
#define LABEL_VALUE_MSG                                                                          \
	"a valid label must be an empty string or consist of alphanumeric characters, '-', '_' " \
	"or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "    \
	"'my_value',  or '12345', regex used for validation is "                                 \
	"'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"

typedef bool (*check_fn)(const char *value, struct validation_messages *msgs);

static void assert_valid(check_fn check, const char *value)
{
	struct validation_messages msgs = {.count = 99};
	if (!check(value, &msgs))
		fail_msg("\"%s\" refused: %s", value, msgs.count ? msgs.text[0] : "");
	assert_int_equal(msgs.count, 0);
	assert_true(check(value, NULL));
}

/* Up to three expected messages, in order; NULL ends the list. */
static void assert_invalid(check_fn check, const char *value, const char *first, const char *second,
			   const char *third)
{
	const char *expected[] = {first, second, third};
	size_t count = 0;
	while (count < 3 && expected[count])
		count++;
	struct validation_messages msgs;
	if (check(value, &msgs))
		fail_msg("\"%s\" accepted", value);
	assert_false(check(value, NULL));
	assert_int_equal(msgs.count, count);
	for (size_t i = 0; i < count; i++)
		assert_string_equal(msgs.text[i], expected[i]);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_dns1123_label(void **state)
{
	(void)state;
	static const char *const good[] = {"a", "0", "web", "web-1", "1-2-3", "a--b", "123"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_valid(validate_dns1123_label, good[i]);
	_cleanup_free_ char *longest = repeat('a', 63);
	assert_valid(validate_dns1123_label, longest);

	assert_invalid(validate_dns1123_label, "", LABEL_MSG, NULL, NULL);
	assert_invalid(validate_dns1123_label, "Web", LABEL_MSG, NULL, NULL);
	assert_invalid(validate_dns1123_label, "-web", LABEL_MSG, NULL, NULL);
	assert_invalid(validate_dns1123_label, "web-", LABEL_MSG, NULL, NULL);
	assert_invalid(validate_dns1123_label, "web_1", LABEL_MSG, NULL, NULL);
	assert_invalid(validate_dns1123_label, "a.b", "must not contain dots", NULL, NULL);
	assert_invalid(validate_dns1123_label, "a..b", LABEL_MSG, NULL, NULL);
	_cleanup_free_ char *too_long = repeat('a', 64);
	assert_invalid(validate_dns1123_label, too_long, "must be no more than 63 characters", NULL,
		       NULL);
	too_long[63] = '-';
	assert_invalid(validate_dns1123_label, too_long, "must be no more than 63 characters",
		       LABEL_MSG, NULL);
}

static void test_dns1123_subdomain(void **state)
{
	(void)state;
	static const char *const good[] = {"a", "example.com", "web-1.default.svc", "1.2.3.4",
					   "kube-system"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_valid(validate_dns1123_subdomain, good[i]);
	/* 253 characters of labels joined by dots. */
	_cleanup_free_ char *longest = repeat('a', 253);
	for (size_t i = 63; i < 253; i += 64)
		longest[i] = '.';
	assert_valid(validate_dns1123_subdomain, longest);

	static const char *const bad[] = {"",     "Example.com", ".a",   "a.",  "a..b",
					  "-a.b", "a-.b",        "a.-b", "a_b", "a b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_invalid(validate_dns1123_subdomain, bad[i], SUBDOMAIN_MSG, NULL, NULL);
	/* The regex puts no limit on one label; only the whole is limited. */
	_cleanup_free_ char *too_long = repeat('a', 254);
	assert_invalid(validate_dns1123_subdomain, too_long, "must be no more than 253 characters",
		       NULL, NULL);
	too_long[0] = '-';
	assert_invalid(validate_dns1123_subdomain, too_long, "must be no more than 253 characters",
		       SUBDOMAIN_MSG, NULL);
}

static void test_dns1035_label(void **state)
{
	(void)state;
	assert_valid(validate_dns1035_label, "web");
	assert_valid(validate_dns1035_label, "a1-b2");
	assert_invalid(validate_dns1035_label, "1web", DNS1035_MSG, NULL, NULL);
	assert_invalid(validate_dns1035_label, "web.local", DNS1035_MSG, NULL, NULL);
	assert_invalid(validate_dns1035_label, "Web", DNS1035_MSG, NULL, NULL);
	assert_invalid(validate_dns1035_label, "", DNS1035_MSG, NULL, NULL);
	_cleanup_free_ char *too_long = repeat('a', 64);
	assert_invalid(validate_dns1035_label, too_long, "must be no more than 63 characters", NULL,
		       NULL);
}

static void test_qualified_name(void **state)
{
	(void)state;
	static const char *const good[] = {"app",
					   "App.Name_1",
					   "app.kubernetes.io/name",
					   "example.com/MyName",
					   "a/b",
					   "kubernetes.io/hostname"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_valid(validate_qualified_name, good[i]);

	assert_invalid(validate_qualified_name, "", "name part must be non-empty", NAME_PART_MSG,
		       NULL);
	assert_invalid(validate_qualified_name, "-app", NAME_PART_MSG, NULL, NULL);
	assert_invalid(validate_qualified_name, "app!", NAME_PART_MSG, NULL, NULL);
	assert_invalid(validate_qualified_name, "/app", "prefix part must be non-empty", NULL,
		       NULL);
	assert_invalid(validate_qualified_name, "example.com/", "name part must be non-empty",
		       NAME_PART_MSG, NULL);
	assert_invalid(validate_qualified_name, "Example.com/app", "prefix part " SUBDOMAIN_MSG,
		       NULL, NULL);
	assert_invalid(
	    validate_qualified_name, "a/b/c",
	    "a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must "
	    "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
	    "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') "
	    "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
	    NULL, NULL);

	_cleanup_free_ char *name64 = repeat('n', 64);
	assert_invalid(validate_qualified_name, name64, "name part must be no more than 63 bytes",
		       NULL, NULL);
	/* A prefix of 254 characters and a bad, long name: every problem, in order. */
	_cleanup_free_ char *key = repeat('p', 254 + 1 + 64);
	key[254] = '/';
	key[254 + 64] = '-';
	assert_invalid(validate_qualified_name, key, "prefix part must be no more than 253 bytes",
		       "name part must be no more than 63 bytes", NAME_PART_MSG);
}

static void test_label_value(void **state)
{
	(void)state;
	static const char *const good[] = {"", "web", "v1.2.3", "my_value", "A-b.C_d", "12345"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_valid(validate_label_value, good[i]);
	_cleanup_free_ char *longest = repeat('v', 63);
	assert_valid(validate_label_value, longest);

	static const char *const bad[] = {"-web", "web-", "a b", "a/b", "_x", "é", "a\tb"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_invalid(validate_label_value, bad[i], LABEL_VALUE_MSG, NULL, NULL);
	_cleanup_free_ char *too_long = repeat('v', 64);
	assert_invalid(validate_label_value, too_long, "must be no more than 63 bytes", NULL, NULL);
}

static void test_port_name(void **state)
{
	(void)state;
	assert_valid(validate_port_name, "http");
	assert_valid(validate_port_name, "http-alt");
	assert_valid(validate_port_name, "h2c");
	assert_valid(validate_port_name, "a23456789012345");
	assert_invalid(validate_port_name, "a234567890123456", "must be no more than 15 characters",
		       NULL, NULL);
	assert_invalid(validate_port_name, "HTTP",
		       "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
		       "must contain at least one letter (a-z)", NULL);
	assert_invalid(validate_port_name, "8080", "must contain at least one letter (a-z)", NULL,
		       NULL);
	assert_invalid(validate_port_name, "a--b", "must not contain consecutive hyphens", NULL,
		       NULL);
	assert_invalid(validate_port_name, "-ab", "must not begin or end with a hyphen", NULL,
		       NULL);
	assert_invalid(validate_port_name, "",
		       "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
		       "must contain at least one letter (a-z)", NULL);

	/* Everything at once: five messages. */
	struct validation_messages msgs;
	assert_false(validate_port_name("--------------1_", &msgs));
	assert_int_equal(msgs.count, 5);
	assert_string_equal(msgs.text[4], "must not begin or end with a hyphen");
}

static void test_port_number(void **state)
{
	(void)state;
	struct validation_messages msgs;
	assert_true(validate_port_number(1, &msgs));
	assert_true(validate_port_number(65535, &msgs));
	assert_true(validate_port_number(8080, NULL));
	static const int64_t bad[] = {0, -1, 65536, INT64_MAX, INT64_MIN};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(validate_port_number(bad[i], &msgs));
		assert_int_equal(msgs.count, 1);
		assert_string_equal(msgs.text[0], "must be between 1 and 65535, inclusive");
	}
}

static void test_env_var_name(void **state)
{
	(void)state;
	static const char *const good[] = {"PATH", "my.env-name", "1START",
					   "a b",  "x:y",         "~!@#$%^&*()"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_valid(validate_env_var_name, good[i]);
	const char *msg = "a valid environment variable name must consist only of printable ASCII "
			  "characters other than '='";
	assert_invalid(validate_env_var_name, "", "environment variable name must be non-empty",
		       NULL, NULL);
	assert_invalid(validate_env_var_name, "A=B", msg, NULL, NULL);
	assert_invalid(validate_env_var_name, "A\tB", msg, NULL, NULL);
	assert_invalid(validate_env_var_name, "caf\xc3\xa9", msg, NULL, NULL);
	assert_invalid(validate_env_var_name, "A\x7f", msg, NULL, NULL);
}

static void test_ip_address(void **state)
{
	(void)state;
	static const char *const good[] = {
	    "10.9.8.7", "0.0.0.0", "255.255.255.255",      "::",       "::1", "2001:db8::ffff",
	    "fe80::1",  "1::",     "2001:db8:0:1:1:1:1:1", "::102:304"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_valid(validate_ip_address, good[i]);

	const char *invalid = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";
	static const char *const bad[] = {"",
					  "1.2.3",
					  "1.2.3.4.5",
					  "256.1.1.1",
					  "1.2.3.-4",
					  "a.b.c.d",
					  "1.2.3.4 ",
					  " 1.2.3.4",
					  "1::2::3",
					  "12345::",
					  "1:2:3:4:5:6:7:8:9",
					  ":1::",
					  "1:2:3:4:5:6:7:8::",
					  "fe80::1%eth0",
					  "1.2.3.4/32",
					  "localhost",
					  "::ffff:1.2.3",
					  "1:2:3:4:5:6:7::1.2.3.4"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_invalid(validate_ip_address, bad[i], invalid, NULL, NULL);

	assert_invalid(validate_ip_address, "010.1.1.1", "must not have leading 0s", NULL, NULL);
	assert_invalid(validate_ip_address, "::ffff:01.2.3.4", "must not have leading 0s", NULL,
		       NULL);
	assert_invalid(validate_ip_address, "00001::", "must not have leading 0s", NULL, NULL);
	assert_invalid(validate_ip_address, "::ffff:1.2.3.4",
		       "must not be an IPv4-mapped IPv6 address", NULL, NULL);
	assert_invalid(validate_ip_address, "::ffff:102:304",
		       "must not be an IPv4-mapped IPv6 address", NULL, NULL);
	assert_invalid(validate_ip_address, "2001:DB8::1",
		       "must be in canonical form (\"2001:db8::1\")", NULL, NULL);
	assert_invalid(validate_ip_address, "2001:0db8::1",
		       "must be in canonical form (\"2001:db8::1\")", NULL, NULL);
	assert_invalid(validate_ip_address, "2001:db8:0:0:0:0:0:1",
		       "must be in canonical form (\"2001:db8::1\")", NULL, NULL);
	/* The first of two equally long runs of zeros becomes "::". */
	assert_invalid(validate_ip_address, "1:0:0:2:0:0:3:4",
		       "must be in canonical form (\"1::2:0:0:3:4\")", NULL, NULL);
	/* A single zero group is not shortened. */
	assert_invalid(validate_ip_address, "1:2:3:4:5:6::8",
		       "must be in canonical form (\"1:2:3:4:5:6:0:8\")", NULL, NULL);
	assert_invalid(validate_ip_address, "::1.2.3.4",
		       "must be in canonical form (\"::102:304\")", NULL, NULL);
}

static void test_cidr(void **state)
{
	(void)state;
	static const char *const good[] = {"10.0.0.0/8", "10.244.1.0/24", "0.0.0.0/0",
					   "1.2.3.4/32", "::/0",          "2001:db8::/64",
					   "fd00::1/128"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_valid(validate_cidr, good[i]);

	const char *invalid = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";
	static const char *const bad[] = {
	    "",           "10.0.0.0",    "10.0.0.0/",    "10.0.0.0/33",
	    "::/129",     "10.0.0.0/-1", "10.0.0.0/+8",  "10.0.0/8",
	    "/8",         "x/8",         "10.0.0.0/8/8", "10.0.0.0/ 8",
	    "10.0.0.0/8 "};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_invalid(validate_cidr, bad[i], invalid, NULL, NULL);

	const char *zeros = "must not have leading 0s in IP or prefix length";
	assert_invalid(validate_cidr, "010.0.0.0/8", zeros, NULL, NULL);
	assert_invalid(validate_cidr, "10.0.0.0/08", zeros, NULL, NULL);
	assert_invalid(validate_cidr, "::ffff:10.0.0.0/104",
		       "must not have an IPv4-mapped IPv6 address", NULL, NULL);
	assert_invalid(validate_cidr, "10.0.0.1/8",
		       "must not have bits set beyond the prefix length", NULL, NULL);
	assert_invalid(validate_cidr, "2001:db8::1/64",
		       "must not have bits set beyond the prefix length", NULL, NULL);
	assert_invalid(validate_cidr, "2001:DB8::/32",
		       "must be in canonical form (\"2001:db8::/32\")", NULL, NULL);
}

static void test_annotations_size(void **state)
{
	(void)state;
	struct validation_messages msgs;
	assert_true(validate_annotations_size(NULL, &msgs));
	json_t *annotations = json_object();
	assert_true(validate_annotations_size(annotations, &msgs));

	/* Keys and values both count; exactly 256 KiB is allowed. */
	_cleanup_free_ char *value = repeat('v', ANNOTATIONS_TOTAL_SIZE_LIMIT - 3);
	json_object_set_new(annotations, "key", json_string(value));
	assert_true(validate_annotations_size(annotations, &msgs));
	json_object_set_new(annotations, "k", json_string(""));
	assert_false(validate_annotations_size(annotations, &msgs));
	assert_int_equal(msgs.count, 1);
	assert_string_equal(msgs.text[0], "may not be more than 262144 bytes");

	/* A value with an embedded NUL counts all its bytes. */
	json_object_del(annotations, "k");
	json_object_set_new(annotations, "key", json_stringn(value, strlen(value)));
	assert_true(validate_annotations_size(annotations, &msgs));
	value[0] = '\0';
	json_object_set_new(annotations, "key",
			    json_stringn(value, ANNOTATIONS_TOTAL_SIZE_LIMIT - 2));
	assert_false(validate_annotations_size(annotations, &msgs));
	json_decref(annotations);
}

static void test_messages_join(void **state)
{
	(void)state;
	struct validation_messages msgs;
	assert_false(validate_port_name("HTTP", &msgs));
	_cleanup_buf_ struct buf joined = {0};
	validation_messages_join(&msgs, "; ", &joined);
	assert_string_equal(joined.data,
			    "must contain only alpha-numeric characters (a-z, 0-9), and hyphens "
			    "(-); must contain at least one letter (a-z)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dns1123_label),    cmocka_unit_test(test_dns1123_subdomain),
	    cmocka_unit_test(test_dns1035_label),    cmocka_unit_test(test_qualified_name),
	    cmocka_unit_test(test_label_value),      cmocka_unit_test(test_port_name),
	    cmocka_unit_test(test_port_number),      cmocka_unit_test(test_env_var_name),
	    cmocka_unit_test(test_ip_address),       cmocka_unit_test(test_cidr),
	    cmocka_unit_test(test_annotations_size), cmocka_unit_test(test_messages_join),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
