/* The processes of a cgroup: moving one in, freezing, killing, and waiting for the kernel to
 * report the result in cgroup.events. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "cgroup/cgroup_internal.h"
#include "lib/cleanup.h"

int cgroup_attach(int dirfd, pid_t pid, struct ck_error *err)
{
	char text[24];
	snprintf(text, sizeof(text), "%d", (int)pid);
	return cgroup_write_file(dirfd, "cgroup.procs", text, err);
}

int cgroup_freeze(int dirfd, bool frozen, struct ck_error *err)
{
	return cgroup_write_file(dirfd, "cgroup.freeze", frozen ? "1" : "0", err);
}

int cgroup_kill(int dirfd, struct ck_error *err)
{
	int rc = cgroup_write_file(dirfd, "cgroup.kill", "1", err);
	if (rc != -ENOENT)
		return rc;
	/* A removed cgroup has nothing left to kill; one that lacks only cgroup.kill runs on a
	 * kernel older than the file. */
	if (faccessat(dirfd, "cgroup.procs", F_OK, 0) < 0 && (errno == ENOENT || errno == ENODEV))
		return 0;
	ck_error_prefix(err, "cgroup.kill needs Linux 5.14 or later");
	return rc;
}

static int64_t now_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int cgroup_wait_event(int dirfd, const char *key, int64_t value, int timeout_ms,
		      struct ck_error *err)
{
	_cleanup_close_ int fd = openat(dirfd, "cgroup.events", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ck_error_errno(err, errno == ENODEV ? ENOENT : errno, "cgroup.events: open");
	int64_t deadline = now_ms() + timeout_ms;
	for (;;) {
		/* Each read arms the next change notification, so a change between this read and
		 * the poll below still wakes it. */
		char text[256];
		ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
		if (n < 0)
			return ck_error_errno(err, errno == ENODEV ? ENOENT : errno,
					      "cgroup.events: read");
		text[n] = '\0';
		int64_t current;
		if (cgroup_parse_key(text, key, &current) < 0)
			return ck_error_set(err, ENODATA, "cgroup.events: no \"%s\" line", key);
		if (current == value)
			return 0;
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return ck_error_set(err, ETIMEDOUT,
					    "cgroup.events: still \"%s %lld\" after %d ms", key,
					    (long long)current, timeout_ms);
		struct pollfd change = {.fd = fd, .events = POLLPRI};
		if (poll(&change, 1, (int)left) < 0 && errno != EINTR)
			return ck_error_errno(err, errno, "cgroup.events: poll");
	}
}
