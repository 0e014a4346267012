/* Capability names, sets and containerd's add/drop rules; applying a set in a forked child. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime/capabilities.h"

#define BIT(cap) (UINT64_C(1) << (cap))
#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

static void test_names_resolve_in_every_spelling(void **state)
{
	(void)state;
	static const char *const spellings[] = {"NET_ADMIN", "CAP_NET_ADMIN", "net_admin",
						"cap_net_admin", "Net_Admin"};
	for (size_t i = 0; i < COUNT(spellings); i++)
		assert_int_equal(capability_from_name(spellings[i]), CAP_NET_ADMIN);
	assert_int_equal(capability_from_name("CHOWN"), CAP_CHOWN);
	assert_int_equal(capability_from_name("AUDIT_WRITE"), CAP_AUDIT_WRITE);
	assert_int_equal(capability_from_name("BPF"), CAP_BPF);
}

static void test_unknown_names_are_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {"",    "CAP_", "FOO",           "NET_ADMINX",
					  "ALL", "12",   "CAP_CAP_CHOWN", " CHOWN"};
	for (size_t i = 0; i < COUNT(bad); i++)
		assert_int_equal(capability_from_name(bad[i]), -1);
}

static void test_numbers_name_their_capability(void **state)
{
	(void)state;
	assert_string_equal(capability_name(CAP_CHOWN), "CAP_CHOWN");
	assert_string_equal(capability_name(CAP_NET_ADMIN), "CAP_NET_ADMIN");
	assert_string_equal(capability_name(CAP_SYS_ADMIN), "CAP_SYS_ADMIN");
	assert_string_equal(capability_name(CAP_CHECKPOINT_RESTORE), "CAP_CHECKPOINT_RESTORE");
	/* The same static text every time, so callers may keep the pointer. */
	assert_ptr_equal(capability_name(CAP_KILL), capability_name(CAP_KILL));
	assert_null(capability_name(-1));
	assert_null(capability_name(63));
	assert_null(capability_name(64));
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
		assert_int_equal(capability_from_name(capability_name(cap)), cap);
}

static void assert_formats(uint64_t set, const char *expected)
{
	char *text = capabilities_format(set);
	assert_non_null(text);
	assert_string_equal(text, expected);
	free(text);
}

static void test_sets_format_in_number_order(void **state)
{
	(void)state;
	assert_formats(0, "");
	assert_formats(BIT(CAP_KILL) | BIT(CAP_CHOWN), "CAP_CHOWN,CAP_KILL");
	assert_formats(capabilities_default(),
		       "CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_FOWNER,CAP_FSETID,CAP_KILL,CAP_SETGID,"
		       "CAP_SETUID,CAP_SETPCAP,CAP_NET_BIND_SERVICE,CAP_NET_RAW,CAP_SYS_CHROOT,"
		       "CAP_MKNOD,CAP_AUDIT_WRITE,CAP_SETFCAP");
	/* A number this libcap has no name for is still shown. */
	assert_formats(BIT(CAP_CHOWN) | BIT(63), "CAP_CHOWN,63");
}

static void test_default_and_all_sets(void **state)
{
	(void)state;
	uint64_t defaults = capabilities_default();
	assert_int_equal(__builtin_popcountll(defaults), 14);
	assert_true(defaults & BIT(CAP_NET_BIND_SERVICE));
	assert_false(defaults & BIT(CAP_NET_ADMIN));
	assert_false(defaults & BIT(CAP_SYS_ADMIN));
	uint64_t all = capabilities_all();
	/* What the kernel knows and this process may still grant: its bounding set. */
	for (int cap = 0; cap < 64; cap++) {
		bool bounded =
		    cap < (int)cap_max_bits() && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1;
		assert_int_equal(!!(all & BIT(cap)), bounded);
	}
}

struct compute_case {
	const char *what;
	const char *add[4];
	const char *drop[4];
	bool privileged;
	uint64_t plus; /* expected: default | plus & ~minus, unless from_all */
	uint64_t minus;
	enum { FROM_DEFAULT, FROM_ALL, FROM_NOTHING } base;
};

static size_t count_names(const char *const *names)
{
	size_t n = 0;
	while (n < 4 && names[n])
		n++;
	return n;
}

static void test_compute_follows_containerd(void **state)
{
	(void)state;
	static const struct compute_case cases[] = {
	    {"nothing asked", {0}, {0}, false, 0, 0, FROM_DEFAULT},
	    {"privileged", {0}, {0}, true, 0, 0, FROM_ALL},
	    {"privileged ignores drops", {0}, {"ALL"}, true, 0, 0, FROM_ALL},
	    {"add one", {"NET_ADMIN"}, {0}, false, BIT(CAP_NET_ADMIN), 0, FROM_DEFAULT},
	    {"add prefixed", {"CAP_SYS_TIME"}, {0}, false, BIT(CAP_SYS_TIME), 0, FROM_DEFAULT},
	    {"drop one", {0}, {"NET_RAW"}, false, 0, BIT(CAP_NET_RAW), FROM_DEFAULT},
	    {"add and drop",
	     {"NET_ADMIN", "sys_ptrace"},
	     {"chown", "KILL"},
	     false,
	     BIT(CAP_NET_ADMIN) | BIT(CAP_SYS_PTRACE),
	     BIT(CAP_CHOWN) | BIT(CAP_KILL),
	     FROM_DEFAULT},
	    {"drop wins over add", {"NET_ADMIN"}, {"NET_ADMIN"}, false, 0, 0, FROM_DEFAULT},
	    {"add all", {"ALL"}, {0}, false, 0, 0, FROM_ALL},
	    {"add all drop one", {"ALL"}, {"CHOWN"}, false, 0, BIT(CAP_CHOWN), FROM_ALL},
	    {"drop all", {0}, {"ALL"}, false, 0, 0, FROM_NOTHING},
	    {"drop all add one",
	     {"NET_BIND_SERVICE"},
	     {"all"},
	     false,
	     BIT(CAP_NET_BIND_SERVICE),
	     0,
	     FROM_NOTHING},
	    {"add all drop all", {"ALL", "KILL"}, {"ALL"}, false, BIT(CAP_KILL), 0, FROM_NOTHING},
	    {"all in any case",
	     {"All"},
	     {"aLL", "SETUID"},
	     false,
	     0,
	     BIT(CAP_SETUID),
	     FROM_NOTHING},
	};
	for (size_t i = 0; i < COUNT(cases); i++) {
		const struct compute_case *c = &cases[i];
		uint64_t base = c->base == FROM_DEFAULT ? capabilities_default()
				: c->base == FROM_ALL   ? capabilities_all()
							: 0;
		uint64_t expected = (base | c->plus) & ~c->minus;
		uint64_t got = 0;
		struct ck_error err = {0};
		int rc = capabilities_compute(c->add, count_names(c->add), c->drop,
					      count_names(c->drop), c->privileged, &got, &err);
		if (rc != 0 || got != expected)
			fail_msg("%s: rc %d, got %#llx, want %#llx (%s)", c->what, rc,
				 (unsigned long long)got, (unsigned long long)expected,
				 err.message);
	}
}

static void test_compute_refuses_unknown_names(void **state)
{
	(void)state;
	const char *add[] = {"NET_ADMIN", "FOO"};
	const char *drop[] = {"ALL", "CAP_BAR"};
	uint64_t set = 12345;
	struct ck_error err = {0};
	assert_int_equal(capabilities_compute(add, 2, NULL, 0, false, &set, &err), -EINVAL);
	assert_int_equal(err.code, EINVAL);
	assert_string_equal(err.message, "unknown capability \"FOO\"");
	assert_int_equal(capabilities_compute(NULL, 0, drop, 2, false, &set, &err), -EINVAL);
	assert_string_equal(err.message, "unknown capability \"CAP_BAR\"");
	assert_int_equal(set, 12345);
}

/* Runs `body` in a forked child and returns its exit code, so that the test process keeps its
 * own capabilities. */
static int in_child(int (*body)(void))
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(body());
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void capget_sets(uint64_t *effective, uint64_t *permitted, uint64_t *inheritable)
{
	struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {0};
	syscall(SYS_capget, &header, data);
	*effective = data[0].effective | (uint64_t)data[1].effective << 32;
	*permitted = data[0].permitted | (uint64_t)data[1].permitted << 32;
	*inheritable = data[0].inheritable | (uint64_t)data[1].inheritable << 32;
}

static bool capget_is(uint64_t effective, uint64_t permitted, uint64_t inheritable)
{
	uint64_t eff, perm, inh;
	capget_sets(&eff, &perm, &inh);
	return eff == effective && perm == permitted && inh == inheritable;
}

static int drop_everything(void)
{
	if (capabilities_set(0, 0, 0) < 0)
		return 1;
	return capget_is(0, 0, 0) ? 0 : 2;
}

/* Root keeps the default set in all three; the bounding set loses everything else (the caller
 * made sure the default set is there to keep). */
static int become_default_container(void)
{
	uint64_t keep = capabilities_default();
	int failed = -1;
	if (capabilities_drop_bounding(keep, &failed) < 0)
		return 1;
	for (int cap = 0; cap < (int)cap_max_bits(); cap++) {
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != ((keep & BIT(cap)) ? 1 : 0))
			return 2;
	}
	/* Dropping again is a no-op, even without CAP_SETPCAP now. */
	if (capabilities_set(keep & ~BIT(CAP_SETPCAP), keep, keep) < 0)
		return 3;
	if (capabilities_drop_bounding(keep, &failed) < 0)
		return 4;
	if (capabilities_set(keep, keep, keep) < 0)
		return 5;
	return capget_is(keep, keep, keep) ? 0 : 6;
}

/* Without CAP_SETPCAP nothing can leave the bounding set, and the failing number is named. */
static int drop_without_setpcap(void)
{
	if (capabilities_set(0, 0, 0) < 0)
		return 1;
	int failed = -1;
	if (capabilities_drop_bounding(0, &failed) != -EPERM)
		return 2;
	return failed == CAP_CHOWN ? 0 : 3;
}

static void test_set_applies_in_child(void **state)
{
	(void)state;
	assert_int_equal(in_child(drop_everything), 0);
}

static void test_bounding_drop_as_root(void **state)
{
	(void)state;
	/* Needs root holding at least the default set (which includes CAP_SETPCAP). */
	uint64_t effective, permitted, inheritable;
	capget_sets(&effective, &permitted, &inheritable);
	uint64_t keep = capabilities_default();
	if ((effective & keep) != keep)
		skip();
	assert_int_equal(in_child(become_default_container), 0);
	assert_int_equal(in_child(drop_without_setpcap), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_resolve_in_every_spelling),
	    cmocka_unit_test(test_unknown_names_are_refused),
	    cmocka_unit_test(test_numbers_name_their_capability),
	    cmocka_unit_test(test_sets_format_in_number_order),
	    cmocka_unit_test(test_default_and_all_sets),
	    cmocka_unit_test(test_compute_follows_containerd),
	    cmocka_unit_test(test_compute_refuses_unknown_names),
	    cmocka_unit_test(test_set_applies_in_child),
	    cmocka_unit_test(test_bounding_drop_as_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
