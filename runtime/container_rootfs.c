/* The container's root filesystem, built by the child inside its own mount namespace: the
 * root itself, /proc, a minimal /dev, /sys with the cgroup2 file system, the caller's bind
 * mounts, then pivot_root and the masked and read-only paths of RuntimeDefault. System calls
 * only (see spawn.h).
 *
 * Paths inside the root come from the image and the pod, so they are resolved with openat2's
 * RESOLVE_IN_ROOT: a symlink in the image can never point a mount at the host. Mounts then
 * target the resolved descriptor through /proc/self/fd, which is still the host's /proc
 * until the pivot. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "runtime/container_internal.h"
#include "lib/path_in_root.h"
#include "runtime/spawn.h"

#define FD_PATH_SIZE 32

/* Kubernetes' defaults (pkg/securitycontext), the same as Docker's. */
static const char *const masked_paths[] = {
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
};
static const char *const read_only_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

struct device_node {
	const char *name;
	unsigned major, minor;
};

static const struct device_node devices[] = {
    {"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
    {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

static const struct {
	const char *name, *target;
} dev_links[] = {
    {"fd", "/proc/self/fd"},       {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
    {"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"},         {"core", "/proc/kcore"},
};

static const char *fd_path(int fd, char buf[FD_PATH_SIZE])
{
	snprintf(buf, FD_PATH_SIZE, "/proc/self/fd/%d", fd);
	return buf;
}

/* Creates one missing component: `prefix` names it, its parent is resolved in the root. */
static int create_component(int root_fd, char *prefix, bool directory)
{
	char *slash = strrchr(prefix, '/');
	int parent, made;

	*slash = '\0';
	parent = path_open_in_root(root_fd, slash == prefix ? "/" : prefix, O_PATH | O_DIRECTORY);
	*slash = '/';
	if (parent < 0)
		return -1;
	if (directory)
		made = mkdirat(parent, slash + 1, 0755);
	else {
		made = openat(parent, slash + 1, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		if (made >= 0)
			close(made);
	}
	close(parent);
	return made < 0 && errno != EEXIST ? -1 : 0;
}

/* Opens (O_PATH) the absolute path inside the root, creating what is missing: directories on
 * the way and, at the end, a directory or an empty file as the mount source needs. */
static int resolve_mount_point(int root_fd, const char *path, bool directory)
{
	char prefix[4096];
	size_t len = strlen(path);
	int fd = path_open_in_root(root_fd, path, O_PATH);

	if (fd >= 0 || errno != ENOENT)
		return fd;
	if (len >= sizeof(prefix)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(prefix, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		bool last = i == len;

		if (!last && prefix[i] != '/')
			continue;
		prefix[i] = '\0';
		fd = path_open_in_root(root_fd, prefix, O_PATH);
		if (fd >= 0)
			close(fd);
		else if (errno != ENOENT ||
			 create_component(root_fd, prefix, !last || directory) < 0)
			return -1;
		if (!last)
			prefix[i] = '/';
	}
	return path_open_in_root(root_fd, path, O_PATH);
}

static int mount_at(int root_fd, const char *path, const char *source, const char *fstype,
		    unsigned long flags, const char *data, int report_fd)
{
	char target[FD_PATH_SIZE];
	int fd = resolve_mount_point(root_fd, path, true);

	if (fd < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "mount point %s", path);
		return -1;
	}
	if (mount(source, fd_path(fd, target), fstype, flags, data) < 0) {
		int e = errno;
		close(fd);
		child_report(report_fd, CONTAINER_FAILED_CREATE, e, "mount %s on %s", fstype, path);
		return -1;
	}
	close(fd);
	return 0;
}

static int make_read_only(int dirfd, const char *path, bool recursive)
{
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};

	return mount_setattr(dirfd, path, recursive ? AT_RECURSIVE : 0, &attr, sizeof(attr));
}

static int mount_root(const struct container_plan *plan, int report_fd)
{
	const struct container_config *config = plan->config;

	/* Nothing mounted from here on may reach the host's mount table. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "make mounts private");
		return -1;
	}
	if (plan->overlay_options) {
		/* The lower directories are given relative to their common directory, which keeps
		 * the options within the one page the kernel accepts for many layers. */
		if (chdir(plan->layers_dir) < 0) {
			child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "enter %s",
				     plan->layers_dir);
			return -1;
		}
		if (mount("overlay", plan->root_target, "overlay", 0, plan->overlay_options) < 0) {
			child_report(report_fd, CONTAINER_FAILED_CREATE, errno,
				     "mount the image's layers (overlay)");
			return -1;
		}
	} else if (mount(config->rootfs, plan->root_target, NULL, MS_BIND | MS_REC, NULL) < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "bind the root %s",
			     config->rootfs);
		return -1;
	}
	return 0;
}

static int populate_dev(int dev_fd, int report_fd)
{
	for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++)
		if (mknodat(dev_fd, devices[i].name, S_IFCHR | 0666,
			    makedev(devices[i].major, devices[i].minor)) < 0) {
			child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "create /dev/%s",
				     devices[i].name);
			return -1;
		}
	return 0;
}

static int mount_dev(int root_fd, bool privileged, int report_fd)
{
	static const char *const subdirs[] = {"pts", "shm", "mqueue"};
	int dev_fd, r = -1;

	if (privileged) {
		if (mount_at(root_fd, "/dev", "/dev", NULL, MS_BIND | MS_REC, NULL, report_fd) < 0)
			return -1;
	} else if (mount_at(root_fd, "/dev", "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME,
			    "mode=755,size=65536k", report_fd) < 0)
		return -1;
	dev_fd = path_open_in_root(root_fd, "/dev", O_PATH | O_DIRECTORY);
	if (dev_fd < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "open /dev");
		return -1;
	}
	if (!privileged) {
		if (populate_dev(dev_fd, report_fd) < 0)
			goto out;
		for (size_t i = 0; i < sizeof(dev_links) / sizeof(dev_links[0]); i++)
			if (symlinkat(dev_links[i].target, dev_fd, dev_links[i].name) < 0) {
				child_report(report_fd, CONTAINER_FAILED_CREATE, errno,
					     "create /dev/%s", dev_links[i].name);
				goto out;
			}
		for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++)
			if (mkdirat(dev_fd, subdirs[i], 0755) < 0) {
				child_report(report_fd, CONTAINER_FAILED_CREATE, errno,
					     "create /dev/%s", subdirs[i]);
				goto out;
			}
	}
	if (mount_at(root_fd, "/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
		     "newinstance,ptmxmode=0666,mode=0620,gid=5", report_fd) < 0 ||
	    mount_at(root_fd, "/dev/shm", "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		     "mode=1777,size=65536k", report_fd) < 0 ||
	    mount_at(root_fd, "/dev/mqueue", "mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		     NULL, report_fd) < 0)
		goto out;
	r = 0;
out:
	close(dev_fd);
	return r;
}

static int mount_kernel_filesystems(int root_fd, bool privileged, int report_fd)
{
	const unsigned long ro = privileged ? 0 : MS_RDONLY;
	const unsigned long safe = MS_NOSUID | MS_NOEXEC | MS_NODEV;

	if (mount_at(root_fd, "/proc", "proc", "proc", safe, NULL, report_fd) < 0 ||
	    mount_dev(root_fd, privileged, report_fd) < 0 ||
	    mount_at(root_fd, "/sys", "sysfs", "sysfs", safe | ro, NULL, report_fd) < 0 ||
	    mount_at(root_fd, "/sys/fs/cgroup", "cgroup2", "cgroup2", safe | ro, NULL, report_fd) <
		0)
		return -1;
	return 0;
}

static int bind_volumes(const struct container_plan *plan, int root_fd, int report_fd)
{
	const struct container_config *config = plan->config;

	for (size_t i = 0; i < config->mount_count; i++) {
		const struct container_mount *m = &config->mounts[i];
		int fd = resolve_mount_point(root_fd, m->destination, plan->mount_is_dir[i]);

		if (fd < 0) {
			child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "mount point %s",
				     m->destination);
			return -1;
		}
		/* A detached tree the agent made (read-only already when asked). */
		if (move_mount(plan->mount_sources[i], "", fd, "",
			       MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
			int e = errno;
			close(fd);
			child_report(report_fd, CONTAINER_FAILED_CREATE, e, "mount %s on %s",
				     m->source, m->destination);
			return -1;
		}
		close(fd);
	}
	return 0;
}

static int pivot(int root_fd, int report_fd)
{
	/* pivot_root(".", ".") stacks the old root under the new one, where a lazy unmount
	 * removes it without needing a directory for it in the image. */
	if (fchdir(root_fd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "pivot_root");
		return -1;
	}
	return 0;
}

/* After the pivot, so the paths are the container's own /proc and /sys. */
static int protect_kernel_paths(int report_fd)
{
	struct stat st;

	for (size_t i = 0; i < sizeof(masked_paths) / sizeof(masked_paths[0]); i++) {
		const char *path = masked_paths[i];
		int r;

		if (stat(path, &st) < 0)
			continue; /* not on this kernel */
		if (S_ISDIR(st.st_mode))
			r = mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0");
		else
			r = mount("/dev/null", path, NULL, MS_BIND, NULL);
		if (r < 0) {
			child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "mask %s", path);
			return -1;
		}
	}
	for (size_t i = 0; i < sizeof(read_only_paths) / sizeof(read_only_paths[0]); i++) {
		const char *path = read_only_paths[i];

		if (access(path, F_OK) < 0)
			continue;
		if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0 ||
		    make_read_only(AT_FDCWD, path, true) < 0) {
			child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "make %s read-only",
				     path);
			return -1;
		}
	}
	return 0;
}

int container_rootfs_setup(const struct container_plan *plan, int report_fd)
{
	const struct container_config *config = plan->config;
	int root_fd, r = -1;

	if (mount_root(plan, report_fd) < 0)
		return -1;
	root_fd = open(plan->root_target, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno, "open the root");
		return -1;
	}
	if (mount_kernel_filesystems(root_fd, config->privileged, report_fd) < 0 ||
	    bind_volumes(plan, root_fd, report_fd) < 0 || pivot(root_fd, report_fd) < 0)
		goto out;
	if (!config->privileged && !config->unmasked_proc && protect_kernel_paths(report_fd) < 0)
		goto out;
	if (config->read_only_root && make_read_only(AT_FDCWD, "/", false) < 0) {
		child_report(report_fd, CONTAINER_FAILED_CREATE, errno,
			     "make the root file system read-only");
		goto out;
	}
	r = 0;
out:
	close(root_fd);
	return r;
}
