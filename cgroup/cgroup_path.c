/* Paths below the root: checking them, creating their directories, naming their files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup/cgroup_internal.h"
#include "lib/buf.h"
#include "lib/cleanup.h"

/* A file or directory name: not empty, not "." or "..", no '/'. */
static bool plain_name(const char *name, size_t len)
{
	return len > 0 && len <= NAME_MAX && memchr(name, '/', len) == NULL &&
	       !(len == 1 && name[0] == '.') && !(len == 2 && name[0] == '.' && name[1] == '.');
}

int cgroup_relative_check(const char *relative, bool allow_empty, struct ck_error *err)
{
	if (!relative)
		return ck_error_set(err, EINVAL, "no cgroup path given");
	if (!*relative && allow_empty)
		return 0;
	if (strlen(relative) >= PATH_MAX)
		return ck_error_set(err, ENAMETOOLONG, "cgroup path \"%.64s...\": too long",
				    relative);
	const char *name = relative;
	for (;;) {
		size_t len = strcspn(name, "/");
		if (!plain_name(name, len))
			return ck_error_set(err, EINVAL,
					    "cgroup path \"%s\": each part must be a plain name "
					    "below the root (not empty, \".\" or \"..\")",
					    relative);
		if (!name[len])
			return 0;
		name += len + 1;
	}
}

int cgroup_mkdir_path(int basefd, const char *relative, bool leaf, int *dirfd, struct ck_error *err)
{
	_cleanup_close_ int current = openat(basefd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (current < 0)
		return ck_error_errno(err, errno, "open the parent of %s", relative);
	const char *name = relative;
	unsigned enabled;
	for (;;) {
		int rc =
		    cgroup_enable_controllers(current, CGROUP_ENABLED_CONTROLLERS, &enabled, err);
		if (rc < 0)
			return rc;
		size_t len = strcspn(name, "/");
		char part[NAME_MAX + 1];
		memcpy(part, name, len);
		part[len] = '\0';
		if (mkdirat(current, part, 0755) < 0 && errno != EEXIST)
			return ck_error_errno(err, errno, "mkdir %s", part);
		int child = openat(current, part, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (child < 0)
			return ck_error_errno(err, errno, "open %s", part);
		close(current);
		current = child;
		if (!name[len])
			break;
		name += len + 1;
	}
	if (!leaf) {
		int rc =
		    cgroup_enable_controllers(current, CGROUP_ENABLED_CONTROLLERS, &enabled, err);
		if (rc < 0)
			return rc;
	}
	*dirfd = steal_fd(&current);
	return 0;
}

int cgroup_create(const struct cgroup_root *root, const char *relative, int *dirfd,
		  struct ck_error *err)
{
	int rc = cgroup_relative_check(relative, false, err);
	if (rc == 0)
		rc = cgroup_mkdir_path(root->dirfd, relative, true, dirfd, err);
	if (rc < 0)
		ck_error_prefix(err, "create cgroup %s/%s", root->path,
				relative ? relative : "(null)");
	return rc;
}

char *cgroup_file_path(const struct cgroup_root *root, const char *relative, const char *file)
{
	if (cgroup_relative_check(relative, true, NULL) < 0 || !file ||
	    !plain_name(file, strlen(file)))
		return NULL;
	struct buf path = {0};
	buf_printf(&path, "%s/%s%s%s", root->path, relative, *relative ? "/" : "", file);
	return buf_steal(&path);
}
