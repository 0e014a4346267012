/* Allocators of ClusterIPs, pod CIDRs and node ports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "apiserver/allocator.h"

static void addresses_skip_network_and_broadcast(void **state)
{
	(void)state;
	struct ipv4_allocator a;
	struct ck_error err = {0};
	assert_int_equal(ipv4_allocator_init(&a, "10.96.0.0/29", 32, &err), 0);
	char ip[32];
	const char *expected[] = {"10.96.0.1", "10.96.0.2", "10.96.0.3",
				  "10.96.0.4", "10.96.0.5", "10.96.0.6"};
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(ipv4_allocator_next(&a, ip, sizeof(ip)), 0);
		assert_string_equal(ip, expected[i]);
	}
	assert_int_equal(ipv4_allocator_next(&a, ip, sizeof(ip)), -ENOSPC);
	ipv4_allocator_release(&a, "10.96.0.3");
	assert_int_equal(ipv4_allocator_next(&a, ip, sizeof(ip)), 0);
	assert_string_equal(ip, "10.96.0.3");
	/* The range's own network address can never be taken or released into use. */
	ipv4_allocator_release(&a, "10.96.0.0");
	assert_int_equal(ipv4_allocator_take(&a, "10.96.0.0"), -EEXIST);
	ipv4_allocator_free(&a);
}

static void take_checks_range_and_duplicates(void **state)
{
	(void)state;
	struct ipv4_allocator a;
	assert_int_equal(ipv4_allocator_init(&a, "10.96.0.0/12", 32, NULL), 0);
	assert_int_equal(ipv4_allocator_take(&a, "10.100.1.2"), 0);
	assert_int_equal(ipv4_allocator_take(&a, "10.100.1.2"), -EEXIST);
	assert_int_equal(ipv4_allocator_take(&a, "10.112.0.1"), -ERANGE);
	assert_int_equal(ipv4_allocator_take(&a, "192.168.0.1"), -ERANGE);
	assert_int_equal(ipv4_allocator_take(&a, "not-an-ip"), -EINVAL);
	char range[32];
	ipv4_allocator_range(&a, range, sizeof(range));
	assert_string_equal(range, "10.96.0.0/12");
	ipv4_allocator_free(&a);
}

static void blocks_are_handed_out_per_node(void **state)
{
	(void)state;
	struct ipv4_allocator a;
	assert_int_equal(ipv4_allocator_init(&a, "10.244.0.0/16", 24, NULL), 0);
	char cidr[32];
	assert_int_equal(ipv4_allocator_next(&a, cidr, sizeof(cidr)), 0);
	assert_string_equal(cidr, "10.244.0.0/24");
	assert_int_equal(ipv4_allocator_take(&a, "10.244.5.0/24"), 0);
	assert_int_equal(ipv4_allocator_take(&a, "10.244.5.0/24"), -EEXIST);
	assert_int_equal(ipv4_allocator_take(&a, "10.244.5.7/24"), -ERANGE);
	assert_int_equal(ipv4_allocator_take(&a, "10.244.6.0/25"), -EINVAL);
	assert_int_equal(ipv4_allocator_next(&a, cidr, sizeof(cidr)), 0);
	assert_string_equal(cidr, "10.244.1.0/24");
	ipv4_allocator_free(&a);
}

static void bad_ranges_are_refused(void **state)
{
	(void)state;
	struct ipv4_allocator a;
	struct ck_error err = {0};
	assert_int_equal(ipv4_allocator_init(&a, "10.96.0.0", 32, &err), -EINVAL);
	assert_int_equal(ipv4_allocator_init(&a, "10.96.0.0/33", 32, &err), -EINVAL);
	assert_int_equal(ipv4_allocator_init(&a, "10.0.0.0/4", 32, &err), -EINVAL);
	assert_non_null(strstr(err.message, "10.0.0.0/4"));
}

static void ports_come_from_their_range(void **state)
{
	(void)state;
	struct range_allocator a;
	assert_int_equal(range_allocator_init(&a, 30000, 3), 0);
	uint32_t port;
	assert_int_equal(range_allocator_take(&a, 30001), 0);
	assert_int_equal(range_allocator_next(&a, &port), 0);
	assert_int_equal(port, 30000);
	assert_int_equal(range_allocator_next(&a, &port), 0);
	assert_int_equal(port, 30002);
	assert_int_equal(range_allocator_next(&a, &port), -ENOSPC);
	assert_int_equal(range_allocator_take(&a, 29999), -ERANGE);
	range_allocator_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(addresses_skip_network_and_broadcast),
	    cmocka_unit_test(take_checks_range_and_duplicates),
	    cmocka_unit_test(blocks_are_handed_out_per_node),
	    cmocka_unit_test(bad_ranges_are_refused),
	    cmocka_unit_test(ports_come_from_their_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
