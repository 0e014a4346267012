/* hostPath volumes: see host_path.h. */
#include "volume/host_path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fsutil.h"

static int type_mismatch(const char *path, const char *what, struct ck_error *err)
{
	return ck_error_set(err, EINVAL, "hostPath type check failed: %s is not %s", path, what);
}

static int create_missing(const struct host_path_policy *policy, const char *path, bool directory,
			  struct ck_error *err);

static int check_type(const struct host_path_policy *policy, const char *path,
		      enum host_path_type type, struct ck_error *err)
{
	const bool create =
	    type == HOST_PATH_DIRECTORY_OR_CREATE || type == HOST_PATH_FILE_OR_CREATE;
	struct stat st;
	bool exists;
	int r;

	if (type == HOST_PATH_UNSET)
		return 0;
	exists = stat(path, &st) == 0;
	if (!exists && errno != ENOENT)
		return ck_error_errno(err, errno, "hostPath type check: %s", path);
	if (!exists && create) {
		r = create_missing(policy, path, type == HOST_PATH_DIRECTORY_OR_CREATE, err);
		if (r < 0)
			return r;
		if (stat(path, &st) < 0)
			return ck_error_errno(err, errno, "hostPath: %s", path);
		exists = true;
	}
	switch (type) {
	case HOST_PATH_DIRECTORY_OR_CREATE:
	case HOST_PATH_DIRECTORY:
		return exists && S_ISDIR(st.st_mode) ? 0 : type_mismatch(path, "a directory", err);
	case HOST_PATH_FILE_OR_CREATE:
	case HOST_PATH_FILE:
		return exists && S_ISREG(st.st_mode) ? 0 : type_mismatch(path, "a file", err);
	case HOST_PATH_SOCKET:
		return exists && S_ISSOCK(st.st_mode) ? 0
						      : type_mismatch(path, "a socket file", err);
	case HOST_PATH_CHAR_DEVICE:
		return exists && S_ISCHR(st.st_mode)
			   ? 0
			   : type_mismatch(path, "a character device", err);
	case HOST_PATH_BLOCK_DEVICE:
		return exists && S_ISBLK(st.st_mode) ? 0
						     : type_mismatch(path, "a block device", err);
	case HOST_PATH_UNSET:
		break;
	}
	return 0;
}

bool host_path_has_prefix(const char *path, const char *prefix)
{
	size_t len = strlen(prefix);

	while (len > 1 && prefix[len - 1] == '/')
		len--;
	if (len == 1 && prefix[0] == '/')
		return path[0] == '/';
	return strncmp(path, prefix, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

/* The rule allowing `path`, or NULL. */
static const struct host_path_rule *rule_for(const struct host_path_policy *policy,
					     const char *path)
{
	for (size_t i = 0; i < policy->count; i++)
		if (host_path_has_prefix(path, policy->rules[i].prefix))
			return &policy->rules[i];
	return NULL;
}

/* The rule allowing `resolved`, a path with every symlink resolved: a prefix matches as
 * written or as resolved itself, so that a prefix behind a symlink (/var/lib -> /srv/lib)
 * still allows what lies under it. */
static const struct host_path_rule *rule_for_resolved(const struct host_path_policy *policy,
						      const char *resolved)
{
	for (size_t i = 0; i < policy->count; i++) {
		char real[PATH_MAX];

		if (host_path_has_prefix(resolved, policy->rules[i].prefix) ||
		    (realpath(policy->rules[i].prefix, real) &&
		     host_path_has_prefix(resolved, real)))
			return &policy->rules[i];
	}
	return NULL;
}

/* Opens the deepest directory of `path` that exists (following symlinks, as a lookup of the
 * path would); *rest points at what is missing below it. */
static int open_deepest(const char *path, const char **rest, struct ck_error *err)
{
	char ancestor[PATH_MAX];

	snprintf(ancestor, sizeof(ancestor), "%s", path);
	for (;;) {
		char *slash = strrchr(ancestor, '/');
		int fd;

		if (slash == ancestor)
			slash[1] = '\0';
		else
			*slash = '\0';
		fd = open(ancestor, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			*rest = path + (slash - ancestor) + 1;
			return fd;
		}
		if (errno != ENOENT || slash == ancestor)
			return ck_error_errno(err, errno, "hostPath: %s", ancestor);
	}
}

/* What DirectoryOrCreate (with the missing parents, as os.MkdirAll) and FileOrCreate (the
 * parent must exist) make: one name at a time below the deepest directory that exists, never
 * through a symlink, and with an allow-list only where that directory, resolved, lets the new
 * path be. Otherwise a symlink planted in an allowed directory would have the node make files
 * anywhere. */
static int create_missing(const struct host_path_policy *policy, const char *path, bool directory,
			  struct ck_error *err)
{
	char resolved[PATH_MAX], target[PATH_MAX];
	_cleanup_close_ int dir_fd = -1;
	const char *rest = "";
	int r;

	dir_fd = open_deepest(path, &rest, err);
	if (dir_fd < 0)
		return dir_fd;
	if (policy->count > 0) {
		r = fs_fd_path(dir_fd, resolved);
		if (r < 0)
			return ck_error_errno(err, -r, "hostPath %s: resolve", path);
		snprintf(target, sizeof(target), "%s/%s", strcmp(resolved, "/") ? resolved : "",
			 rest);
		if (!rule_for_resolved(policy, target))
			return ck_error_set(err, EPERM,
					    "hostPath %s leads to %s, which is not allowed on this "
					    "node (allowedHostPaths)",
					    path, target);
	}
	if (!directory && strchr(rest, '/'))
		return ck_error_errno(err, ENOENT, "hostPath: create file %s", path);
	for (const char *name = rest; *name;) {
		size_t len = strcspn(name, "/");
		char component[NAME_MAX + 1];
		int next;

		snprintf(component, sizeof(component), "%.*s", (int)len, name);
		name += len + (name[len] == '/');
		if (!directory && !*name) {
			next = openat(
			    dir_fd, component,
			    O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0644);
			if (next < 0)
				return ck_error_errno(err, errno, "hostPath: create file %s", path);
			close(next);
			return 0;
		}
		if (mkdirat(dir_fd, component, 0755) < 0 && errno != EEXIST)
			return ck_error_errno(err, errno, "hostPath: create directory %s", path);
		next = openat(dir_fd, component, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			return ck_error_errno(err, errno, "hostPath: create directory %s", path);
		close(dir_fd);
		dir_fd = next;
	}
	return 0;
}

/* `path` without "." elements, repeated or trailing slashes; ".." is refused (the API
 * refuses it too). */
static int clean(const char *path, char out[PATH_MAX], struct ck_error *err)
{
	size_t n = 0;

	for (const char *p = path; *p;) {
		size_t len;

		while (*p == '/')
			p++;
		len = strcspn(p, "/");
		if (len == 0)
			break;
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return ck_error_set(err, EINVAL, "hostPath %s: must not contain '..'",
					    path);
		if (!(len == 1 && p[0] == '.')) {
			if (n + 1 + len >= PATH_MAX)
				return ck_error_set(err, ENAMETOOLONG, "hostPath %s: too long",
						    path);
			out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p += len;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
	return 0;
}

/* The rule allowing `path` as written (cleaned into `written`); -EPERM when none does. */
static int allowed_as_written(const struct host_path_policy *policy, const char *path,
			      char written[PATH_MAX], const struct host_path_rule **rule,
			      struct ck_error *err)
{
	int r = clean(path, written, err);

	if (r < 0)
		return r;
	*rule = rule_for(policy, written);
	if (policy->count > 0 && !*rule)
		return ck_error_set(
		    err, EPERM, "hostPath %s is not allowed on this node (allowedHostPaths)", path);
	return 0;
}

int host_path_prepare(const struct host_path_policy *policy, const char *path,
		      enum host_path_type type, struct ck_error *err)
{
	char written[PATH_MAX];
	const struct host_path_rule *rule;
	int r = allowed_as_written(policy, path, written, &rule, err);

	return r < 0 ? r : check_type(policy, written, type, err);
}

int host_path_open(const struct host_path_policy *policy, const char *path, bool *read_only,
		   struct ck_error *err)
{
	char written[PATH_MAX], resolved[PATH_MAX];
	const struct host_path_rule *rule, *target_rule;
	_cleanup_close_ int fd = -1;
	int r = allowed_as_written(policy, path, written, &rule, err);

	if (r < 0)
		return r;
	*read_only = false;
	fd = open(written, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return ck_error_errno(err, errno, "hostPath %s", path);
	if (policy->count == 0)
		return steal_fd(&fd);
	/* Where a symlink on the way leads counts as much as the path that names it. */
	r = fs_fd_path(fd, resolved);
	if (r < 0)
		return ck_error_errno(err, -r, "hostPath %s: resolve", path);
	target_rule = rule_for_resolved(policy, resolved);
	if (!target_rule)
		return ck_error_set(err, EPERM,
				    "hostPath %s leads to %s, which is not allowed on this node "
				    "(allowedHostPaths)",
				    path, resolved);
	*read_only = rule->read_only || target_rule->read_only;
	return steal_fd(&fd);
}
