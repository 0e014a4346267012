/* cgroup v2 against this machine's real cgroup2 mount (as root), under a root of the test's own
 * ("ckube-test-<pid>") that is removed after every test, also a failed one: containers are
 * started into their cgroup, measured, frozen, killed and removed. Parsing tests run for anyone;
 * the others are skipped without root or without a cgroup2 mount. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/sched.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cgroup/cgroup.h"
#include "cgroup/cgroup_internal.h"
#include "lib/cleanup.h"

#define WAIT_MS 5000
#define LIMIT_CONTROLLERS (CGROUP_CPU | CGROUP_MEMORY | CGROUP_PIDS)

/* ---- parsing, for anyone ---- */

static void test_mount_found_in_mountinfo(void **state)
{
	(void)state;
	char *mount = NULL;
	struct ck_error err = {0};
	const char *hybrid =
	    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
	    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
	    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
	assert_int_equal(cgroup_mount_find(hybrid, &mount, &err), 0);
	assert_string_equal(mount, "/sys/fs/cgroup/unified");
	free(mount);

	/* Optional fields before "-", octal escapes in the mount point, and a mount of a
	 * subdirectory that loses to the later mount of the whole hierarchy. */
	const char *nested = "50 1 0:40 /kubepods /var/lib/x rw shared:5 - cgroup2 cgroup2 rw\n"
			     "51 1 0:40 / /run/my\\040cgroup\\134v2 rw shared:6 master:1 - cgroup2 "
			     "none rw,nsdelegate\n";
	assert_int_equal(cgroup_mount_find(nested, &mount, &err), 0);
	assert_string_equal(mount, "/run/my cgroup\\v2");
	free(mount);

	const char *only_subtree = "50 1 0:40 /kubepods /var/lib/x rw - cgroup2 cgroup2 rw";
	assert_int_equal(cgroup_mount_find(only_subtree, &mount, &err), 0);
	assert_string_equal(mount, "/var/lib/x");
	free(mount);

	/* "cgroup2" as the source of a v1 mount is not a cgroup2 mount. */
	const char *none = "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup2 rw,cpu\n"
			   "33 31 0:29 / /cgroup2 rw\n";
	mount = NULL;
	assert_int_equal(cgroup_mount_find(none, &mount, &err), -ENOENT);
	assert_null(mount);
	assert_string_equal(err.message, "/proc/self/mountinfo: no cgroup2 file system is mounted");
	assert_int_equal(cgroup_mount_find("", &mount, &err), -ENOENT);
}

static void test_relative_paths_checked(void **state)
{
	(void)state;
	struct ck_error err = {0};
	assert_int_equal(cgroup_relative_check("ckube", false, &err), 0);
	assert_int_equal(cgroup_relative_check("burstable/pod-1/app", false, &err), 0);
	assert_int_equal(cgroup_relative_check("", true, &err), 0);
	const char *bad[] = {"", "/abs", "a//b", "a/", "..", "a/../b", ".", "a/./b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cgroup_relative_check(bad[i], false, &err) != -EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_non_null(strstr(err.message, "must be a plain name"));
	}
	assert_int_equal(cgroup_relative_check(NULL, true, &err), -EINVAL);
	char long_name[300];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(cgroup_relative_check(long_name, false, &err), -EINVAL);
}

static void test_keyed_files_parsed(void **state)
{
	(void)state;
	int64_t value = 0;
	const char *stat = "usage_usec 123456\nuser_usec 100\nsystem_usec 23456\n";
	assert_int_equal(cgroup_parse_key(stat, "usage_usec", &value), 0);
	assert_int_equal(value, 123456);
	assert_int_equal(cgroup_parse_key(stat, "system_usec", &value), 0);
	assert_int_equal(value, 23456);
	/* "oom" must not match "oom_kill", nor a key that is only a prefix of a line's key. */
	const char *events = "low 0\nhigh 0\nmax 3\noom_kill 2\noom 1\n";
	assert_int_equal(cgroup_parse_key(events, "oom", &value), 0);
	assert_int_equal(value, 1);
	assert_int_equal(cgroup_parse_key(events, "oom_kill", &value), 0);
	assert_int_equal(value, 2);
	assert_int_equal(cgroup_parse_key(events, "oom_group_kill", &value), -ENODATA);
	assert_int_equal(cgroup_parse_key("populated 1", "populated", &value), 0);
	assert_int_equal(value, 1);
	assert_int_equal(cgroup_parse_key("populated x\n", "populated", &value), -EINVAL);
	assert_int_equal(cgroup_parse_key("", "populated", &value), -ENODATA);
}

static void test_controller_names(void **state)
{
	(void)state;
	assert_int_equal(cgroup_controllers_parse("cpuset cpu io memory hugetlb pids rdma misc\n"),
			 CGROUP_CPU | CGROUP_MEMORY | CGROUP_PIDS | CGROUP_IO | CGROUP_CPUSET |
			     CGROUP_HUGETLB);
	assert_int_equal(cgroup_controllers_parse("hugetlb\n"), CGROUP_HUGETLB);
	assert_int_equal(cgroup_controllers_parse("cpuset\n"), CGROUP_CPUSET);
	assert_int_equal(cgroup_controllers_parse("\n"), 0);
	assert_string_equal(cgroup_controller_name(CGROUP_PIDS), "pids");
	_cleanup_buf_ struct buf text = {0};
	cgroup_controllers_describe(CGROUP_CPU | CGROUP_MEMORY | CGROUP_PIDS, &text);
	buf_puts(&text, "|");
	cgroup_controllers_describe(CGROUP_MEMORY | CGROUP_PIDS, &text);
	buf_puts(&text, "|");
	cgroup_controllers_describe(CGROUP_CPU, &text);
	assert_string_equal(text.data, "cpu, memory and pids|memory and pids|cpu");
}

/* ---- against the real mount, as root ---- */

static int root_setup(void **state)
{
	static struct cgroup_root root;
	*state = NULL;
	char name[64];
	snprintf(name, sizeof(name), "ckube-test-%d", (int)getpid());
	struct ck_error err = {0};
	if (geteuid() != 0 || cgroup_root_open(name, &root, &err) < 0) {
		if (geteuid() == 0)
			print_message("cgroup tests skipped: %s\n", err.message);
		return 0;
	}
	*state = &root;
	return 0;
}

static void reap_children(void)
{
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
}

static int root_teardown(void **state)
{
	struct cgroup_root *root = *state;
	if (!root)
		return 0;
	struct ck_error err = {0};
	int rc = cgroup_remove(root, "", true, &err);
	reap_children();
	char path[4096];
	snprintf(path, sizeof(path), "%s", root->path);
	cgroup_root_close(root);
	if (rc < 0 || access(path, F_OK) == 0) {
		print_error("teardown left %s: %s\n", path, err.message);
		return -1;
	}
	return 0;
}

static struct cgroup_root *need_root(void **state)
{
	if (!*state)
		skip();
	return *state;
}

static void spin(void)
{
	for (volatile unsigned long n = 0;; n++)
		;
}

/* A busy child placed into the cgroup as it is created, as the runtime does; where clone3 is
 * unavailable (valgrind emulates only clone), forked and moved there. */
static pid_t start_spinner(int dirfd)
{
	struct clone_args args = {
	    .flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)dirfd};
	long pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0)
		spin();
	if (pid > 0)
		return (pid_t)pid;
	assert_int_equal(errno, ENOSYS);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		spin();
	struct ck_error err = {0};
	if (cgroup_attach(dirfd, (pid_t)pid, &err) < 0) {
		kill((pid_t)pid, SIGKILL);
		waitpid((pid_t)pid, NULL, 0);
		fail_msg("attach: %s", err.message);
	}
	return (pid_t)pid;
}

static void assert_killed(pid_t pid)
{
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

static struct cgroup_stats stats_of(int dirfd)
{
	struct cgroup_stats stats;
	struct ck_error err = {0};
	if (cgroup_stats_read(dirfd, &stats, &err) < 0)
		fail_msg("stats: %s", err.message);
	return stats;
}

static void wait_event(int dirfd, const char *key, int64_t value)
{
	struct ck_error err = {0};
	if (cgroup_wait_event(dirfd, key, value, WAIT_MS, &err) < 0)
		fail_msg("waiting for %s %lld: %s", key, (long long)value, err.message);
}

static unsigned controllers_of(int dirfd)
{
	_cleanup_free_ char *text = NULL;
	assert_int_equal(cgroup_read_file(dirfd, "cgroup.controllers", &text, NULL), 0);
	return cgroup_controllers_parse(text);
}

static int create(struct cgroup_root *root, const char *relative)
{
	int dirfd = -1;
	struct ck_error err = {0};
	if (cgroup_create(root, relative, &dirfd, &err) < 0)
		fail_msg("create %s: %s", relative, err.message);
	return dirfd;
}

static bool exists(struct cgroup_root *root, const char *relative)
{
	return faccessat(root->dirfd, relative, F_OK, 0) == 0;
}

static void test_root_on_the_cgroup2_mount(void **state)
{
	struct cgroup_root *root = need_root(state);
	struct statfs fs;
	assert_int_equal(statfs(root->mount, &fs), 0);
	assert_true(fs.f_type == CGROUP2_SUPER_MAGIC);
	char expected[4096];
	snprintf(expected, sizeof(expected), "%s/ckube-test-%d", root->mount, (int)getpid());
	assert_string_equal(root->path, expected);
	struct stat by_path, by_fd;
	assert_int_equal(stat(root->path, &by_path), 0);
	assert_int_equal(fstat(root->dirfd, &by_fd), 0);
	assert_true(by_path.st_ino == by_fd.st_ino);

	_cleanup_close_ int mountfd = open(root->mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(mountfd >= 0);
	unsigned offered = controllers_of(mountfd);
	assert_int_equal(root->available & ~offered, 0);
	unsigned missing = LIMIT_CONTROLLERS & ~root->available;
	const char *text = cgroup_root_missing(root);
	if (!missing) {
		assert_null(text);
	} else {
		assert_non_null(text);
		for (unsigned bit = 1; bit <= CGROUP_PIDS; bit <<= 1)
			if (missing & bit)
				assert_non_null(strstr(text, cgroup_controller_name(bit)));
	}
	/* This host: cpu, memory and pids stay on cgroup v1, the v2 hierarchy has only hugetlb. */
	if (offered == CGROUP_HUGETLB) {
		char message[4096];
		snprintf(
		    message, sizeof(message),
		    "cpu, memory and pids limits are not enforced: the cgroup2 hierarchy at %s "
		    "offers only hugetlb",
		    root->mount);
		assert_string_equal(text, message);
	}

	/* Opening an existing root again adopts it. */
	struct cgroup_root again;
	struct ck_error err = {0};
	assert_int_equal(cgroup_root_open(strrchr(root->path, '/') + 1, &again, &err), 0);
	assert_string_equal(again.path, root->path);
	assert_int_equal(again.available, root->available);
	cgroup_root_close(&again);
	cgroup_root_close(&again);
}

static void test_container_lifecycle(void **state)
{
	struct cgroup_root *root = need_root(state);
	_cleanup_close_ int dirfd = create(root, "burstable/pod-1234/app");
	_cleanup_free_ char *events_path =
	    cgroup_file_path(root, "burstable/pod-1234/app", "cgroup.events");
	_cleanup_close_ int inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	assert_true(inotify >= 0);
	assert_true(inotify_add_watch(inotify, events_path, IN_MODIFY) >= 0);

	struct cgroup_stats idle = stats_of(dirfd);
	assert_false(idle.populated);
	assert_false(idle.frozen);

	pid_t pid = start_spinner(dirfd);
	struct cgroup_stats running = stats_of(dirfd);
	assert_true(running.populated);
	usleep(200 * 1000);
	struct cgroup_stats later = stats_of(dirfd);
	assert_true(later.cpu_usage_usec > running.cpu_usage_usec);
	/* The path to watch: the process's arrival changed cgroup.events. */
	struct pollfd watch = {.fd = inotify, .events = POLLIN};
	assert_int_equal(poll(&watch, 1, WAIT_MS), 1);

	/* Controller files that are missing read as -1, not as an error. */
	unsigned controllers = controllers_of(dirfd);
	if (!(controllers & CGROUP_MEMORY)) {
		assert_int_equal(later.memory_current, -1);
		assert_int_equal(later.memory_peak, -1);
		assert_int_equal(later.oom_kills, -1);
	} else {
		assert_true(later.memory_current > 0);
		assert_int_equal(later.oom_kills, 0);
	}
	if (!(controllers & CGROUP_PIDS))
		assert_int_equal(later.pids_current, -1);
	else
		assert_int_equal(later.pids_current, 1);

	struct ck_error err = {0};
	assert_int_equal(cgroup_freeze(dirfd, true, &err), 0);
	wait_event(dirfd, "frozen", 1);
	struct cgroup_stats frozen = stats_of(dirfd);
	assert_true(frozen.frozen);
	assert_true(frozen.populated);
	usleep(100 * 1000);
	assert_true(stats_of(dirfd).cpu_usage_usec == frozen.cpu_usage_usec);

	assert_int_equal(cgroup_freeze(dirfd, false, &err), 0);
	wait_event(dirfd, "frozen", 0);
	assert_false(stats_of(dirfd).frozen);

	while (read(inotify, (char[4096]){0}, 4096) > 0)
		;
	assert_int_equal(cgroup_kill(dirfd, &err), 0);
	wait_event(dirfd, "populated", 0);
	assert_false(stats_of(dirfd).populated);
	assert_int_equal(poll(&watch, 1, WAIT_MS), 1);
	assert_killed(pid);

	assert_int_equal(cgroup_remove(root, "burstable/pod-1234", false, &err), 0);
	assert_false(exists(root, "burstable/pod-1234"));
	assert_true(exists(root, "burstable"));
	/* Removing what is gone already is done. */
	assert_int_equal(cgroup_remove(root, "burstable/pod-1234", false, &err), 0);
}

static void test_kill_reaches_frozen_and_nested_processes(void **state)
{
	struct cgroup_root *root = need_root(state);
	_cleanup_close_ int pod = create(root, "besteffort/pod-7");
	_cleanup_close_ int first = create(root, "besteffort/pod-7/one");
	_cleanup_close_ int second = create(root, "besteffort/pod-7/two");
	pid_t one = start_spinner(first);
	pid_t two = start_spinner(second);
	struct ck_error err = {0};
	assert_int_equal(cgroup_freeze(pod, true, &err), 0);
	wait_event(pod, "frozen", 1);
	assert_true(stats_of(first).frozen);

	assert_int_equal(cgroup_kill(pod, &err), 0);
	wait_event(pod, "populated", 0);
	assert_killed(one);
	assert_killed(two);
	assert_int_equal(cgroup_remove(root, "besteffort/pod-7", false, &err), 0);
	assert_false(exists(root, "besteffort/pod-7"));
}

static void test_remove_refuses_busy_unless_forced(void **state)
{
	struct cgroup_root *root = need_root(state);
	_cleanup_close_ int dirfd = create(root, "guaranteed/pod-9/app");
	pid_t pid = start_spinner(dirfd);
	struct ck_error err = {0};
	assert_int_equal(cgroup_remove(root, "guaranteed/pod-9", false, &err), -EBUSY);
	assert_non_null(strstr(err.message, "guaranteed/pod-9"));
	assert_non_null(strstr(err.message, "still has processes"));
	assert_true(exists(root, "guaranteed/pod-9/app"));
	assert_true(stats_of(dirfd).populated);

	assert_int_equal(cgroup_remove(root, "guaranteed/pod-9", true, &err), 0);
	assert_false(exists(root, "guaranteed/pod-9"));
	assert_killed(pid);
}

static void test_limits_on_this_hierarchy(void **state)
{
	struct cgroup_root *root = need_root(state);
	_cleanup_close_ int dirfd = create(root, "guaranteed/pod-5/app");
	struct cgroup_limits limits;
	cgroup_limits_from_resources(&(struct cgroup_resources){1000, 1000, 64 << 20, 64 << 20, 512,
								.guaranteed = true,
								.container = true},
				     &limits);
	unsigned not_enforced = 0;
	struct ck_error err = {0};
	assert_int_equal(cgroup_apply_limits(dirfd, &limits, &not_enforced, &err), 0);
	/* Whatever the hierarchy lacks is reported, the rest is written. */
	unsigned controllers = controllers_of(dirfd);
	assert_int_equal(not_enforced, LIMIT_CONTROLLERS & ~controllers);
	struct {
		const char *file;
		unsigned controller;
		const char *content;
	} expected[] = {
	    {"cpu.weight", CGROUP_CPU, "39\n"},
	    {"cpu.max", CGROUP_CPU, "100000 100000\n"},
	    {"memory.max", CGROUP_MEMORY, "67108864\n"},
	    {"memory.min", CGROUP_MEMORY, "67108864\n"},
	    {"memory.oom.group", CGROUP_MEMORY, "1\n"},
	    {"pids.max", CGROUP_PIDS, "512\n"},
	};
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		if (!(controllers & expected[i].controller))
			continue;
		_cleanup_free_ char *content = NULL;
		assert_int_equal(cgroup_read_file(dirfd, expected[i].file, &content, &err), 0);
		assert_string_equal(content, expected[i].content);
	}
	/* Impossible values are refused with the file named, hierarchy or not. */
	limits.pids_max = 1 << 30;
	assert_int_equal(cgroup_apply_limits(dirfd, &limits, &not_enforced, &err), -EINVAL);
	assert_non_null(strstr(err.message, "pids.max"));

	/* Limits alone never stop a container on a hierarchy without them. */
	pid_t pid = start_spinner(dirfd);
	assert_true(stats_of(dirfd).populated);
	assert_int_equal(cgroup_kill(dirfd, &err), 0);
	assert_killed(pid);
}

static void test_removed_cgroup_reported_as_gone(void **state)
{
	struct cgroup_root *root = need_root(state);
	_cleanup_close_ int dirfd = create(root, "burstable/pod-gone/app");
	struct ck_error err = {0};
	assert_int_equal(cgroup_remove(root, "burstable/pod-gone", false, &err), 0);

	struct cgroup_stats stats;
	assert_int_equal(cgroup_stats_read(dirfd, &stats, &err), -ENOENT);
	assert_non_null(strstr(err.message, "cgroup.events"));
	struct cgroup_limits limits = {39, -1, 100000, -1, -1, -1, false};
	unsigned not_enforced;
	assert_int_equal(cgroup_apply_limits(dirfd, &limits, &not_enforced, &err), -ENOENT);
	assert_int_equal(cgroup_freeze(dirfd, true, &err), -ENOENT);
	assert_int_equal(cgroup_kill(dirfd, &err), 0);
	assert_int_equal(cgroup_attach(dirfd, getpid(), &err), -ENOENT);
}

static void test_attach_running_and_exited_processes(void **state)
{
	struct cgroup_root *root = need_root(state);
	_cleanup_close_ int dirfd = create(root, "besteffort/pod-a/app");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	struct ck_error err = {0};
	assert_int_equal(cgroup_attach(dirfd, pid, &err), -ESRCH);
	assert_non_null(strstr(err.message, "cgroup.procs"));
	assert_false(stats_of(dirfd).populated);
}

static void test_bad_paths_create_nothing(void **state)
{
	struct cgroup_root *root = need_root(state);
	const char *bad[] = {"../escape", "/abs", "a//b", "", ".", "pod/.."};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int dirfd = -1;
		struct ck_error err = {0};
		assert_int_equal(cgroup_create(root, bad[i], &dirfd, &err), -EINVAL);
		assert_int_equal(dirfd, -1);
		assert_int_equal(cgroup_remove(root, bad[i][0] ? bad[i] : "..", false, &err),
				 -EINVAL);
		assert_null(cgroup_file_path(root, bad[i][0] ? bad[i] : "..", "cgroup.events"));
	}
	char escape[4096];
	snprintf(escape, sizeof(escape), "%s/../escape", root->path);
	assert_int_equal(access(escape, F_OK), -1);
	assert_null(cgroup_file_path(root, "pod", "../cgroup.events"));
	assert_null(cgroup_file_path(root, "pod", ""));
	_cleanup_free_ char *own = cgroup_file_path(root, "", "cgroup.procs");
	char expected[4096];
	snprintf(expected, sizeof(expected), "%s/cgroup.procs", root->path);
	assert_string_equal(own, expected);
}

int main(void)
{
	const struct CMUnitTest parsing[] = {
	    cmocka_unit_test(test_mount_found_in_mountinfo),
	    cmocka_unit_test(test_relative_paths_checked),
	    cmocka_unit_test(test_keyed_files_parsed),
	    cmocka_unit_test(test_controller_names),
	};
	const struct CMUnitTest on_host[] = {
	    cmocka_unit_test_setup_teardown(test_root_on_the_cgroup2_mount, root_setup,
					    root_teardown),
	    cmocka_unit_test_setup_teardown(test_container_lifecycle, root_setup, root_teardown),
	    cmocka_unit_test_setup_teardown(test_kill_reaches_frozen_and_nested_processes,
					    root_setup, root_teardown),
	    cmocka_unit_test_setup_teardown(test_remove_refuses_busy_unless_forced, root_setup,
					    root_teardown),
	    cmocka_unit_test_setup_teardown(test_limits_on_this_hierarchy, root_setup,
					    root_teardown),
	    cmocka_unit_test_setup_teardown(test_removed_cgroup_reported_as_gone, root_setup,
					    root_teardown),
	    cmocka_unit_test_setup_teardown(test_attach_running_and_exited_processes, root_setup,
					    root_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_paths_create_nothing, root_setup,
					    root_teardown),
	};
	int failed = cmocka_run_group_tests(parsing, NULL, NULL);
	return failed + cmocka_run_group_tests(on_host, NULL, NULL);
}
