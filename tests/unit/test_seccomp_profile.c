/* The RuntimeDefault seccomp program: built per capability set, cached, and proven by loading
 * it into forked children and making the system calls it should allow and refuse. Loading
 * needs no privilege (no_new_privs), so these run as any user. */
#include <errno.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/capability.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime/capabilities.h"
#include "runtime/seccomp_profile.h"

#define SYS_ADMIN_BIT (UINT64_C(1) << CAP_SYS_ADMIN)

static const struct sock_fprog *program_for(uint64_t capabilities)
{
	const struct sock_fprog *program = NULL;
	struct ck_error err = {0};
	int rc = seccomp_runtime_default(capabilities, &program, &err);
	if (rc < 0)
		fail_msg("seccomp_runtime_default: %s", err.message);
	assert_non_null(program);
	return program;
}

/* A probe that runs under the filter: 0 when the kernel answered as expected, otherwise the
 * number of the failed expectation. */
typedef int (*probe_fn)(void);

/* Exit code of a child that could not load any filter: valgrind, for one, has no seccomp. */
#define NO_SECCOMP 77

/* Exit codes tell which expectation failed; stdio stays out of the child. */
static void run_under_filter(const struct sock_fprog *program, probe_fn probe)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(100);
		int rc = seccomp_load_program(program);
		if (rc == -ENOSYS)
			_exit(NO_SECCOMP);
		if (rc < 0)
			_exit(101);
		_exit(probe());
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status))
		fail_msg("child died with status %#x", status);
	if (WEXITSTATUS(status) == NO_SECCOMP)
		skip();
	if (WEXITSTATUS(status) != 0)
		fail_msg("expectation %d failed in the child", WEXITSTATUS(status));
}

static bool fails_with(long rc, int code)
{
	return rc == -1 && errno == code;
}

/* fork() is glibc's clone without namespace flags: it must keep working. */
static bool fork_works(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(7);
	int status = 0;
	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 7;
}

/* clone with a namespace flag, through the raw system call; a child that gets through leaves
 * at once so that only the parent reports. */
static long clone_new_mount_namespace(void)
{
	long rc = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, NULL, NULL, NULL, 0);
	if (rc == 0)
		_exit(0);
	if (rc > 0)
		waitpid((pid_t)rc, NULL, 0);
	return rc;
}

static int probe_default_set(void)
{
	if (getpid() <= 0)
		return 1;
	if (!fails_with(unshare(CLONE_NEWNS), EPERM))
		return 2;
	if (!fails_with(syscall(SYS_clone3, NULL, 0), ENOSYS))
		return 3;
	if (!fork_works())
		return 4;
	if (!fails_with(clone_new_mount_namespace(), EPERM))
		return 5;
	if (personality(0xffffffff) == -1)
		return 6;
	if (!fails_with(personality(0x1234), EPERM))
		return 7;
	if (!fails_with(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0),
			EPERM))
		return 8;
	if (!fails_with(socket(AF_VSOCK, SOCK_STREAM, 0), EPERM))
		return 9;
	if (!fails_with(socket(AF_ALG, SOCK_SEQPACKET, 0), EPERM))
		return 10;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return 11;
	close(fd);
	if (!fails_with(syscall(SYS_mount, "none", "/", "tmpfs", 0, NULL), EPERM))
		return 12;
	return 0;
}

/* With CAP_SYS_ADMIN the filter lets unshare and clone3 through to the kernel. Invalid
 * arguments make the kernel itself answer EINVAL whoever the caller is, which EPERM from the
 * filter could not be. */
static int probe_sys_admin_set(void)
{
	if (!fails_with(unshare(CLONE_PTRACE), EINVAL))
		return 1;
	if (!fails_with(syscall(SYS_clone3, NULL, 0), EINVAL))
		return 2;
	if (!fork_works())
		return 3;
	if (!fails_with(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0),
			EPERM))
		return 4;
	return 0;
}

/* As root with CAP_SYS_ADMIN the namespace is really created. */
static int probe_sys_admin_unshare(void)
{
	return unshare(CLONE_NEWNS) == 0 ? 0 : 1;
}

static void test_default_set_is_enforced(void **state)
{
	(void)state;
	run_under_filter(program_for(capabilities_default()), probe_default_set);
}

static void test_sys_admin_opens_namespaces(void **state)
{
	(void)state;
	run_under_filter(program_for(capabilities_default() | SYS_ADMIN_BIT), probe_sys_admin_set);
}

static bool has_effective(cap_value_t cap)
{
	cap_t caps = cap_get_proc();
	assert_non_null(caps);
	cap_flag_value_t value = CAP_CLEAR;
	assert_int_equal(cap_get_flag(caps, cap, CAP_EFFECTIVE, &value), 0);
	cap_free(caps);
	return value == CAP_SET;
}

static void test_sys_admin_unshare_succeeds_as_root(void **state)
{
	(void)state;
	if (!has_effective(CAP_SYS_ADMIN))
		skip();
	run_under_filter(program_for(capabilities_default() | SYS_ADMIN_BIT),
			 probe_sys_admin_unshare);
}

static void test_programs_are_cached_per_set(void **state)
{
	(void)state;
	const struct sock_fprog *plain = program_for(capabilities_default());
	const struct sock_fprog *admin = program_for(capabilities_default() | SYS_ADMIN_BIT);
	assert_ptr_equal(program_for(capabilities_default()), plain);
	assert_ptr_equal(program_for(capabilities_default() | SYS_ADMIN_BIT), admin);
	assert_ptr_not_equal(plain, admin);
	assert_true(plain->len > 0 && plain->filter != NULL);
	/* CAP_NET_ADMIN changes no rule, so it shares the default set's program. */
	assert_ptr_equal(program_for(capabilities_default() | (UINT64_C(1) << CAP_NET_ADMIN)),
			 plain);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_set_is_enforced),
	    cmocka_unit_test(test_sys_admin_opens_namespaces),
	    cmocka_unit_test(test_sys_admin_unshare_succeeds_as_root),
	    cmocka_unit_test(test_programs_are_cached_per_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
