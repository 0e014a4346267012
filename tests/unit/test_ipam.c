/* The pod address allocator: its files in a temporary directory, no root needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/fsutil.h"
#include "netns/ipam.h"

struct fixture {
	char root[64];
	char dir[128]; /* the state directory, as the agent would pass it */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/ckube-ipam-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	/* Below a directory that does not exist yet: ipam_open makes it. */
	snprintf(f->dir, sizeof(f->dir), "%s/network/ipam", f->root);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct ck_error err = {0};

	if (fs_remove_tree(AT_FDCWD, f->root, &err) < 0)
		fprintf(stderr, "%s\n", err.message);
	free(f);
	return 0;
}

static struct ipam *open_ipam(const struct fixture *f, const char *cidr)
{
	struct ck_error err = {0};
	struct ipam *ipam = NULL;

	if (ipam_open(f->dir, cidr, &ipam, &err) < 0)
		fail_msg("%s", err.message);
	return ipam;
}

static uint32_t address_of(const char *text)
{
	uint32_t address = 0;

	assert_int_equal(ipv4_address_parse(text, &address, NULL), 0);
	return address;
}

static uint32_t allocate(struct ipam *ipam, const char *owner)
{
	struct ck_error err = {0};
	uint32_t address = 0;

	if (ipam_allocate(ipam, owner, &address, &err) < 0)
		fail_msg("%s", err.message);
	return address;
}

static void release(struct ipam *ipam, const char *owner)
{
	struct ck_error err = {0};

	if (ipam_release(ipam, owner, &err) < 0)
		fail_msg("%s", err.message);
}

static void assert_address(uint32_t address, const char *text)
{
	char got[IPV4_TEXT_MAX + 1];

	assert_string_equal(ipv4_address_format(address, got), text);
}

static void assert_holds(struct ipam *ipam, const char *owner, const char *text)
{
	struct ck_error err = {0};
	uint32_t address = 0;

	if (ipam_lookup(ipam, owner, &address, &err) < 0)
		fail_msg("%s", err.message);
	assert_address(address, text);
}

static void assert_holds_nothing(struct ipam *ipam, const char *owner)
{
	struct ck_error err = {0};
	uint32_t address = 0;

	assert_int_equal(ipam_lookup(ipam, owner, &address, &err), -ENOENT);
	assert_non_null(strstr(err.message, owner));
}

static void write_state_file(const struct fixture *f, const char *name, const char *content)
{
	char path[256];
	struct ck_error err = {0};

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	if (fs_write_file(path, content, strlen(content), 0600, &err) < 0)
		fail_msg("%s", err.message);
}

static bool state_file_exists(const struct fixture *f, const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	return lstat(path, &st) == 0;
}

static void relink_owner(const struct fixture *f, const char *owner, const char *target)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/owners/%s", f->dir, owner);
	assert_int_equal(unlink(path), 0);
	if (target)
		assert_int_equal(symlink(target, path), 0);
}

static void assert_link(const struct fixture *f, const char *owner, const char *target)
{
	char path[256], got[64];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/owners/%s", f->dir, owner);
	n = readlink(path, got, sizeof(got) - 1);
	assert_true(n > 0);
	got[n] = '\0';
	assert_string_equal(got, target);
}

static void skips_network_gateway_broadcast(void **state)
{
	struct fixture *f = *state;
	struct ipam *ipam = open_ipam(f, "10.244.1.0/24");
	struct ck_error err = {0};
	static bool seen[256];
	char owner[32];
	uint32_t address;

	assert_address(ipam_gateway(ipam), "10.244.1.1");
	assert_int_equal(ipam_cidr(ipam)->prefix, 24);
	assert_address(ipam_cidr(ipam)->network, "10.244.1.0");
	for (int i = 0; i < 253; i++) {
		snprintf(owner, sizeof(owner), "pod-%d", i);
		address = allocate(ipam, owner);
		assert_int_equal(address & 0xffffff00, address_of("10.244.1.0"));
		assert_true((address & 0xff) >= 2 && (address & 0xff) <= 254);
		assert_false(seen[address & 0xff]);
		seen[address & 0xff] = true;
		if (i == 0)
			assert_address(address, "10.244.1.2");
	}
	assert_int_equal(ipam_allocate(ipam, "one-more", &address, &err), -ENOSPC);
	assert_string_equal(err.message,
			    "pod CIDR 10.244.1.0/24 is exhausted: 253 of 253 addresses in use");
	ipam_close(ipam);
}

static void a_slash_30_has_one_address(void **state)
{
	struct fixture *f = *state;
	struct ipam *ipam = open_ipam(f, "192.168.7.4/30");
	uint32_t address;

	assert_address(allocate(ipam, "only"), "192.168.7.6");
	assert_int_equal(ipam_allocate(ipam, "second", &address, NULL), -ENOSPC);
	ipam_close(ipam);
}

static void idempotent_for_the_same_owner(void **state)
{
	struct fixture *f = *state;
	struct ipam *ipam = open_ipam(f, "10.244.1.0/24");
	uint32_t a = allocate(ipam, "0b9a6e0c-5d1f-4a3e-9c7b-2f4d8e1a6b3c");

	assert_int_equal(allocate(ipam, "0b9a6e0c-5d1f-4a3e-9c7b-2f4d8e1a6b3c"), a);
	assert_int_equal(allocate(ipam, "0b9a6e0c-5d1f-4a3e-9c7b-2f4d8e1a6b3c"), a);
	assert_holds(ipam, "0b9a6e0c-5d1f-4a3e-9c7b-2f4d8e1a6b3c", "10.244.1.2");
	assert_address(allocate(ipam, "other"), "10.244.1.3");
	assert_int_equal(allocate(ipam, "0b9a6e0c-5d1f-4a3e-9c7b-2f4d8e1a6b3c"), a);
	ipam_close(ipam);
}

#define OWNERS 40
#define USABLE_26 61

/* Reads back every address file: each must name the owner the model says holds it. */
static void assert_files_match(const struct fixture *f, char held[][16], uint32_t *addresses)
{
	char name[IPV4_TEXT_MAX + 1], path[256], *content;
	struct ck_error err = {0};
	int files = 0;

	for (uint32_t a = address_of("10.20.30.0"); a <= address_of("10.20.30.63"); a++) {
		ipv4_address_format(a, name);
		snprintf(path, sizeof(path), "%s/%s", f->dir, name);
		if (fs_read_file(path, &content, NULL, &err) < 0) {
			for (int i = 0; i < OWNERS; i++)
				assert_false(held[i][0] && addresses[i] == a);
			continue;
		}
		files++;
		int owner = -1;
		for (int i = 0; i < OWNERS; i++) {
			if (held[i][0] && addresses[i] == a)
				owner = i;
		}
		assert_true(owner >= 0);
		assert_string_equal(content, held[owner]);
		free(content);
	}
	int expected = 0;
	for (int i = 0; i < OWNERS; i++)
		expected += held[i][0] != '\0';
	assert_int_equal(files, expected);
}

static void unique_across_many_cycles(void **state)
{
	struct fixture *f = *state;
	struct ipam *ipam = open_ipam(f, "10.20.30.0/26");
	char held[OWNERS][16] = {{0}};
	uint32_t addresses[OWNERS] = {0};
	uint32_t seed = 12345;
	int allocations = 0;

	for (int step = 0; step < 1000; step++) {
		seed = seed * 1103515245 + 12345;
		int i = (int)((seed >> 8) % OWNERS);
		bool drop = ((seed >> 20) & 3) == 0;

		if (held[i][0] && drop) {
			release(ipam, held[i]);
			assert_holds_nothing(ipam, held[i]);
			held[i][0] = '\0';
			continue;
		}
		if (held[i][0]) {
			assert_int_equal(allocate(ipam, held[i]), addresses[i]);
			continue;
		}
		/* A fresh owner id each time, as a new pod has a new uid. */
		snprintf(held[i], sizeof(held[i]), "pod-%d.%d", i, step);
		addresses[i] = allocate(ipam, held[i]);
		allocations++;
		assert_true(addresses[i] >= address_of("10.20.30.2") &&
			    addresses[i] <= address_of("10.20.30.62"));
		for (int j = 0; j < OWNERS; j++)
			assert_false(j != i && held[j][0] && addresses[j] == addresses[i]);
		if (step % 50 == 0)
			assert_files_match(f, held, addresses);
	}
	/* Enough turnover that the search wrapped around the block several times. */
	assert_true(allocations > 3 * USABLE_26);
	assert_files_match(f, held, addresses);
	ipam_close(ipam);
}

static void released_address_not_reused_next(void **state)
{
	struct fixture *f = *state;
	struct ipam *ipam = open_ipam(f, "10.0.0.0/29");

	assert_address(allocate(ipam, "a"), "10.0.0.2");
	assert_address(allocate(ipam, "b"), "10.0.0.3");
	release(ipam, "a");
	assert_address(allocate(ipam, "c"), "10.0.0.4");
	assert_address(allocate(ipam, "d"), "10.0.0.5");
	assert_address(allocate(ipam, "e"), "10.0.0.6");
	/* Wraps past the broadcast address to the first free one. */
	assert_address(allocate(ipam, "f"), "10.0.0.2");
	release(ipam, "c");
	release(ipam, "e");
	assert_address(allocate(ipam, "g"), "10.0.0.4");
	assert_address(allocate(ipam, "h"), "10.0.0.6");
	ipam_close(ipam);
}

static void state_survives_reopen(void **state)
{
	struct fixture *f = *state;
	struct ipam *ipam = open_ipam(f, "10.244.1.0/24");

	assert_address(allocate(ipam, "a"), "10.244.1.2");
	assert_address(allocate(ipam, "b"), "10.244.1.3");
	assert_address(allocate(ipam, "c"), "10.244.1.4");
	release(ipam, "c");
	ipam_close(ipam);

	/* The agent restarts. */
	ipam = open_ipam(f, "10.244.1.0/24");
	assert_holds(ipam, "a", "10.244.1.2");
	assert_holds(ipam, "b", "10.244.1.3");
	assert_holds_nothing(ipam, "c");
	assert_address(allocate(ipam, "b"), "10.244.1.3");
	assert_address(allocate(ipam, "d"), "10.244.1.5");
	ipam_close(ipam);
}

static void exhaustion_is_reported(void **state)
{
	struct fixture *f = *state;
	struct ipam *ipam = open_ipam(f, "10.0.0.0/29");
	struct ck_error err = {0};
	char owner[16];
	uint32_t address = 0;

	for (int i = 0; i < 5; i++) {
		snprintf(owner, sizeof(owner), "p%d", i);
		allocate(ipam, owner);
	}
	assert_int_equal(ipam_allocate(ipam, "p5", &address, &err), -ENOSPC);
	assert_int_equal(err.code, ENOSPC);
	assert_string_equal(err.message,
			    "pod CIDR 10.0.0.0/29 is exhausted: 5 of 5 addresses in use");
	assert_holds_nothing(ipam, "p5");
	/* An owner that holds one still gets it. */
	assert_address(allocate(ipam, "p3"), "10.0.0.5");
	release(ipam, "p3");
	assert_address(allocate(ipam, "p5"), "10.0.0.5");
	ipam_close(ipam);
}

static void release_of_unknown_owner_is_fine(void **state)
{
	struct fixture *f = *state;
	struct ipam *ipam = open_ipam(f, "10.244.1.0/24");
	struct ck_error err = {0};

	assert_int_equal(ipam_release(ipam, "never-seen", &err), 0);
	allocate(ipam, "a");
	assert_int_equal(ipam_release(ipam, "a", &err), 0);
	assert_int_equal(ipam_release(ipam, "a", &err), 0);
	assert_false(state_file_exists(f, "10.244.1.2"));
	assert_false(state_file_exists(f, "owners/a"));
	ipam_close(ipam);
}

static bool keep_listed(const char *owner, void *ctx)
{
	for (const char **kept = ctx; *kept; kept++) {
		if (strcmp(*kept, owner) == 0)
			return true;
	}
	return false;
}

static void release_unless_collects_the_gone(void **state)
{
	struct fixture *f = *state;
	struct ipam *ipam = open_ipam(f, "10.244.1.0/24");
	const char *kept[] = {"b", NULL};
	struct ck_error err = {0};

	assert_address(allocate(ipam, "a"), "10.244.1.2");
	assert_address(allocate(ipam, "b"), "10.244.1.3");
	assert_address(allocate(ipam, "c"), "10.244.1.4");
	/* A claim that crashed before its owner text, one with garbage in it, a second address
	 * of "b" whose link never came, an earlier CIDR's address and a temporary link. */
	write_state_file(f, "10.244.1.100", "");
	write_state_file(f, "10.244.1.101", "not/an owner\n");
	write_state_file(f, "10.244.1.102", "b");
	write_state_file(f, "10.9.9.9", "old-pod");
	write_state_file(f, ".link", "x");

	int released = ipam_release_unless(ipam, keep_listed, kept, &err);
	if (released < 0)
		fail_msg("%s", err.message);
	assert_int_equal(released, 5);
	assert_holds_nothing(ipam, "a");
	assert_holds_nothing(ipam, "c");
	assert_holds(ipam, "b", "10.244.1.3");
	assert_false(state_file_exists(f, "owners/a"));
	assert_false(state_file_exists(f, "owners/c"));
	assert_false(state_file_exists(f, "10.244.1.100"));
	assert_false(state_file_exists(f, "10.244.1.101"));
	assert_false(state_file_exists(f, "10.244.1.102"));
	assert_false(state_file_exists(f, ".link"));
	assert_true(state_file_exists(f, "10.9.9.9"));
	/* Nothing left to collect. */
	assert_int_equal(ipam_release_unless(ipam, keep_listed, kept, &err), 0);
	ipam_close(ipam);
}

static void bad_owners_refused(void **state)
{
	struct fixture *f = *state;
	struct ipam *ipam = open_ipam(f, "10.244.1.0/24");
	const char *bad[] = {"", ".", "..", "a/b", "a b", "../x", "caf\xc3\xa9", "x\n"};
	char longest[IPAM_OWNER_MAX + 2];
	struct ck_error err = {0};
	uint32_t address;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ipam_allocate(ipam, bad[i], &address, &err), -EINVAL);
		assert_non_null(strstr(err.message, "ipam 10.244.1.0/24: owner \""));
		assert_int_equal(ipam_lookup(ipam, bad[i], &address, &err), -EINVAL);
		assert_int_equal(ipam_release(ipam, bad[i], &err), -EINVAL);
	}
	memset(longest, 'x', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	assert_int_equal(ipam_allocate(ipam, longest, &address, &err), -EINVAL);
	longest[IPAM_OWNER_MAX] = '\0';
	assert_address(allocate(ipam, longest), "10.244.1.2");
	assert_address(allocate(ipam, "Pod_1.x-y"), "10.244.1.3");
	release(ipam, longest);
	ipam_close(ipam);
}

static void bad_cidrs_refused(void **state)
{
	struct fixture *f = *state;
	const char *bad[] = {"10.244.1.1/24", "10.244.1.0/31", "10.244.1.0/32", "10.244.1.0",
			     "10.244.1.0/33", "nonsense",      "10.244.1/24",   ""};
	struct ck_error err = {0};
	struct ipam *ipam = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ipam_open(f->dir, bad[i], &ipam, &err), -EINVAL);
		assert_null(ipam);
	}
	assert_int_equal(ipam_open(f->dir, "10.244.1.0/31", &ipam, &err), -EINVAL);
	assert_non_null(strstr(err.message, "pod CIDR 10.244.1.0/31 is too small"));
	assert_int_equal(ipam_open(f->dir, "10.244.1.1/24", &ipam, &err), -EINVAL);
	assert_non_null(strstr(err.message, "host bits"));
}

static void stale_links_repaired(void **state)
{
	struct fixture *f = *state;
	struct ipam *ipam = open_ipam(f, "10.244.1.0/24");
	struct ck_error err = {0};

	assert_address(allocate(ipam, "a"), "10.244.1.2");
	assert_address(allocate(ipam, "b"), "10.244.1.3");
	assert_link(f, "a", "../10.244.1.2");

	/* Dangling: the lookup scans and repairs. */
	relink_owner(f, "a", "../10.244.1.99");
	assert_holds(ipam, "a", "10.244.1.2");
	assert_link(f, "a", "../10.244.1.2");

	/* Leading to someone else's address. */
	relink_owner(f, "a", "../10.244.1.3");
	assert_address(allocate(ipam, "a"), "10.244.1.2");
	assert_link(f, "a", "../10.244.1.2");
	assert_holds(ipam, "b", "10.244.1.3");

	/* Not leading to an address at all. */
	relink_owner(f, "a", "garbage");
	assert_holds(ipam, "a", "10.244.1.2");

	/* Dangling, and the owner holds nothing: the link goes. */
	relink_owner(f, "b", "../10.244.1.99");
	char path[256];
	snprintf(path, sizeof(path), "%s/10.244.1.3", f->dir);
	assert_int_equal(unlink(path), 0);
	assert_holds_nothing(ipam, "b");
	assert_false(state_file_exists(f, "owners/b"));

	/* Missing (a crash right after the claim): release still finds it by a scan, and
	 * collection puts the link back. */
	relink_owner(f, "a", NULL);
	assert_int_equal(ipam_release_unless(ipam, keep_listed, (const char *[]){"a", NULL}, &err),
			 0);
	assert_link(f, "a", "../10.244.1.2");
	relink_owner(f, "a", NULL);
	release(ipam, "a");
	assert_false(state_file_exists(f, "10.244.1.2"));
	ipam_close(ipam);
}

static void earlier_cidr_left_alone(void **state)
{
	struct fixture *f = *state;
	struct ipam *ipam = open_ipam(f, "10.9.0.0/24");
	struct ck_error err = {0};

	assert_address(allocate(ipam, "mover"), "10.9.0.2");
	assert_address(allocate(ipam, "stayer"), "10.9.0.3");
	ipam_close(ipam);

	ipam = open_ipam(f, "10.244.1.0/24");
	assert_holds(ipam, "mover", "10.9.0.2");
	assert_int_equal(ipam_release_unless(ipam, keep_listed, (const char *[]){NULL}, &err), 0);
	assert_true(state_file_exists(f, "10.9.0.3"));
	/* Allocating moves the owner into the current CIDR. */
	assert_address(allocate(ipam, "mover"), "10.244.1.2");
	assert_false(state_file_exists(f, "10.9.0.2"));
	assert_holds(ipam, "mover", "10.244.1.2");
	/* Release by owner removes an earlier CIDR's address too. */
	release(ipam, "stayer");
	assert_false(state_file_exists(f, "10.9.0.3"));
	ipam_close(ipam);
}

#define PER_CHILD 50

static int child_allocates(const struct fixture *f, int child)
{
	struct ck_error err = {0};
	struct ipam *ipam = NULL;
	char owner[32];
	uint32_t address;

	if (ipam_open(f->dir, "10.244.1.0/24", &ipam, &err) < 0) {
		fprintf(stderr, "child %d: %s\n", child, err.message);
		return 1;
	}
	for (int i = 0; i < PER_CHILD; i++) {
		snprintf(owner, sizeof(owner), "child%d-pod%d", child, i);
		if (ipam_allocate(ipam, owner, &address, &err) < 0) {
			fprintf(stderr, "child %d: %s\n", child, err.message);
			ipam_close(ipam);
			return 1;
		}
	}
	ipam_close(ipam);
	return 0;
}

static void concurrent_processes_get_distinct_addresses(void **state)
{
	struct fixture *f = *state;
	pid_t children[2];
	static bool seen[256];
	char owner[32];

	for (int c = 0; c < 2; c++) {
		children[c] = fork();
		assert_true(children[c] >= 0);
		if (children[c] == 0)
			_exit(child_allocates(f, c));
	}
	for (int c = 0; c < 2; c++) {
		int status = 0;

		assert_int_equal(waitpid(children[c], &status, 0), children[c]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	struct ipam *ipam = open_ipam(f, "10.244.1.0/24");
	for (int c = 0; c < 2; c++) {
		for (int i = 0; i < PER_CHILD; i++) {
			struct ck_error err = {0};
			uint32_t address = 0;

			snprintf(owner, sizeof(owner), "child%d-pod%d", c, i);
			if (ipam_lookup(ipam, owner, &address, &err) < 0)
				fail_msg("%s", err.message);
			assert_false(seen[address & 0xff]);
			seen[address & 0xff] = true;
		}
	}
	int used = 0;
	for (int i = 0; i < 256; i++)
		used += seen[i];
	assert_int_equal(used, 2 * PER_CHILD);
	ipam_close(ipam);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(skips_network_gateway_broadcast, setup, teardown),
	    cmocka_unit_test_setup_teardown(a_slash_30_has_one_address, setup, teardown),
	    cmocka_unit_test_setup_teardown(idempotent_for_the_same_owner, setup, teardown),
	    cmocka_unit_test_setup_teardown(unique_across_many_cycles, setup, teardown),
	    cmocka_unit_test_setup_teardown(released_address_not_reused_next, setup, teardown),
	    cmocka_unit_test_setup_teardown(state_survives_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(exhaustion_is_reported, setup, teardown),
	    cmocka_unit_test_setup_teardown(release_of_unknown_owner_is_fine, setup, teardown),
	    cmocka_unit_test_setup_teardown(release_unless_collects_the_gone, setup, teardown),
	    cmocka_unit_test_setup_teardown(bad_owners_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(bad_cidrs_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(stale_links_repaired, setup, teardown),
	    cmocka_unit_test_setup_teardown(earlier_cidr_left_alone, setup, teardown),
	    cmocka_unit_test_setup_teardown(concurrent_processes_get_distinct_addresses, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
