/* volume/ on the node's file systems: the atomic configMap/secret layout, pod volume
 * directories (subPath inside the volume, usage, removal) and the mounts under them. Each test
 * works in a temporary directory. The whole program first moves into a mount and a network
 * namespace of its own (without root, inside a user namespace), so that its tmpfs and bind
 * mounts never show on the host and vanish with it, and no name lookup leaves the machine; each
 * temporary directory is then a tmpfs of its own, detached at the end. Where no namespace can
 * be made, the tests that mount are skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "volume/atomic_dir.h"
#include "volume/nfs_mount.h"
#include "volume/pod_volume_dirs.h"
#include "volume/volume_mounts.h"

/* Set in main() once the program has namespaces of its own. */
static bool private_mounts;

struct tree {
	char root[64];
};

static int tree_setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	strcpy(t->root, "/tmp/ckube-volume-files-XXXXXX");
	assert_non_null(mkdtemp(t->root));
	if (private_mounts)
		assert_int_equal(mount("tmpfs", t->root, "tmpfs", 0, "size=64m"), 0);
	umask(022);
	*state = t;
	return 0;
}

static int tree_teardown(void **state)
{
	struct tree *t = *state;
	struct ck_error err = {0};
	int r = private_mounts ? umount2(t->root, MNT_DETACH) : 0;

	if (r < 0)
		print_error("unmount %s: %s\n", t->root, strerror(errno));
	if (r == 0 && (r = fs_remove_tree(AT_FDCWD, t->root, &err)) < 0)
		print_error("%s\n", err.message);
	free(t);
	return r < 0 ? -1 : 0;
}

static void need_private_mounts(void)
{
	if (!private_mounts)
		skip();
}

/* `relative` below the tree's root, in a static buffer (one per nesting of calls). */
static const char *at(const struct tree *t, const char *relative)
{
	static char paths[4][256];
	static unsigned next;
	char *path = paths[next++ % 4];
	snprintf(path, sizeof(paths[0]), "%s/%s", t->root, relative);
	return path;
}

static void write_text(const char *path, const char *content)
{
	assert_int_equal(fs_write_file(path, content, strlen(content), 0644, NULL), 0);
}

static void expect_text(const char *path, const char *content)
{
	char *text;
	size_t len;
	struct ck_error err = {0};
	if (fs_read_file(path, &text, &len, &err) < 0)
		fail_msg("%s", err.message);
	assert_string_equal(text, content);
	free(text);
}

static struct stat stat_of(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		fail_msg("%s: %s", path, strerror(errno));
	return st;
}

static bool same_file(int fd, const char *path)
{
	struct stat a, b;
	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* ---- the atomic layout ---- */

static void add(struct payload *p, const char *path, const char *data, int mode)
{
	p->files = realloc(p->files, (p->count + 1) * sizeof(*p->files));
	assert_non_null(p->files);
	p->files[p->count] = (struct payload_file){.path = strdup(path), .mode = mode};
	buf_append(&p->files[p->count++].data, data, strlen(data));
}

static void write_payload(const char *dir, const struct payload *p, bool changed)
{
	struct ck_error err = {0};
	bool did_change = !changed;
	if (atomic_dir_write(dir, p, &did_change, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(did_change, changed);
}

/* Where a symlink points, in a static buffer (one per nesting of calls). */
static const char *link_of(const char *path)
{
	static char targets[2][256];
	static unsigned next;
	char *target = targets[next++ % 2];
	ssize_t len = readlink(path, target, sizeof(targets[0]) - 1);
	if (len < 0)
		fail_msg("readlink %s: %s", path, strerror(errno));
	target[len] = '\0';
	return target;
}

/* The names in `dir`, sorted and joined by spaces. */
static char *names_in(const char *dir)
{
	struct dirent **entries;
	int n = scandir(dir, &entries, NULL, alphasort);
	struct buf out = {0};
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		if (strcmp(entries[i]->d_name, ".") != 0 && strcmp(entries[i]->d_name, "..") != 0)
			buf_printf(&out, "%s%s", out.len ? " " : "", entries[i]->d_name);
		free(entries[i]);
	}
	free(entries);
	return buf_steal(&out);
}

static void first_write_lays_out_data_link_and_names(void **state)
{
	struct tree *t = *state;
	char vol[256];
	struct payload p = {0};
	char expected[256], target[64];
	int year, month, day, hour, minute, second;
	long nanoseconds;

	snprintf(vol, sizeof(vol), "%s/vol", t->root);
	assert_int_equal(mkdir(vol, 0755), 0);
	add(&p, "app.conf", "port=80\n", 0644);
	add(&p, "token", "s3cr3t", 0600);
	add(&p, "conf.d/x.yaml", "x: 1\n", 0400);
	write_payload(vol, &p, true);

	snprintf(target, sizeof(target), "%s", link_of(at(t, "vol/..data")));
	assert_int_equal(sscanf(target, "..%4d_%2d_%2d_%2d_%2d_%2d.%9ld", &year, &month, &day,
				&hour, &minute, &second, &nanoseconds),
			 7);
	assert_int_equal(strlen(target), strlen("..2006_01_02_15_04_05.000000000"));
	snprintf(expected, sizeof(expected), "vol/%s", target);
	assert_true(S_ISDIR(stat_of(at(t, expected)).st_mode));
	snprintf(expected, sizeof(expected), "%s ..data app.conf conf.d token", target);
	char *names = names_in(vol);
	assert_string_equal(names, expected);
	free(names);

	assert_string_equal(link_of(at(t, "vol/app.conf")), "..data/app.conf");
	assert_string_equal(link_of(at(t, "vol/conf.d")), "..data/conf.d");
	assert_string_equal(link_of(at(t, "vol/token")), "..data/token");
	expect_text(at(t, "vol/app.conf"), "port=80\n");
	expect_text(at(t, "vol/conf.d/x.yaml"), "x: 1\n");
	expect_text(at(t, "vol/token"), "s3cr3t");
	struct stat st;
	assert_int_equal(stat(at(t, "vol/app.conf"), &st), 0);
	assert_int_equal(st.st_mode, S_IFREG | 0644);
	assert_int_equal(stat(at(t, "vol/token"), &st), 0);
	assert_int_equal(st.st_mode, S_IFREG | 0600);
	assert_int_equal(stat(at(t, "vol/conf.d/x.yaml"), &st), 0);
	assert_int_equal(st.st_mode, S_IFREG | 0400);
	payload_free(&p);
}

static void unchanged_payload_writes_nothing(void **state)
{
	struct tree *t = *state;
	char vol[256];
	struct payload p = {0};
	char first[64];

	snprintf(vol, sizeof(vol), "%s/vol", t->root);
	assert_int_equal(mkdir(vol, 0755), 0);
	add(&p, "a", "alpha", 0644);
	add(&p, "dir/b", "beta", 0644);
	write_payload(vol, &p, true);
	snprintf(first, sizeof(first), "%s", link_of(at(t, "vol/..data")));
	write_payload(vol, &p, false);
	assert_string_equal(link_of(at(t, "vol/..data")), first);

	/* A new mode alone is a change. */
	p.files[0].mode = 0640;
	write_payload(vol, &p, true);
	assert_string_not_equal(link_of(at(t, "vol/..data")), first);
	assert_int_equal(stat_of(at(t, "vol/..data/a")).st_mode, S_IFREG | 0640);
	payload_free(&p);
}

static void update_switches_the_link_and_cleans_up(void **state)
{
	struct tree *t = *state;
	char vol[256];
	struct payload p = {0};
	char old[64], expected[256];

	snprintf(vol, sizeof(vol), "%s/vol", t->root);
	assert_int_equal(mkdir(vol, 0755), 0);
	add(&p, "a", "v1", 0644);
	add(&p, "b", "v1", 0644);
	add(&p, "conf/x", "v1", 0644);
	write_payload(vol, &p, true);
	snprintf(old, sizeof(old), "%s", link_of(at(t, "vol/..data")));
	payload_free(&p);

	add(&p, "a", "v2", 0644);
	add(&p, "nested/deeper/file", "v2", 0644);
	write_payload(vol, &p, true);
	const char *now = link_of(at(t, "vol/..data"));
	assert_string_not_equal(now, old);
	snprintf(expected, sizeof(expected), "%s ..data a nested", now);
	char *names = names_in(vol);
	assert_string_equal(names, expected);
	free(names);
	expect_text(at(t, "vol/a"), "v2");
	expect_text(at(t, "vol/nested/deeper/file"), "v2");
	assert_string_equal(link_of(at(t, "vol/nested")), "..data/nested");
	payload_free(&p);

	/* Nothing left to show: only the data link and its empty directory stay. */
	write_payload(vol, &p, true);
	snprintf(expected, sizeof(expected), "%s ..data", link_of(at(t, "vol/..data")));
	names = names_in(vol);
	assert_string_equal(names, expected);
	free(names);
	write_payload(vol, &p, false);
}

#define VERSIONS 60
#define FILLER 8192

/* Version `n` of file `name`: a head naming both, then filler, so a torn file shows. */
static void version_text(struct buf *out, char name, int n)
{
	buf_printf(out, "%c %d\n", name, n);
	for (int i = 0; i < FILLER; i++)
		buf_putc(out, (char)('a' + (n + i) % 26));
}

/* The version in the file `name` of the directory `dir_fd`: -1 when it is gone meanwhile (the
 * old directory of an update), -2 when torn. */
static int read_version(int dir_fd, const char *name)
{
	_cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
	char text[FILLER + 64];
	ssize_t len;
	struct buf expected = {0};
	int n, r;

	if (fd < 0)
		return errno == ENOENT ? -1 : -2;
	len = read(fd, text, sizeof(text) - 1);
	if (len <= 0)
		return -2;
	text[len] = '\0';
	if (sscanf(text, "%*c %d", &n) != 1)
		return -2;
	version_text(&expected, name[0], n);
	r = (size_t)len == expected.len && memcmp(text, expected.data, expected.len) == 0 ? n : -2;
	buf_free(&expected);
	return r;
}

/* The reader: until `stop` is readable, checks that a and b seen through one ..data agree and
 * that a read through its link is whole. Exit 0 once it saw several versions, all whole. */
static int read_while_written(const char *vol, int stop)
{
	int seen_versions = 0, last = -1;
	_cleanup_close_ int vol_fd = open(vol, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	for (;;) {
		char byte;
		if (read(stop, &byte, 1) == 0)
			break;
		_cleanup_close_ int data_fd =
		    openat(vol_fd, "..data", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		int a = data_fd < 0 ? -1 : read_version(data_fd, "a");
		int b = data_fd < 0 ? -1 : read_version(data_fd, "b");
		int through_link = read_version(vol_fd, "a");
		if (a == -2 || b == -2 || through_link == -2 || (a >= 0 && b >= 0 && a != b)) {
			fprintf(stderr, "reader saw a=%d b=%d a-through-link=%d\n", a, b,
				through_link);
			return 1;
		}
		if (a >= 0 && a != last) {
			seen_versions++;
			last = a;
		}
	}
	return seen_versions >= 2 ? 0 : 2;
}

static void readers_see_one_whole_version(void **state)
{
	struct tree *t = *state;
	char vol[256];
	int stop[2], status;
	pid_t reader = -1;

	snprintf(vol, sizeof(vol), "%s/vol", t->root);
	assert_int_equal(mkdir(vol, 0755), 0);
	assert_int_equal(pipe2(stop, O_CLOEXEC | O_NONBLOCK), 0);
	for (int n = 0; n < VERSIONS; n++) {
		struct payload p = {0};
		for (char name = 'a'; name <= 'b'; name++) {
			struct buf text = {0};
			version_text(&text, name, n);
			add(&p, (char[]){name, '\0'}, "", 0644);
			buf_append(&p.files[p.count - 1].data, text.data, text.len);
			buf_free(&text);
		}
		write_payload(vol, &p, true);
		payload_free(&p);
		if (n == 0) {
			reader = fork();
			assert_true(reader >= 0);
			if (reader == 0) {
				close(stop[1]);
				_exit(read_while_written(vol, stop[0]));
			}
			close(stop[0]);
		}
		usleep(2000);
	}
	close(stop[1]);
	assert_int_equal(waitpid(reader, &status, 0), reader);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 2)
		fail_msg("the reader saw fewer than two versions");
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- pod volume directories ---- */

static struct volume_spec volume_of(enum volume_kind kind, const char *name)
{
	return (struct volume_spec){
	    .name = (char *)name, .kind = kind, .empty_dir = {.size_limit = -1}};
}

static void paths_follow_the_kubelet_layout(void **state)
{
	(void)state;
	static const struct {
		enum volume_kind kind;
		const char *path;
	} cases[] = {
	    {VOLUME_EMPTY_DIR, "/p/uid-1/volumes/kubernetes.io~empty-dir/v"},
	    {VOLUME_CONFIG_MAP, "/p/uid-1/volumes/kubernetes.io~configmap/v"},
	    {VOLUME_SECRET, "/p/uid-1/volumes/kubernetes.io~secret/v"},
	    {VOLUME_NFS, "/p/uid-1/volumes/kubernetes.io~nfs/v"},
	    {VOLUME_HOST_PATH, NULL},
	    {VOLUME_UNSUPPORTED, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct volume_spec v = volume_of(cases[i].kind, "v");
		char *path = pod_volume_path("/p", "uid-1", &v);
		if (cases[i].path)
			assert_string_equal(path, cases[i].path);
		else
			assert_null(path);
		free(path);
	}
}

static void disk_volumes_are_plain_directories(void **state)
{
	struct tree *t = *state;
	struct ck_error err = {0};
	struct volume_spec scratch = volume_of(VOLUME_EMPTY_DIR, "scratch");
	struct volume_spec conf = volume_of(VOLUME_CONFIG_MAP, "conf");

	for (int again = 0; again < 2; again++) {
		if (pod_volume_prepare(at(t, "pods/u/scratch"), &scratch, &err) < 0 ||
		    pod_volume_prepare(at(t, "pods/u/conf"), &conf, &err) < 0)
			fail_msg("%s", err.message);
		assert_int_equal(stat_of(at(t, "pods/u/scratch")).st_mode, S_IFDIR | 0777);
		assert_int_equal(stat_of(at(t, "pods/u/conf")).st_mode, S_IFDIR | 0755);
		assert_false(volume_is_mount_point(at(t, "pods/u/scratch")));
		assert_false(volume_is_mount_point(at(t, "pods/u/conf")));
	}
}

/* How many mounts /proc/self/mountinfo has at `path`; the last one's line into `line`. */
static int mounts_at(const char *path, char *line, size_t size)
{
	char *text, *save = NULL, needle[300];
	size_t len;
	int count = 0;

	assert_int_equal(fs_read_file("/proc/self/mountinfo", &text, &len, NULL), 0);
	snprintf(needle, sizeof(needle), " %s ", path);
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		/* The mount point is the fifth field. */
		char *p = l;
		for (int field = 0; field < 4 && p; field++)
			p = strchr(p + 1, ' ');
		if (p && strncmp(p, needle, strlen(needle)) == 0) {
			count++;
			snprintf(line, size, "%s", l);
		}
	}
	free(text);
	return count;
}

static void memory_volumes_are_sized_tmpfs(void **state)
{
	struct tree *t = *state;
	struct ck_error err = {0};
	struct volume_spec cache = volume_of(VOLUME_EMPTY_DIR, "cache");
	struct volume_spec creds = volume_of(VOLUME_SECRET, "creds");
	char line[512];

	need_private_mounts();
	cache.empty_dir.memory = true;
	cache.empty_dir.size_limit = 64 << 20;
	for (int again = 0; again < 2; again++) {
		if (pod_volume_prepare(at(t, "pods/u/cache"), &cache, &err) < 0 ||
		    pod_volume_prepare(at(t, "pods/u/creds"), &creds, &err) < 0)
			fail_msg("%s", err.message);
		assert_int_equal(mounts_at(at(t, "pods/u/cache"), line, sizeof(line)), 1);
		assert_non_null(strstr(line, " rw,nosuid,nodev,"));
		assert_non_null(strstr(line, " - tmpfs "));
		assert_non_null(strstr(line, ",size=65536k"));
		assert_non_null(strstr(line, ",mode=777"));
		assert_int_equal(mounts_at(at(t, "pods/u/creds"), line, sizeof(line)), 1);
		assert_non_null(strstr(line, " - tmpfs "));
		assert_non_null(strstr(line, ",mode=755"));
	}
	assert_true(volume_is_mount_point(at(t, "pods/u/cache")));
}

static void sub_paths_stay_inside_the_volume(void **state)
{
	struct tree *t = *state;
	struct ck_error err = {0};
	char escape[256], inside[320];
	_cleanup_close_ int base = -1;
	int fd;

	assert_int_equal(mkdir(at(t, "vol"), 0755), 0);
	base = open(at(t, "vol"), O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(base >= 0);
	assert_int_equal(symlink("/", at(t, "vol/evil")), 0);
	assert_int_equal(symlink("/etc", at(t, "vol/etc-link")), 0);
	assert_int_equal(symlink("../../..", at(t, "vol/up")), 0);
	assert_int_equal(symlink("/ckube-volume-absent", at(t, "vol/dangling")), 0);
	write_text(at(t, "vol/file"), "content");

	fd = pod_volume_open_sub_path(base, "a/b/c", &err);
	assert_true(fd >= 0);
	assert_true(same_file(fd, at(t, "vol/a/b/c")));
	assert_int_equal(stat_of(at(t, "vol/a")).st_mode, S_IFDIR | 0755);
	assert_int_equal(stat_of(at(t, "vol/a/b/c")).st_mode, S_IFDIR | 0755);
	close(fd);

	/* Through "/" to "etc": the volume's own etc, made there, never the host's. */
	fd = pod_volume_open_sub_path(base, "evil/etc", &err);
	if (fd < 0)
		fail_msg("%s", err.message);
	assert_true(same_file(fd, at(t, "vol/etc")));
	assert_false(same_file(fd, "/etc"));
	close(fd);
	fd = pod_volume_open_sub_path(base, "etc-link", &err);
	assert_true(fd >= 0);
	assert_true(same_file(fd, at(t, "vol/etc")));
	close(fd);
	fd = pod_volume_open_sub_path(base, "evil", &err);
	assert_true(same_file(fd, at(t, "vol")));
	close(fd);

	/* Climbing out would reach this very volume by its host path. */
	snprintf(escape, sizeof(escape), "up/%s/vol", t->root + 1);
	fd = pod_volume_open_sub_path(base, escape, &err);
	if (fd < 0)
		fail_msg("%s", err.message);
	snprintf(inside, sizeof(inside), "vol/%s", escape + strlen("up/"));
	assert_false(same_file(fd, at(t, "vol")));
	assert_true(same_file(fd, at(t, inside)));
	close(fd);

	fd = pod_volume_open_sub_path(base, "file", &err);
	assert_true(fd >= 0);
	assert_true(same_file(fd, at(t, "vol/file")));
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	close(fd);
	assert_int_equal(pod_volume_open_sub_path(base, "file/x", &err), -ENOTDIR);
	assert_non_null(strstr(err.message, "subPath file/x"));

	assert_true(pod_volume_open_sub_path(base, "dangling", &err) < 0);
	assert_int_equal(access("/ckube-volume-absent", F_OK), -1);
}

static void write_bytes(const char *path, size_t size)
{
	char *data = malloc(size);
	assert_non_null(data);
	for (size_t i = 0; i < size; i++)
		data[i] = (char)(i * 7 + 3);
	assert_int_equal(fs_write_file(path, data, size, 0644, NULL), 0);
	free(data);
}

static int64_t usage_of(const char *path)
{
	struct ck_error err = {0};
	int64_t bytes = -1;
	if (pod_volume_usage(path, &bytes, &err) < 0)
		fail_msg("%s", err.message);
	return bytes;
}

static void usage_counts_blocks_below(void **state)
{
	struct tree *t = *state;
	struct ck_error err = {0};
	int64_t bytes;

	assert_int_equal(mkdir(at(t, "vol"), 0755), 0);
	assert_int_equal(usage_of(at(t, "vol")), 0);
	assert_int_equal(mkdir(at(t, "vol/dir"), 0755), 0);
	write_bytes(at(t, "vol/big"), 64 << 10);
	write_bytes(at(t, "vol/dir/small"), 16 << 10);
	bytes = usage_of(at(t, "vol"));
	/* The files' blocks, and at most a few for the directory. */
	assert_true(bytes >= 80 << 10);
	assert_true(bytes <= (80 << 10) + (8 << 10));
	assert_int_equal(pod_volume_usage(at(t, "none"), &bytes, &err), -ENOENT);
}

/* However deep a pod hides its data, it counts (against its sizeLimit). */
static void usage_counts_however_deep(void **state)
{
	struct tree *t = *state;
	char block[4096] = {1};
	int dir, fd;

	assert_int_equal(mkdir(at(t, "vol"), 0755), 0);
	dir = open(at(t, "vol"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (int depth = 0; depth < 300; depth++) {
		assert_int_equal(mkdirat(dir, "d", 0755), 0);
		int sub = openat(dir, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(dir);
		dir = sub;
		assert_true(dir >= 0);
	}
	fd = openat(dir, "deep", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	for (int i = 0; i < 256; i++)
		assert_int_equal(write(fd, block, sizeof(block)), sizeof(block));
	close(fd);
	close(dir);
	assert_true(usage_of(at(t, "vol")) >= 1 << 20);
}

static void usage_stops_at_mounts_below(void **state)
{
	struct tree *t = *state;
	int64_t before;

	need_private_mounts();
	assert_int_equal(mkdir(at(t, "vol"), 0755), 0);
	assert_int_equal(mkdir(at(t, "vol/mnt"), 0755), 0);
	assert_int_equal(mkdir(at(t, "vol/bind"), 0755), 0);
	assert_int_equal(mkdir(at(t, "elsewhere"), 0755), 0);
	write_bytes(at(t, "vol/own"), 16 << 10);
	before = usage_of(at(t, "vol"));
	assert_int_equal(mount("tmpfs", at(t, "vol/mnt"), "tmpfs", 0, "size=4m"), 0);
	write_bytes(at(t, "vol/mnt/other-fs"), 1 << 20);
	assert_true(usage_of(at(t, "vol")) <= before);

	/* A bind mount of the same file system is another mount all the same. */
	write_bytes(at(t, "elsewhere/same-fs"), 1 << 20);
	assert_int_equal(mount(at(t, "elsewhere"), at(t, "vol/bind"), "none", MS_BIND, NULL), 0);
	assert_true(usage_of(at(t, "vol")) <= before);
}

/* ---- mounts ---- */

static void tmpfs_mounts_once_with_its_size(void **state)
{
	struct tree *t = *state;
	struct ck_error err = {0};
	char line[512];

	need_private_mounts();
	assert_int_equal(mkdir(at(t, "m"), 0755), 0);
	assert_false(volume_is_mount_point(at(t, "m")));
	for (int again = 0; again < 2; again++) {
		if (volume_mount_tmpfs(at(t, "m"), 32 << 20, 0750, &err) < 0)
			fail_msg("%s", err.message);
		assert_int_equal(mounts_at(at(t, "m"), line, sizeof(line)), 1);
		assert_non_null(strstr(line, ",size=32768k"));
		assert_non_null(strstr(line, ",mode=750"));
	}
	assert_int_equal(stat_of(at(t, "m")).st_mode, S_IFDIR | 0750);
	assert_true(volume_is_mount_point(at(t, "m")));
	assert_true(volume_is_mount_point("/"));
	assert_int_equal(mkdir(at(t, "m/sub"), 0755), 0);
	assert_false(volume_is_mount_point(at(t, "m/sub")));
	assert_int_equal(symlink(at(t, "m"), at(t, "link")), 0);
	assert_false(volume_is_mount_point(at(t, "link")));
	assert_false(volume_is_mount_point(at(t, "absent")));
}

static void mount_tmpfs(const char *path)
{
	struct ck_error err = {0};
	assert_int_equal(mkdir(path, 0755), 0);
	if (volume_mount_tmpfs(path, 1 << 20, 0755, &err) < 0)
		fail_msg("%s", err.message);
}

static void unmount_below_takes_every_nested_mount(void **state)
{
	struct tree *t = *state;
	struct ck_error err = {0};
	char line[512];
	int found = -1;

	need_private_mounts();
	mount_tmpfs(at(t, "u"));
	mount_tmpfs(at(t, "u/a"));
	mount_tmpfs(at(t, "u/a/b"));
	mount_tmpfs(at(t, "ux"));
	/* A file held open keeps the deepest mount busy. */
	_cleanup_close_ int busy = open(at(t, "u/a/b/held"), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
	assert_true(busy >= 0);

	if (volume_unmount_below(at(t, "u"), &found, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(found, 3);
	assert_int_equal(mounts_at(at(t, "u"), line, sizeof(line)), 0);
	assert_int_equal(mounts_at(at(t, "u/a"), line, sizeof(line)), 0);
	assert_int_equal(mounts_at(at(t, "u/a/b"), line, sizeof(line)), 0);
	assert_int_equal(mounts_at(at(t, "ux"), line, sizeof(line)), 1);
	assert_int_equal(volume_unmount_below(at(t, "u"), &found, &err), 0);
	assert_int_equal(found, 0);
}

/* A pod directory with a volume of each kind, and data of the node's that symlinks in it point
 * to; with `mounts`, tmpfs volumes and a bind mount of that data where NFS would be. */
static void make_pod(const struct tree *t, const char *pods, const char *uid, bool mounts)
{
	char path[256];
	struct ck_error err = {0};
	struct volume_spec cache = volume_of(VOLUME_EMPTY_DIR, "cache");
	struct volume_spec creds = volume_of(VOLUME_SECRET, "creds");
	struct volume_spec share = volume_of(VOLUME_NFS, "share");
	struct volume_spec scratch = volume_of(VOLUME_EMPTY_DIR, "scratch");

	cache.empty_dir.memory = true;
	struct volume_spec *each[] = {&scratch, &cache, &creds, &share};
	for (size_t i = 0; i < (mounts ? 4 : 1); i++) {
		char *dir = pod_volume_path(at(t, pods), uid, each[i]);
		if (pod_volume_prepare(dir, each[i], &err) < 0)
			fail_msg("%s", err.message);
		if (each[i]->kind == VOLUME_NFS) {
			assert_int_equal(mount(at(t, "host"), dir, "none", MS_BIND, NULL), 0);
		} else {
			snprintf(path, sizeof(path), "%s/file", dir);
			write_text(path, "pod data");
			snprintf(path, sizeof(path), "%s/host-dir", dir);
			assert_int_equal(symlink(at(t, "host"), path), 0);
			snprintf(path, sizeof(path), "%s/host-file", dir);
			assert_int_equal(symlink(at(t, "host/data.txt"), path), 0);
		}
		free(dir);
	}
}

static char *uids_in(const char *pods_dir)
{
	char **uids;
	struct ck_error err = {0};
	struct buf out = {0};
	if (pod_volume_dirs_list(pods_dir, &uids, &err) < 0)
		fail_msg("%s", err.message);
	for (char **uid = uids; *uid; uid++) {
		buf_printf(&out, "%s%s", out.len ? " " : "", *uid);
		free(*uid);
	}
	free(uids);
	return buf_steal(&out);
}

static void removal_leaves_what_symlinks_point_to(void **state)
{
	struct tree *t = *state;
	struct ck_error err = {0};
	int unmounted = -1;
	char *uids;

	assert_int_equal(mkdir(at(t, "host"), 0755), 0);
	write_text(at(t, "host/data.txt"), "node data");
	make_pod(t, "pods", "uid-1", false);
	make_pod(t, "pods", "uid-2", false);
	uids = uids_in(at(t, "pods"));
	assert_true(strcmp(uids, "uid-1 uid-2") == 0 || strcmp(uids, "uid-2 uid-1") == 0);
	free(uids);

	if (pod_volume_dir_remove(at(t, "pods"), "uid-1", &unmounted, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(unmounted, 0);
	assert_int_equal(access(at(t, "pods/uid-1"), F_OK), -1);
	expect_text(at(t, "host/data.txt"), "node data");
	uids = uids_in(at(t, "pods"));
	assert_string_equal(uids, "uid-2");
	free(uids);
	uids = uids_in(at(t, "no-pods"));
	assert_string_equal(uids, "");
	free(uids);
}

static void removal_unmounts_first(void **state)
{
	struct tree *t = *state;
	struct ck_error err = {0};
	int unmounted = -1;
	char line[512];

	need_private_mounts();
	assert_int_equal(mkdir(at(t, "host"), 0755), 0);
	write_text(at(t, "host/data.txt"), "node data");
	/* A space is written \040 in mountinfo. */
	make_pod(t, "my pods", "uid-1", true);
	if (pod_volume_dir_remove(at(t, "my pods"), "uid-1", &unmounted, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(unmounted, 3);
	assert_int_equal(access(at(t, "my pods/uid-1"), F_OK), -1);
	assert_int_equal(access(at(t, "my pods"), F_OK), 0);
	expect_text(at(t, "host/data.txt"), "node data");
	assert_int_equal(mounts_at(at(t, "host"), line, sizeof(line)), 0);
}

/* The node's directories may well be reached through a symlink (/var/lib -> /srv/lib). */
static void removal_unmounts_below_a_symlinked_pods_dir(void **state)
{
	struct tree *t = *state;
	struct ck_error err = {0};
	int unmounted = -1;

	need_private_mounts();
	assert_int_equal(mkdir(at(t, "host"), 0755), 0);
	write_text(at(t, "host/data.txt"), "node data");
	assert_int_equal(mkdir(at(t, "real"), 0755), 0);
	assert_int_equal(symlink("real", at(t, "pods")), 0);
	make_pod(t, "pods", "uid-1", true);
	if (pod_volume_dir_remove(at(t, "pods"), "uid-1", &unmounted, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(unmounted, 3);
	assert_int_equal(access(at(t, "real/uid-1"), F_OK), -1);
	expect_text(at(t, "host/data.txt"), "node data");
}

/* ---- NFS, as far as no server is needed ---- */

static void nfs_mount_leaves_a_mounted_target(void **state)
{
	struct tree *t = *state;
	struct ck_error err = {0};
	char line[512];

	need_private_mounts();
	mount_tmpfs(at(t, "share"));
	assert_int_equal(nfs_mount("nfs.invalid", "/exports", at(t, "share"), false, &err), 0);
	assert_int_equal(mounts_at(at(t, "share"), line, sizeof(line)), 1);
	assert_non_null(strstr(line, " - tmpfs "));

	/* In this network namespace no resolver answers: the name fails before any mount. */
	assert_int_equal(mkdir(at(t, "other"), 0755), 0);
	assert_int_equal(nfs_mount("nfs.invalid", "/exports", at(t, "other"), true, &err),
			 -EHOSTUNREACH);
	assert_non_null(strstr(err.message, "resolve NFS server nfs.invalid: "));
	assert_false(volume_is_mount_point(at(t, "other")));
}

static bool write_proc(const char *file, const char *text)
{
	_cleanup_close_ int fd = open(file, O_WRONLY | O_CLOEXEC);
	return fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
}

/* Mounts and name lookups from here on stay in namespaces of this process; without root, in a
 * user namespace of its own where it is root. */
static void enter_private_namespaces(void)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char map[64];

	if (unshare(CLONE_NEWNS | CLONE_NEWNET | (uid ? CLONE_NEWUSER : 0)) < 0) {
		fprintf(stderr, "unshare: %s: the tests that mount are skipped\n", strerror(errno));
		return;
	}
	if (uid) {
		snprintf(map, sizeof(map), "0 %u 1", uid);
		bool mapped = write_proc("/proc/self/setgroups", "deny") &&
			      write_proc("/proc/self/uid_map", map);
		snprintf(map, sizeof(map), "0 %u 1", gid);
		if (!mapped || !write_proc("/proc/self/gid_map", map)) {
			fprintf(stderr, "user namespace: cannot map ids: exiting\n");
			exit(1);
		}
	}
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0) {
		fprintf(stderr, "make / private: %s: exiting\n", strerror(errno));
		exit(1);
	}
	private_mounts = true;
}

#define TREE_TEST(name) cmocka_unit_test_setup_teardown(name, tree_setup, tree_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    TREE_TEST(first_write_lays_out_data_link_and_names),
	    TREE_TEST(unchanged_payload_writes_nothing),
	    TREE_TEST(update_switches_the_link_and_cleans_up),
	    TREE_TEST(readers_see_one_whole_version),
	    cmocka_unit_test(paths_follow_the_kubelet_layout),
	    TREE_TEST(disk_volumes_are_plain_directories),
	    TREE_TEST(memory_volumes_are_sized_tmpfs),
	    TREE_TEST(sub_paths_stay_inside_the_volume),
	    TREE_TEST(usage_counts_blocks_below),
	    TREE_TEST(usage_counts_however_deep),
	    TREE_TEST(usage_stops_at_mounts_below),
	    TREE_TEST(tmpfs_mounts_once_with_its_size),
	    TREE_TEST(unmount_below_takes_every_nested_mount),
	    TREE_TEST(removal_leaves_what_symlinks_point_to),
	    TREE_TEST(removal_unmounts_first),
	    TREE_TEST(removal_unmounts_below_a_symlinked_pods_dir),
	    TREE_TEST(nfs_mount_leaves_a_mounted_target),
	};
	enter_private_namespaces();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
