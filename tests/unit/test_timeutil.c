/* RFC 3339 times, the AGE column's durations and Go duration strings. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/timeutil.h"

#define SECOND 1000000000LL
#define MINUTE (60 * SECOND)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)
#define YEAR (365 * DAY)
#define MILLISECOND 1000000LL

static void test_format_rfc3339(void **state)
{
	(void)state;
	static const struct {
		time_t seconds;
		const char *text;
	} cases[] = {
	    {0, "1970-01-01T00:00:00Z"},
	    {1795610995, "2026-11-25T12:49:55Z"},
	    {951782400, "2000-02-29T00:00:00Z"},
	    {1709251199, "2024-02-29T23:59:59Z"},
	    {253402300799, "9999-12-31T23:59:59Z"},
	    {-1, "1969-12-31T23:59:59Z"},
	    {-62167219200, "0000-01-01T00:00:00Z"},
	};
	char text[TIMEUTIL_TEXT_SIZE];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(timeutil_format_rfc3339(cases[i].seconds, text), cases[i].text);
}

static void test_format_rfc3339_micro(void **state)
{
	(void)state;
	char text[TIMEUTIL_TEXT_SIZE];
	struct timespec ts = {1795610995, 123456789};
	assert_string_equal(timeutil_format_rfc3339_micro(ts, text), "2026-11-25T12:49:55.123456Z");
	ts.tv_nsec = 999; /* below a microsecond: truncated */
	assert_string_equal(timeutil_format_rfc3339_micro(ts, text), "2026-11-25T12:49:55.000000Z");
	ts.tv_nsec = 999999999;
	assert_string_equal(timeutil_format_rfc3339_micro(ts, text), "2026-11-25T12:49:55.999999Z");
}

static void assert_time(const char *text, time_t seconds, long nanoseconds)
{
	struct timespec ts = {0, 0};
	struct ck_error err = {0};
	if (timeutil_parse_rfc3339(text, &ts, &err) < 0)
		fail_msg("\"%s\" refused: %s", text, err.message);
	assert_true(ts.tv_sec == seconds);
	assert_int_equal(ts.tv_nsec, nanoseconds);
}

static void test_parse_rfc3339(void **state)
{
	(void)state;
	assert_time("2026-11-25T12:49:55Z", 1795610995, 0);
	assert_time("1970-01-01T00:00:00Z", 0, 0);
	assert_time("0000-01-01T00:00:00Z", -62167219200, 0);
	assert_time("9999-12-31T23:59:59Z", 253402300799, 0);
	assert_time("2000-02-29T00:00:00Z", 951782400, 0);
	assert_time("2026-11-25T12:49:55.5Z", 1795610995, 500000000);
	assert_time("2026-11-25T12:49:55,5Z", 1795610995, 500000000);
	assert_time("2026-11-25T12:49:55.123456Z", 1795610995, 123456000);
	assert_time("2026-11-25T12:49:55.123456789123Z", 1795610995, 123456789);
	assert_time("2026-11-25T14:49:55+02:00", 1795610995, 0);
	assert_time("2026-11-25T07:19:55-05:30", 1795610995, 0);
	assert_time("2026-11-26T00:49:55.25+12:00", 1795610995, 250000000);
	assert_time("1970-01-01T00:00:00+23:59", -86340, 0);
}

static void assert_time_refused(const char *text, const char *problem)
{
	struct timespec ts = {7, 7};
	struct ck_error err = {0};
	assert_int_equal(timeutil_parse_rfc3339(text, &ts, &err), -EINVAL);
	assert_true(ts.tv_sec == 7 && ts.tv_nsec == 7);
	char expected[512];
	snprintf(expected, sizeof(expected), "parsing time \"%s\" as RFC 3339: %s", text, problem);
	assert_string_equal(err.message, expected);
}

static void test_parse_rfc3339_refuses(void **state)
{
	(void)state;
	const char *layout = "want YYYY-MM-DDTHH:MM:SS";
	static const char *const malformed[] = {"",
						"2026-11-25",
						"2026-11-25 12:49:55Z",
						"2026-11-25t12:49:55Z",
						"2026-1-25T12:49:55Z",
						"26-11-25T12:49:55Z",
						"+2026-11-25T12:49:55Z",
						"2026-11-25T12:49Z",
						"2026-11-25T1:49:55Z",
						"2026/11/25T12:49:55Z",
						"2026-11-25T12:49:5xZ"};
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
		assert_time_refused(malformed[i], layout);

	const char *zone = "want Z or a zone offset +HH:MM after the time";
	static const char *const bad_zone[] = {
	    "2026-11-25T12:49:55",       "2026-11-25T12:49:55z",   "2026-11-25T12:49:55.Z",
	    "2026-11-25T12:49:55+0200",  "2026-11-25T12:49:55+02", "2026-11-25T12:49:55+24:00",
	    "2026-11-25T12:49:55+02:60", "2026-11-25T12:49:55 Z",  "2026-11-25T12:49:55UTC"};
	for (size_t i = 0; i < sizeof(bad_zone) / sizeof(bad_zone[0]); i++)
		assert_time_refused(bad_zone[i], zone);

	assert_time_refused("2026-11-25T12:49:55Z ", "extra text after the time");
	assert_time_refused("2026-11-25T12:49:55ZZ", "extra text after the time");
	assert_time_refused("2026-13-01T00:00:00Z", "month out of range");
	assert_time_refused("2026-00-01T00:00:00Z", "month out of range");
	assert_time_refused("2026-01-00T00:00:00Z", "day out of range");
	assert_time_refused("2026-04-31T00:00:00Z", "day out of range");
	assert_time_refused("2026-02-29T00:00:00Z", "day out of range");
	assert_time_refused("1900-02-29T00:00:00Z", "day out of range");
	assert_time_refused("2026-01-01T24:00:00Z", "hour out of range");
	assert_time_refused("2026-01-01T23:60:00Z", "minute out of range");
	assert_time_refused("2026-12-31T23:59:60Z", "second out of range");
}

static void test_round_trip(void **state)
{
	(void)state;
	char text[TIMEUTIL_TEXT_SIZE];
	for (time_t t = -100000000; t < 4000000000; t += 86399 * 397) {
		struct timespec ts = {t, 654321000};
		timeutil_format_rfc3339_micro(ts, text);
		struct timespec back;
		assert_int_equal(timeutil_parse_rfc3339(text, &back, NULL), 0);
		assert_true(back.tv_sec == t);
		assert_int_equal(back.tv_nsec, 654321000);
	}
}

struct duration_case {
	int64_t nanoseconds;
	const char *text;
};

static void test_human_duration(void **state)
{
	(void)state;
	static const struct duration_case cases[] = {
	    {-2 * SECOND, "<invalid>"},
	    {-YEAR, "<invalid>"},
	    {-2 * SECOND + 1, "0s"},
	    {0, "0s"},
	    {SECOND - MILLISECOND, "0s"},
	    {SECOND, "1s"},
	    {70 * SECOND, "70s"},
	    {2 * MINUTE - MILLISECOND, "119s"},
	    {2 * MINUTE, "2m"},
	    {2 * MINUTE + SECOND, "2m1s"},
	    {190 * SECOND, "3m10s"},
	    {10 * MINUTE - MILLISECOND, "9m59s"},
	    {10 * MINUTE + SECOND, "10m"},
	    {70 * MINUTE, "70m"},
	    {3 * HOUR - MILLISECOND, "179m"},
	    {3 * HOUR, "3h"},
	    {3 * HOUR + MINUTE, "3h1m"},
	    {8 * HOUR - MILLISECOND, "7h59m"},
	    {8 * HOUR + 59 * MINUTE, "8h"},
	    {47 * HOUR, "47h"},
	    {2 * DAY, "2d"},
	    {49 * HOUR, "2d1h"},
	    {8 * DAY - MILLISECOND, "7d23h"},
	    {8 * DAY + 23 * HOUR, "8d"},
	    {367 * DAY, "367d"},
	    {2 * YEAR - MILLISECOND, "729d"},
	    {2 * YEAR, "2y"},
	    {2 * YEAR + DAY - MILLISECOND, "2y"},
	    {2 * YEAR + 25 * HOUR, "2y1d"},
	    {8 * YEAR - MILLISECOND, "7y364d"},
	    {8 * YEAR + 364 * DAY, "8y"},
	    {9 * YEAR, "9y"},
	    {INT64_MAX, "292y"},
	    {INT64_MIN, "<invalid>"},
	};
	char text[TIMEUTIL_TEXT_SIZE];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(timeutil_human_duration(cases[i].nanoseconds, text),
				    cases[i].text);
}

static void test_short_human_duration(void **state)
{
	(void)state;
	static const struct duration_case cases[] = {
	    {-2 * SECOND, "<invalid>"},
	    {-2 * SECOND + 1, "0s"},
	    {0, "0s"},
	    {SECOND, "1s"},
	    {MINUTE - MILLISECOND, "59s"},
	    {MINUTE, "1m"},
	    {HOUR - MILLISECOND, "59m"},
	    {HOUR, "1h"},
	    {DAY - MILLISECOND, "23h"},
	    {DAY, "1d"},
	    {YEAR - MILLISECOND, "364d"},
	    {YEAR, "1y"},
	    {2 * YEAR - MILLISECOND, "1y"},
	    {2 * YEAR, "2y"},
	    {INT64_MAX, "292y"},
	};
	char text[TIMEUTIL_TEXT_SIZE];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(timeutil_short_human_duration(cases[i].nanoseconds, text),
				    cases[i].text);
}

static void assert_duration(const char *text, int64_t expected)
{
	int64_t ns = 42;
	struct ck_error err = {0};
	if (timeutil_parse_duration(text, &ns, &err) < 0)
		fail_msg("\"%s\" refused: %s", text, err.message);
	if (ns != expected)
		fail_msg("\"%s\" is %lld, want %lld", text, (long long)ns, (long long)expected);
}

static void test_parse_duration(void **state)
{
	(void)state;
	assert_duration("0", 0);
	assert_duration("-0", 0);
	assert_duration("+0", 0);
	assert_duration("0s", 0);
	assert_duration("1h", HOUR);
	assert_duration("1m30s", 90 * SECOND);
	assert_duration("500ms", 500 * MILLISECOND);
	assert_duration("-1.5h", -90 * MINUTE);
	assert_duration("+5s", 5 * SECOND);
	assert_duration("5.s", 5 * SECOND);
	assert_duration(".5s", SECOND / 2);
	assert_duration("1.004s", 1004 * MILLISECOND);
	assert_duration("100.00100s", 100001 * MILLISECOND);
	assert_duration("10ns", 10);
	assert_duration("11us", 11000);
	assert_duration("12\xc2\xb5s", 12000); /* micro sign */
	assert_duration("12\xce\xbcs", 12000); /* Greek mu */
	assert_duration("10.5s4m", 4 * MINUTE + 10500 * MILLISECOND);
	assert_duration("-2m3.4s", -(2 * MINUTE + 3400 * MILLISECOND));
	assert_duration("1h2m3s4ms5us6ns",
			HOUR + 2 * MINUTE + 3 * SECOND + 4 * MILLISECOND + 5000 + 6);
	assert_duration("0.3333333333333333333h", 20 * MINUTE);
	assert_duration("9223372036854775807ns", INT64_MAX);
	assert_duration("9223372036854775.807us", INT64_MAX);
	assert_duration("-9223372036854775808ns", INT64_MIN);
	assert_duration("-2562047h47m16.854775808s", INT64_MIN);
	/* Fraction digits past what fits are ignored. */
	assert_duration("1.00000000000000000000000000000000001s", SECOND);
}

static void assert_duration_refused(const char *text, const char *message)
{
	int64_t ns = 42;
	struct ck_error err = {0};
	assert_int_equal(timeutil_parse_duration(text, &ns, &err), -EINVAL);
	assert_true(ns == 42);
	assert_string_equal(err.message, message);
}

static void test_parse_duration_refuses(void **state)
{
	(void)state;
	assert_duration_refused("", "time: invalid duration \"\"");
	assert_duration_refused("-", "time: invalid duration \"-\"");
	assert_duration_refused("s", "time: invalid duration \"s\"");
	assert_duration_refused(".", "time: invalid duration \".\"");
	assert_duration_refused("-.", "time: invalid duration \"-.\"");
	assert_duration_refused(".s", "time: invalid duration \".s\"");
	assert_duration_refused("+.s", "time: invalid duration \"+.s\"");
	assert_duration_refused("1s ", "time: unknown unit \"s \" in duration \"1s \"");
	assert_duration_refused(" 1s", "time: invalid duration \" 1s\"");
	assert_duration_refused("3", "time: missing unit in duration \"3\"");
	assert_duration_refused("1h30", "time: missing unit in duration \"1h30\"");
	assert_duration_refused("1d", "time: unknown unit \"d\" in duration \"1d\"");
	assert_duration_refused("1S", "time: unknown unit \"S\" in duration \"1S\"");
	assert_duration_refused("\x85\x85", "time: invalid duration \"\\x85\\x85\"");
	assert_duration_refused("1\xff\"s", "time: unknown unit \"\\xff\\\"s\" in duration "
					    "\"1\\xff\\\"s\"");
	assert_duration_refused("9223372036854775808ns",
				"time: invalid duration \"9223372036854775808ns\"");
	assert_duration_refused("9223372036854775.808us",
				"time: invalid duration \"9223372036854775.808us\"");
	assert_duration_refused("9223372036854ms775us808ns",
				"time: invalid duration \"9223372036854ms775us808ns\"");
	assert_duration_refused("-9223372036854775809ns",
				"time: invalid duration \"-9223372036854775809ns\"");
	assert_duration_refused("99999999999999999999h",
				"time: invalid duration \"99999999999999999999h\"");
	assert_duration_refused("3000000h", "time: invalid duration \"3000000h\"");
	assert_duration_refused("9223372036854775807ns1ns",
				"time: invalid duration \"9223372036854775807ns1ns\"");
	assert_duration_refused("-9223372036854775808ns1ns",
				"time: invalid duration \"-9223372036854775808ns1ns\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_rfc3339),
	    cmocka_unit_test(test_format_rfc3339_micro),
	    cmocka_unit_test(test_parse_rfc3339),
	    cmocka_unit_test(test_parse_rfc3339_refuses),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_human_duration),
	    cmocka_unit_test(test_short_human_duration),
	    cmocka_unit_test(test_parse_duration),
	    cmocka_unit_test(test_parse_duration_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
