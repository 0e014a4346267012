/* Network namespaces kept as files: see netns_file.h. */
#include "netns/netns_file.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "lib/cleanup.h"

static bool pinned(const char *path)
{
	struct statfs fs;

	return statfs(path, &fs) == 0 && fs.f_type == NSFS_MAGIC;
}

static int loopback_up(struct ck_error *err)
{
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq request = {.ifr_name = "lo"};

	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &request) < 0)
		return ck_error_errno(err, errno, "loopback");
	request.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &request) < 0)
		return ck_error_errno(err, errno, "bring the loopback up");
	return 0;
}

/* In the new namespace (the calling thread's now): pin it and bring its loopback up. */
static int pin_here(const char *path, struct ck_error *err)
{
	_cleanup_close_ int file = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0444);

	if (file < 0)
		return ck_error_errno(err, errno, "create %s", path);
	if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0) {
		int saved = errno;
		unlink(path);
		return ck_error_errno(err, saved, "pin the network namespace at %s", path);
	}
	return loopback_up(err);
}

int netns_file_open_or_create(const char *path, struct ck_error *err)
{
	_cleanup_close_ int own = -1;
	int r;

	if (pinned(path)) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		return fd < 0 ? ck_error_errno(err, errno, "open %s", path) : fd;
	}
	own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (own < 0)
		return ck_error_errno(err, errno, "open this thread's network namespace");
	if (unshare(CLONE_NEWNET) < 0)
		return ck_error_errno(err, errno, "create a network namespace");
	r = pin_here(path, err);
	/* The thread must not stay in the new namespace, whatever happened. */
	if (setns(own, CLONE_NEWNET) < 0)
		abort();
	if (r < 0) {
		netns_file_remove(path, NULL);
		return r;
	}
	r = open(path, O_RDONLY | O_CLOEXEC);
	return r < 0 ? ck_error_errno(err, errno, "open %s", path) : r;
}

int netns_file_remove(const char *path, struct ck_error *err)
{
	while (pinned(path))
		if (umount2(path, MNT_DETACH) < 0)
			return ck_error_errno(err, errno, "unpin %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return ck_error_errno(err, errno, "remove %s", path);
	return 0;
}
