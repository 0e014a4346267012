/* Removing a cgroup and the cgroups below it, deepest first: the kernel refuses to remove a
 * cgroup that still has children or processes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cgroup/cgroup_internal.h"
#include "lib/cleanup.h"

static void closedirp(DIR **dir)
{
	if (*dir)
		closedir(*dir);
}

static bool gone(int code)
{
	return code == ENOENT || code == ENODEV;
}

static int remove_dir(int parentfd, const char *name, struct ck_error *err)
{
	if (unlinkat(parentfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
		return 0;
	if (errno == EBUSY)
		return ck_error_set(err, EBUSY, "rmdir %s: the cgroup still has processes", name);
	return ck_error_errno(err, errno, "rmdir %s", name);
}

static int remove_tree(int parentfd, const char *name, struct ck_error *err);

static int remove_children(int dirfd, struct ck_error *err)
{
	int listfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (listfd < 0)
		return gone(errno) ? 0 : ck_error_errno(err, errno, "list the cgroups below");
	_cleanup_(closedirp) DIR *dir = fdopendir(listfd);
	if (!dir) {
		int code = errno;
		close(listfd);
		return ck_error_errno(err, code, "list the cgroups below");
	}
	for (;;) {
		errno = 0;
		struct dirent *entry = readdir(dir);
		if (!entry)
			break;
		if (entry->d_type != DT_DIR || strcmp(entry->d_name, ".") == 0 ||
		    strcmp(entry->d_name, "..") == 0)
			continue;
		int rc = remove_tree(dirfd, entry->d_name, err);
		if (rc < 0)
			return rc;
	}
	if (errno && !gone(errno))
		return ck_error_errno(err, errno, "list the cgroups below");
	return 0;
}

static int remove_tree(int parentfd, const char *name, struct ck_error *err)
{
	_cleanup_close_ int dirfd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return gone(errno) ? 0 : ck_error_errno(err, errno, "open %s", name);
	int rc = remove_children(dirfd, err);
	if (rc < 0)
		return rc;
	return remove_dir(parentfd, name, err);
}

static int kill_and_wait(int parentfd, const char *name, struct ck_error *err)
{
	_cleanup_close_ int dirfd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return gone(errno) ? 0 : ck_error_errno(err, errno, "open %s", name);
	int rc = cgroup_kill(dirfd, err);
	if (rc == 0)
		rc = cgroup_wait_event(dirfd, "populated", 0, CGROUP_KILL_TIMEOUT_MS, err);
	return rc == -ENOENT ? 0 : rc;
}

int cgroup_remove(const struct cgroup_root *root, const char *relative, bool force,
		  struct ck_error *err)
{
	int rc = cgroup_relative_check(relative, true, err);
	if (rc < 0)
		return rc;
	/* The root itself is named by its absolute path: its parent is not kept open. */
	int parentfd = *relative ? root->dirfd : AT_FDCWD;
	const char *name = *relative ? relative : root->path;
	if (force)
		rc = kill_and_wait(parentfd, name, err);
	if (rc == 0)
		rc = remove_tree(parentfd, name, err);
	if (rc < 0)
		ck_error_prefix(err, "remove cgroup %s%s%s", root->path, *relative ? "/" : "",
				relative);
	return rc;
}
