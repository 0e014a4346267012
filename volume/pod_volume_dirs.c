/* Pod volume directories on the node: see pod_volume_dirs.h. */
#include "volume/pod_volume_dirs.h"

#include <dirent.h>
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
#include "lib/path_in_root.h"
#include "volume/volume_mounts.h"

static const char *plugin_of(enum volume_kind kind)
{
	switch (kind) {
	case VOLUME_EMPTY_DIR:
		return "kubernetes.io~empty-dir";
	case VOLUME_CONFIG_MAP:
		return "kubernetes.io~configmap";
	case VOLUME_SECRET:
		return "kubernetes.io~secret";
	case VOLUME_NFS:
		return "kubernetes.io~nfs";
	case VOLUME_HOST_PATH:
	case VOLUME_UNSUPPORTED:
		break;
	}
	return NULL;
}

char *pod_volume_path(const char *pods_dir, const char *uid, const struct volume_spec *volume)
{
	const char *plugin = plugin_of(volume->kind);
	char *path;

	if (!plugin)
		return NULL;
	if (asprintf(&path, "%s/%s/volumes/%s/%s", pods_dir, uid, plugin, volume->name) < 0)
		abort();
	return path;
}

int pod_volume_prepare(const char *path, const struct volume_spec *volume, struct ck_error *err)
{
	int r = fs_mkdir_p(path, 0755, err);

	if (r < 0)
		return r;
	switch (volume->kind) {
	case VOLUME_EMPTY_DIR:
		if (volume->empty_dir.memory)
			return volume_mount_tmpfs(path, volume->empty_dir.size_limit, 0777, err);
		/* Every user of the pod may write there, whatever mkdir's umask left. */
		if (chmod(path, 0777) < 0)
			return ck_error_errno(err, errno, "chmod %s", path);
		return 0;
	case VOLUME_SECRET:
		/* Secrets never reach the node's disk. */
		return volume_mount_tmpfs(path, -1, 0755, err);
	default:
		return 0;
	}
}

/* A directory still to visit: its name in its parent, which lies `depth` levels below the
 * volume's root. */
struct pending_dir {
	char *name;
	size_t depth;
};

struct pending {
	struct pending_dir *dirs;
	size_t count, room;
};

/* Adds the blocks of what the directory `fd` (at `depth`) holds to *bytes, and its
 * subdirectories on the volume's own mount to the pending ones. */
static int read_dir(int fd, size_t depth, uint64_t mount_id, int64_t *bytes,
		    struct pending *pending, struct ck_error *err)
{
	int copy = dup(fd);
	DIR *dir = copy < 0 ? NULL : fdopendir(copy);
	struct dirent *entry;

	if (!dir) {
		if (copy >= 0)
			close(copy);
		return ck_error_errno(err, errno, "read directory");
	}
	while ((entry = readdir(dir))) {
		struct statx stx;

		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		/* Another mount below (a bind of this same file system too) is not the volume's. */
		if (statx(fd, entry->d_name, AT_SYMLINK_NOFOLLOW,
			  STATX_TYPE | STATX_BLOCKS | STATX_MNT_ID, &stx) < 0 ||
		    stx.stx_mnt_id != mount_id)
			continue;
		*bytes += (int64_t)stx.stx_blocks * 512;
		if (!S_ISDIR(stx.stx_mode))
			continue;
		if (pending->count == pending->room) {
			pending->room = pending->room ? pending->room * 2 : 16;
			pending->dirs =
			    realloc(pending->dirs, pending->room * sizeof(*pending->dirs));
			if (!pending->dirs)
				abort();
		}
		pending->dirs[pending->count++] =
		    (struct pending_dir){strdup(entry->d_name), depth};
	}
	closedir(dir);
	return 0;
}

/* Depth-first with one open directory at a time: down by name, back up through "..", the
 * directories still to visit on the heap, so a tree as deep as a pod likes neither runs the
 * agent out of descriptors or stack nor hides from the count. */
int pod_volume_usage(const char *path, int64_t *bytes, struct ck_error *err)
{
	struct pending pending = {0};
	struct statx root;
	size_t depth = 0;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), r;

	*bytes = 0;
	if (fd < 0 || statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &root) < 0) {
		r = ck_error_errno(err, errno, "usage of %s", path);
		if (fd >= 0)
			close(fd);
		return r;
	}
	r = read_dir(fd, 0, root.stx_mnt_id, bytes, &pending, err);
	while (r == 0 && pending.count > 0) {
		struct pending_dir next = pending.dirs[--pending.count];
		int sub;

		for (; depth > next.depth && r == 0; depth--) {
			int up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (up < 0) {
				r = ck_error_errno(err, errno, "go back up");
			} else {
				close(fd);
				fd = up;
			}
		}
		sub = r < 0
			  ? -1
			  : openat(fd, next.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		free(next.name);
		if (sub < 0)
			continue; /* gone meanwhile */
		close(fd);
		fd = sub;
		depth = next.depth + 1;
		r = read_dir(fd, depth, root.stx_mnt_id, bytes, &pending, err);
	}
	while (pending.count > 0)
		free(pending.dirs[--pending.count].name);
	free(pending.dirs);
	close(fd);
	return r < 0 ? ck_error_prefix(err, "usage of %s", path) : 0;
}

int pod_volume_open_sub_path(int base_fd, const char *sub_path, struct ck_error *err)
{
	char prefix[PATH_MAX];
	size_t len = strlen(sub_path);
	int fd = path_open_in_root(base_fd, sub_path, O_PATH);

	if (fd >= 0)
		return fd;
	if (fd != -ENOENT || len >= sizeof(prefix))
		return ck_error_errno(err, -fd, "subPath %s", sub_path);
	memcpy(prefix, sub_path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		_cleanup_close_ int parent = -1;
		char *slash, *name;

		if (i < len && prefix[i] != '/')
			continue;
		prefix[i] = '\0';
		fd = path_open_in_root(base_fd, prefix, O_PATH);
		if (fd >= 0) {
			close(fd);
		} else {
			/* The parent, opened inside the volume, and one new name in it. */
			slash = strrchr(prefix, '/');
			name = slash ? slash + 1 : prefix;
			if (slash)
				*slash = '\0';
			parent =
			    path_open_in_root(base_fd, slash ? prefix : "", O_RDONLY | O_DIRECTORY);
			if (slash)
				*slash = '/';
			if (parent < 0 || (mkdirat(parent, name, 0755) < 0 && errno != EEXIST))
				return ck_error_errno(err, parent < 0 ? -parent : errno,
						      "subPath %s: create %s", sub_path, prefix);
		}
		if (i < len)
			prefix[i] = '/';
	}
	fd = path_open_in_root(base_fd, sub_path, O_PATH);
	if (fd < 0)
		return ck_error_errno(err, -fd, "subPath %s", sub_path);
	return fd;
}

int pod_volume_dir_remove(const char *pods_dir, const char *uid, int *unmounted,
			  struct ck_error *err)
{
	_cleanup_free_ char *dir = NULL;
	int left, r;

	if (asprintf(&dir, "%s/%s", pods_dir, uid) < 0)
		abort();
	r = volume_unmount_below(dir, unmounted, err);
	if (r < 0)
		return ck_error_prefix(err, "pod %s: volumes", uid);
	/* Nothing may be mounted below while the tree goes: removing would reach into it. */
	r = volume_unmount_below(dir, &left, err);
	if (r == 0 && left > 0)
		r = ck_error_set(err, EBUSY, "%s: %d mounts could not be removed", dir, left);
	if (r == 0)
		r = fs_remove_tree(AT_FDCWD, dir, err);
	return r < 0 ? ck_error_prefix(err, "pod %s: volumes", uid) : 0;
}

int pod_volume_dirs_list(const char *pods_dir, char ***uids, struct ck_error *err)
{
	DIR *dir = opendir(pods_dir);
	struct dirent *entry;
	char **list = calloc(1, sizeof(*list));
	size_t n = 0;

	if (!list)
		abort();
	*uids = list;
	if (!dir)
		return errno == ENOENT ? 0 : ck_error_errno(err, errno, "list %s", pods_dir);
	while ((entry = readdir(dir))) {
		if (entry->d_name[0] == '.' || entry->d_type != DT_DIR)
			continue;
		list = realloc(list, (n + 2) * sizeof(*list));
		if (!list)
			abort();
		list[n++] = strdup(entry->d_name);
		list[n] = NULL;
	}
	closedir(dir);
	*uids = list;
	return 0;
}
