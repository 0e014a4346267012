/* Namespaces a pod holds as files: see pod_namespaces.h. */
#include "runtime/pod_namespaces.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fsutil.h"

static const struct {
	const char *name;
	int flag;
} kinds[] = {{"net", CLONE_NEWNET}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}};

#define KIND_COUNT (sizeof(kinds) / sizeof(kinds[0]))

static bool pinned(const char *path)
{
	struct statfs fs;

	return statfs(path, &fs) == 0 && fs.f_type == NSFS_MAGIC;
}

static bool wanted(const struct pod_namespaces_request *request, size_t kind)
{
	if (kinds[kind].flag == CLONE_NEWNET)
		return !request->host_network;
	if (kinds[kind].flag == CLONE_NEWIPC)
		return !request->host_ipc;
	return true;
}

/* The child that owns the new namespaces until they are pinned: it names the host, brings the
 * loopback up, says so, and waits for the parent to be done. System calls only (the agent is
 * threaded). */
static void hold_namespaces(const char *hostname, bool new_net, int ready_fd, int done_fd)
{
	char status = 0;

	if (sethostname(hostname, strlen(hostname)) < 0)
		status = 1;
	if (new_net && status == 0) {
		struct ifreq ifr = {0};
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		strcpy(ifr.ifr_name, "lo");
		if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
			status = 2;
		ifr.ifr_flags |= IFF_UP;
		if (status == 0 && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			status = 2;
	}
	(void)!write(ready_fd, &status, 1);
	(void)!read(done_fd, &status, 1);
	_exit(0);
}

static int pin(pid_t pid, const char *dir, const char *name, struct ck_error *err)
{
	char source[64], target[4096];
	int fd;

	snprintf(source, sizeof(source), "/proc/%d/ns/%s", (int)pid, name);
	snprintf(target, sizeof(target), "%s/%s", dir, name);
	fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0444);
	if (fd < 0)
		return ck_error_errno(err, errno, "create %s", target);
	close(fd);
	if (mount(source, target, NULL, MS_BIND, NULL) < 0)
		return ck_error_errno(err, errno, "pin the %s namespace at %s", name, target);
	return 0;
}

static int spawn_holder(int flags, const struct pod_namespaces_request *request, int ready[2],
			int done[2], struct ck_error *err)
{
	struct clone_args args = {.flags = (uint64_t)flags, .exit_signal = SIGCHLD};
	pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));

	if (pid < 0)
		return ck_error_errno(err, errno, "create namespaces");
	if (pid == 0) {
		close(ready[0]);
		close(done[1]);
		hold_namespaces(request->hostname, flags & CLONE_NEWNET, ready[1], done[0]);
	}
	return pid;
}

int pod_namespaces_create(const struct pod_namespaces_request *request, struct ck_error *err)
{
	int ready[2] = {-1, -1}, done[2] = {-1, -1};
	int flags = 0, r;
	char status = 1;
	pid_t pid;

	r = fs_mkdir_p(request->dir, 0700, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < KIND_COUNT; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", request->dir, kinds[i].name);
		if (wanted(request, i) && !pinned(path))
			flags |= kinds[i].flag;
	}
	if (!flags)
		return 0; /* all there: an agent restart */
	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(done, O_CLOEXEC) < 0) {
		r = ck_error_errno(err, errno, "pipe");
		goto out;
	}
	pid = r = spawn_holder(flags, request, ready, done, err);
	if (r < 0)
		goto out;
	close(steal_fd(&ready[1]));
	close(steal_fd(&done[0]));
	if (read(ready[0], &status, 1) != 1 || status != 0)
		r = ck_error_set(err, EIO, "set up the pod's namespaces (%s)",
				 status == 1 ? "hostname" : "loopback");
	for (size_t i = 0; r >= 0 && i < KIND_COUNT; i++)
		if (flags & kinds[i].flag)
			r = pin(pid, request->dir, kinds[i].name, err);
	close(steal_fd(&done[1]));
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
out:
	for (int i = 0; i < 2; i++) {
		if (ready[i] >= 0)
			close(ready[i]);
		if (done[i] >= 0)
			close(done[i]);
	}
	if (r < 0) {
		pod_namespaces_remove(request->dir, NULL);
		return r;
	}
	return 0;
}

int pod_namespaces_open(const char *dir, const char *name, struct ck_error *err)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!pinned(path))
		return ck_error_set(err, ENOENT, "no %s namespace pinned at %s", name, path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd >= 0 ? fd : ck_error_errno(err, errno, "open %s", path);
}

int pod_namespaces_remove(const char *dir, struct ck_error *err)
{
	int r = 0;

	for (size_t i = 0; i < KIND_COUNT; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", dir, kinds[i].name);
		while (pinned(path) && umount2(path, MNT_DETACH) == 0)
			; /* pinned twice by a race of two agents: both go */
		if (unlink(path) < 0 && errno != ENOENT && r == 0)
			r = ck_error_errno(err, errno, "remove %s", path);
	}
	if (rmdir(dir) < 0 && errno != ENOENT && r == 0)
		r = ck_error_errno(err, errno, "remove %s", dir);
	return r;
}
