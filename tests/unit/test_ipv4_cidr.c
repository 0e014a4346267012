/* IPv4 addresses and CIDR blocks as the pod network parses, compares and prints them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/ipv4_cidr.h"

#define ADDR(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((c) << 8) | (d))

static struct ipv4_cidr parse_ok(const char *text)
{
	struct ipv4_cidr out = {.network = 0xdeadbeef, .prefix = 99};
	struct ck_error err = {0};

	if (ipv4_cidr_parse(text, &out, &err) != 0)
		fail_msg("%s: %s", text, err.message);
	assert_int_equal(err.code, 0);
	return out;
}

/* Parses `text`, expects -EINVAL, leaves *out alone, and returns the message. */
static const char *parse_refused(const char *text, struct ck_error *err)
{
	struct ipv4_cidr out = {.network = 0x01020300, .prefix = 24};

	ck_error_clear(err);
	assert_int_equal(ipv4_cidr_parse(text, &out, err), -EINVAL);
	assert_int_equal(err->code, EINVAL);
	assert_int_equal(out.network, 0x01020300);
	assert_int_equal(out.prefix, 24);
	return err->message;
}

static void parses_valid_blocks(void **state)
{
	struct ipv4_cidr c;

	(void)state;
	c = parse_ok("0.0.0.0/0");
	assert_int_equal(c.network, 0);
	assert_int_equal(c.prefix, 0);
	c = parse_ok("10.244.1.0/24");
	assert_int_equal(c.network, ADDR(10, 244, 1, 0));
	assert_int_equal(c.prefix, 24);
	c = parse_ok("10.0.0.1/32");
	assert_int_equal(c.network, ADDR(10, 0, 0, 1));
	assert_int_equal(c.prefix, 32);
	c = parse_ok("10.0.0.0/8");
	assert_int_equal(c.network, ADDR(10, 0, 0, 0));
	assert_int_equal(c.prefix, 8);
	c = parse_ok("255.255.255.255/32");
	assert_int_equal(c.network, UINT32_MAX);
	c = parse_ok("128.0.0.0/1");
	assert_int_equal(c.network, ADDR(128, 0, 0, 0));
	assert_int_equal(c.prefix, 1);
	c = parse_ok("10.244.5.248/29");
	assert_int_equal(c.network, ADDR(10, 244, 5, 248));
	assert_int_equal(c.prefix, 29);
}

static void host_bits_are_refused_naming_the_network(void **state)
{
	struct ck_error err;

	(void)state;
	assert_string_equal(parse_refused("10.244.1.7/24", &err),
			    "10.244.1.7/24: host bits set (the network is 10.244.1.0/24)");
	assert_string_equal(parse_refused("10.0.0.1/0", &err),
			    "10.0.0.1/0: host bits set (the network is 0.0.0.0/0)");
	assert_string_equal(parse_refused("10.244.1.1/31", &err),
			    "10.244.1.1/31: host bits set (the network is 10.244.1.0/31)");
	assert_string_equal(parse_refused("10.255.0.0/9", &err),
			    "10.255.0.0/9: host bits set (the network is 10.128.0.0/9)");
}

static void prefix_over_32_is_refused(void **state)
{
	struct ck_error err;

	(void)state;
	assert_string_equal(parse_refused("10.0.0.0/33", &err),
			    "10.0.0.0/33: prefix length must be 0 to 32");
	assert_non_null(strstr(parse_refused("10.0.0.0/99999999999999999999999", &err),
			       "prefix length must be 0 to 32"));
	assert_non_null(strstr(parse_refused("10.0.0.0/-1", &err), "prefix length"));
	assert_non_null(strstr(parse_refused("10.0.0.0/", &err), "prefix length"));
	assert_non_null(strstr(parse_refused("10.0.0.0/24x", &err), "prefix length"));
	assert_non_null(strstr(parse_refused("10.0.0.0/ 24", &err), "prefix length"));
	assert_non_null(strstr(parse_refused("10.0.0.0/2.4", &err), "prefix length"));
	/* A sign is no part of a prefix length, even where the number would fit. */
	assert_non_null(strstr(parse_refused("10.0.0.0/+24", &err), "prefix length"));
	assert_non_null(strstr(parse_refused("0.0.0.0/-0", &err), "prefix length"));
	assert_non_null(strstr(parse_refused("0.0.0.0/+0", &err), "prefix length"));
}

static void missing_slash_is_refused(void **state)
{
	struct ck_error err;

	(void)state;
	assert_string_equal(parse_refused("10.244.1.0", &err),
			    "10.244.1.0: not a CIDR (address/prefix)");
	assert_string_equal(parse_refused("", &err), ": not a CIDR (address/prefix)");
	/* More text before the slash than any address has: refused before it is copied. */
	assert_string_equal(parse_refused("1111111111.2222222222.3/8", &err),
			    "1111111111.2222222222.3/8: not a CIDR (address/prefix)");
}

static void garbage_is_refused(void **state)
{
	struct ck_error err;

	(void)state;
	assert_string_equal(parse_refused("banana/8", &err),
			    "CIDR banana/8: banana: not an IPv4 address");
	assert_string_equal(parse_refused("/24", &err), "CIDR /24: : not an IPv4 address");
	assert_non_null(strstr(parse_refused("10.0.0.256/32", &err), "not an IPv4 address"));
	assert_non_null(strstr(parse_refused(" 10.0.0.0/8", &err), "not an IPv4 address"));
	assert_non_null(strstr(parse_refused("10.0.0.0/8/8", &err), "prefix length"));
	assert_non_null(strstr(parse_refused("::1/128", &err), "not an IPv4 address"));
	assert_non_null(strstr(parse_refused("fe80::/64", &err), "not an IPv4 address"));
}

/* inet_aton would read "10.1" as 10.0.0.1: the API's text is always four parts. */
static void shorthand_address_is_refused(void **state)
{
	struct ck_error err;

	(void)state;
	assert_string_equal(parse_refused("10.1/8", &err),
			    "CIDR 10.1/8: 10.1: not an IPv4 address");
	assert_non_null(strstr(parse_refused("10/8", &err), "not an IPv4 address"));
	assert_non_null(strstr(parse_refused("0x0a.0.0.0/8", &err), "not an IPv4 address"));
	assert_non_null(strstr(parse_refused("010.0.0.0/8", &err), "not an IPv4 address"));
}

/* A caller that does not want the text passes NULL, and still gets a refusal. */
static void null_error_is_allowed(void **state)
{
	struct ipv4_cidr c;

	(void)state;
	assert_int_equal(ipv4_cidr_parse("10.244.1.1/24", &c, NULL), -EINVAL);
	assert_int_equal(ipv4_cidr_parse("10.244.1.0/33", &c, NULL), -EINVAL);
	assert_int_equal(ipv4_cidr_parse("10.244.1.0", &c, NULL), -EINVAL);
	assert_int_equal(ipv4_cidr_parse("10.1/8", &c, NULL), -EINVAL);
	assert_int_equal(ipv4_cidr_parse("10.0.0.0/+8", &c, NULL), -EINVAL);
	assert_int_equal(ipv4_cidr_parse("10.244.1.0/24", &c, NULL), 0);
}

static void parses_addresses(void **state)
{
	struct ck_error err = {0};
	uint32_t a = 7;

	(void)state;
	assert_int_equal(ipv4_address_parse("10.244.1.2", &a, &err), 0);
	assert_int_equal(a, ADDR(10, 244, 1, 2));
	assert_int_equal(ipv4_address_parse("0.0.0.0", &a, &err), 0);
	assert_int_equal(a, 0);
	assert_int_equal(ipv4_address_parse("255.255.255.255", &a, &err), 0);
	assert_int_equal(a, UINT32_MAX);
	assert_int_equal(ipv4_address_parse("1.2.3.4", &a, &err), 0);
	assert_int_equal(a, 0x01020304);
	assert_int_equal(err.code, 0);

	a = 7;
	assert_int_equal(ipv4_address_parse("10.1", &a, &err), -EINVAL);
	assert_string_equal(err.message, "10.1: not an IPv4 address");
	assert_int_equal(ipv4_address_parse("10.0.0.1/32", &a, &err), -EINVAL);
	assert_int_equal(ipv4_address_parse("1.2.3.256", &a, &err), -EINVAL);
	assert_int_equal(ipv4_address_parse("", &a, &err), -EINVAL);
	assert_int_equal(ipv4_address_parse("1.2.3.4 ", &a, &err), -EINVAL);
	assert_int_equal(ipv4_address_parse("::1", &a, &err), -EINVAL);
	assert_int_equal(ipv4_address_parse("1.2.3.4", &a, NULL), 0);
	assert_int_equal(ipv4_address_parse("x", &a, NULL), -EINVAL);
	assert_int_equal(a, 0x01020304);
}

static void mask_of_every_edge(void **state)
{
	struct ipv4_cidr c = {0};

	(void)state;
	c.prefix = 0;
	assert_int_equal(ipv4_cidr_mask(&c), 0);
	c.prefix = 1;
	assert_int_equal(ipv4_cidr_mask(&c), 0x80000000u);
	c.prefix = 24;
	assert_int_equal(ipv4_cidr_mask(&c), 0xffffff00u);
	c.prefix = 31;
	assert_int_equal(ipv4_cidr_mask(&c), 0xfffffffeu);
	c.prefix = 32;
	assert_int_equal(ipv4_cidr_mask(&c), UINT32_MAX);
}

static void contains(void **state)
{
	struct ipv4_cidr pods = parse_ok("10.244.1.0/24"), all = parse_ok("0.0.0.0/0"),
			 one = parse_ok("10.0.0.1/32");

	(void)state;
	assert_true(ipv4_cidr_contains(&pods, ADDR(10, 244, 1, 0)));
	assert_true(ipv4_cidr_contains(&pods, ADDR(10, 244, 1, 1)));
	assert_true(ipv4_cidr_contains(&pods, ADDR(10, 244, 1, 255)));
	assert_false(ipv4_cidr_contains(&pods, ADDR(10, 244, 2, 0)));
	assert_false(ipv4_cidr_contains(&pods, ADDR(10, 244, 0, 255)));
	assert_false(ipv4_cidr_contains(&pods, ADDR(11, 244, 1, 1)));
	assert_true(ipv4_cidr_contains(&all, 0));
	assert_true(ipv4_cidr_contains(&all, UINT32_MAX));
	assert_true(ipv4_cidr_contains(&all, ADDR(10, 244, 1, 9)));
	assert_true(ipv4_cidr_contains(&one, ADDR(10, 0, 0, 1)));
	assert_false(ipv4_cidr_contains(&one, ADDR(10, 0, 0, 0)));
	assert_false(ipv4_cidr_contains(&one, ADDR(10, 0, 0, 2)));
}

static void expect_overlap(const char *a_text, const char *b_text, bool expected)
{
	struct ipv4_cidr a = parse_ok(a_text), b = parse_ok(b_text);

	/* Overlapping is symmetric whichever block is the larger. */
	if (ipv4_cidr_overlaps(&a, &b) != expected || ipv4_cidr_overlaps(&b, &a) != expected)
		fail_msg("%s and %s: expected %s", a_text, b_text,
			 expected ? "an overlap" : "none");
}

static void overlaps(void **state)
{
	(void)state;
	/* nested */
	expect_overlap("10.244.0.0/16", "10.244.5.0/24", true);
	expect_overlap("10.244.5.0/24", "10.244.5.7/32", true);
	expect_overlap("10.244.5.0/24", "10.244.5.128/25", true);
	/* equal */
	expect_overlap("10.244.5.0/24", "10.244.5.0/24", true);
	expect_overlap("10.0.0.1/32", "10.0.0.1/32", true);
	/* disjoint, also neighbours and a larger block just beside a smaller one */
	expect_overlap("10.244.5.0/24", "10.244.6.0/24", false);
	expect_overlap("10.244.4.0/24", "10.244.5.0/24", false);
	expect_overlap("10.244.0.0/16", "10.245.0.0/24", false);
	expect_overlap("10.244.5.0/25", "10.244.5.128/25", false);
	expect_overlap("10.0.0.1/32", "10.0.0.2/32", false);
	expect_overlap("192.168.0.0/16", "10.0.0.0/8", false);
	/* /0 holds everything */
	expect_overlap("0.0.0.0/0", "10.244.5.0/24", true);
	expect_overlap("0.0.0.0/0", "255.255.255.255/32", true);
	expect_overlap("0.0.0.0/0", "0.0.0.0/0", true);
	expect_overlap("0.0.0.0/1", "128.0.0.0/1", false);
}

static void last_address(void **state)
{
	struct ipv4_cidr c;

	(void)state;
	c = parse_ok("10.244.1.0/24");
	assert_int_equal(ipv4_cidr_last(&c), ADDR(10, 244, 1, 255));
	c = parse_ok("10.244.7.0/29");
	assert_int_equal(ipv4_cidr_last(&c), ADDR(10, 244, 7, 7));
	c = parse_ok("10.244.0.0/16");
	assert_int_equal(ipv4_cidr_last(&c), ADDR(10, 244, 255, 255));
	c = parse_ok("10.0.0.1/32");
	assert_int_equal(ipv4_cidr_last(&c), ADDR(10, 0, 0, 1));
	c = parse_ok("10.0.0.2/31");
	assert_int_equal(ipv4_cidr_last(&c), ADDR(10, 0, 0, 3));
	c = parse_ok("0.0.0.0/0");
	assert_int_equal(ipv4_cidr_last(&c), UINT32_MAX);
	c = parse_ok("128.0.0.0/1");
	assert_int_equal(ipv4_cidr_last(&c), UINT32_MAX);
}

static void formats_addresses(void **state)
{
	char text[IPV4_TEXT_MAX + 1];

	(void)state;
	assert_ptr_equal(ipv4_address_format(ADDR(10, 244, 1, 2), text), text);
	assert_string_equal(text, "10.244.1.2");
	assert_string_equal(ipv4_address_format(0, text), "0.0.0.0");
	assert_string_equal(ipv4_address_format(UINT32_MAX, text), "255.255.255.255");
	assert_string_equal(ipv4_address_format(0x01020304, text), "1.2.3.4");
}

static void format_round_trips(void **state)
{
	static const char *const blocks[] = {
	    "0.0.0.0/0",     "10.244.1.0/24", "10.0.0.1/32",     "255.255.255.255/32",
	    "10.244.0.0/16", "128.0.0.0/1",   "10.244.5.248/29", "192.168.100.0/22",
	};
	static const char *const addresses[] = {"0.0.0.0", "10.244.5.1", "255.255.255.255",
						"172.16.0.100"};
	/* Exactly IPV4_TEXT_MAX + 1 bytes: the longest text and its terminator fit. */
	char text[IPV4_TEXT_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
		struct ipv4_cidr c = parse_ok(blocks[i]), again;
		assert_ptr_equal(ipv4_cidr_format(&c, text), text);
		assert_string_equal(text, blocks[i]);
		again = parse_ok(text);
		assert_int_equal(again.network, c.network);
		assert_int_equal(again.prefix, c.prefix);
	}
	for (size_t i = 0; i < sizeof(addresses) / sizeof(addresses[0]); i++) {
		uint32_t a;
		assert_int_equal(ipv4_address_parse(addresses[i], &a, NULL), 0);
		assert_string_equal(ipv4_address_format(a, text), addresses[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parses_valid_blocks),
	    cmocka_unit_test(host_bits_are_refused_naming_the_network),
	    cmocka_unit_test(prefix_over_32_is_refused),
	    cmocka_unit_test(missing_slash_is_refused),
	    cmocka_unit_test(garbage_is_refused),
	    cmocka_unit_test(shorthand_address_is_refused),
	    cmocka_unit_test(null_error_is_allowed),
	    cmocka_unit_test(parses_addresses),
	    cmocka_unit_test(mask_of_every_edge),
	    cmocka_unit_test(contains),
	    cmocka_unit_test(overlaps),
	    cmocka_unit_test(last_address),
	    cmocka_unit_test(formats_addresses),
	    cmocka_unit_test(format_round_trips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
