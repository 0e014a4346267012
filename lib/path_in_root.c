#include "lib/path_in_root.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/cleanup.h"

/* The kernel's own bound (MAXSYMLINKS). */
#define MAX_SYMLINKS 40

/* Set once openat2() answered ENOSYS, so that the walk is taken straight away after. */
static int openat2_missing;

/* What RESOLVE_IN_ROOT does, one component at a time: ".." stops at the root, absolute
 * symlinks restart from it. `pending` holds what is left to walk, symlink targets spliced in
 * front of it. */
static int walk_in_root(int root_fd, const char *path, int flags)
{
	char pending[2 * PATH_MAX];
	if (strlen(path) >= sizeof(pending))
		return -ENAMETOOLONG;
	strcpy(pending, path);
	struct stat root_st, st;
	if (fstat(root_fd, &root_st) < 0)
		return -errno;
	_cleanup_close_ int dir = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
	if (dir < 0)
		return -errno;
	int links = 0;
	for (char *p = pending;;) {
		while (*p == '/')
			p++;
		if (!*p) {
			int fd = openat(dir, ".", flags | O_CLOEXEC);
			return fd < 0 ? -errno : fd;
		}
		char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n > NAME_MAX)
			return -ENAMETOOLONG;
		char name[NAME_MAX + 1];
		memcpy(name, p, n);
		name[n] = '\0';
		p = end;
		bool last = p[strspn(p, "/")] == '\0';
		if (strcmp(name, ".") == 0)
			continue;
		int next;
		if (strcmp(name, "..") == 0) {
			if (fstat(dir, &st) < 0)
				return -errno;
			if (st.st_dev == root_st.st_dev && st.st_ino == root_st.st_ino)
				continue;
			next = openat(dir, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		} else if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			return -errno;
		} else if (S_ISLNK(st.st_mode) && !(last && (flags & O_NOFOLLOW))) {
			char target[PATH_MAX];
			ssize_t len = readlinkat(dir, name, target, sizeof(target));
			if (len < 0)
				return -errno;
			if (++links > MAX_SYMLINKS)
				return -ELOOP;
			size_t rest = strlen(p);
			if ((size_t)len + 1 + rest >= sizeof(pending))
				return -ENAMETOOLONG;
			memmove(pending + len + 1, p, rest + 1);
			memcpy(pending, target, (size_t)len);
			pending[len] = '/';
			p = pending;
			if (target[0] != '/')
				continue;
			next = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
		} else if (last) {
			int fd = openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC);
			return fd < 0 ? -errno : fd;
		} else {
			next = openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0)
			return -errno;
		close(dir);
		dir = next;
	}
}

int path_open_in_root(int root_fd, const char *path, int flags)
{
	if (!__atomic_load_n(&openat2_missing, __ATOMIC_RELAXED)) {
		struct open_how how = {
		    .flags = (uint64_t)(flags | O_CLOEXEC),
		    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
		};
		long fd = syscall(SYS_openat2, root_fd, *path ? path : ".", &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno != ENOSYS)
			return -errno;
		__atomic_store_n(&openat2_missing, 1, __ATOMIC_RELAXED);
	}
	int fd = walk_in_root(root_fd, path, flags);
	/* The cleanup of the walk's descriptor may have changed errno since. */
	if (fd < 0)
		errno = -fd;
	return fd;
}

int path_open_child(int dir_fd, const char *name, int flags, mode_t mode)
{
	int fd = openat(dir_fd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	return fd < 0 ? -errno : fd;
}
