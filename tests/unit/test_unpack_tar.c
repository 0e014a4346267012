/* Layer unpacking against hostile archives. Each case builds a tar in memory, unpacks it into
 * <sandbox>/p/layer and then checks that nothing appeared outside the layer (nor under /etc),
 * that no temporary directory is left, and that the layer holds what it should. Needs root
 * (ownership, whiteout devices, trusted xattrs), like the node agent itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/fsutil.h"
#include "runtime/image_digest.h"
#include "runtime/unpack_tar.h"

#define ESCAPE_NAME "ckube-unpack-test-escape"

/* --- building archives ------------------------------------------------------------------- */

struct tar_builder {
	struct archive *a;
	struct buf out;
	la_int64_t uid, gid;
	time_t mtime;
};

static la_ssize_t collect(struct archive *a, void *ctx, const void *data, size_t len)
{
	(void)a;
	buf_append(ctx, data, len);
	return (la_ssize_t)len;
}

static void builder_start_filtered(struct tar_builder *b, int filter)
{
	*b = (struct tar_builder){.mtime = 1000000000};
	b->a = archive_write_new();
	assert_non_null(b->a);
	assert_int_equal(archive_write_set_format_pax_restricted(b->a), ARCHIVE_OK);
	/* No padding after the end of the archive, compressed or not: the same tar stream
	 * (and diffID) in every compression. */
	assert_int_equal(archive_write_set_bytes_in_last_block(b->a, 1), ARCHIVE_OK);
	if (filter != ARCHIVE_FILTER_NONE)
		assert_int_equal(archive_write_add_filter(b->a, filter), ARCHIVE_OK);
	assert_int_equal(archive_write_open(b->a, &b->out, NULL, collect, NULL), ARCHIVE_OK);
}

static struct archive_entry *new_entry(struct tar_builder *b, const char *name, mode_t type,
				       mode_t perm)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_uid(e, b->uid);
	archive_entry_set_gid(e, b->gid);
	archive_entry_set_mtime(e, b->mtime, 0);
	return e;
}

static void write_entry(struct tar_builder *b, struct archive_entry *e, const char *data,
			size_t len)
{
	assert_int_equal(archive_write_header(b->a, e), ARCHIVE_OK);
	if (len)
		assert_int_equal(archive_write_data(b->a, data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

static void add_file(struct tar_builder *b, const char *name, const char *content, mode_t perm)
{
	struct archive_entry *e = new_entry(b, name, AE_IFREG, perm);
	archive_entry_set_size(e, (la_int64_t)strlen(content));
	write_entry(b, e, content, strlen(content));
}

static void add_dir(struct tar_builder *b, const char *name, mode_t perm)
{
	write_entry(b, new_entry(b, name, AE_IFDIR, perm), NULL, 0);
}

static void add_symlink(struct tar_builder *b, const char *name, const char *target)
{
	struct archive_entry *e = new_entry(b, name, AE_IFLNK, 0777);
	archive_entry_set_symlink(e, target);
	write_entry(b, e, NULL, 0);
}

static void add_hardlink(struct tar_builder *b, const char *name, const char *target)
{
	struct archive_entry *e = new_entry(b, name, AE_IFREG, 0644);
	archive_entry_set_hardlink(e, target);
	write_entry(b, e, NULL, 0);
}

static void add_node(struct tar_builder *b, const char *name, mode_t type, dev_t dev, mode_t perm)
{
	struct archive_entry *e = new_entry(b, name, type, perm);
	archive_entry_set_rdev(e, dev);
	write_entry(b, e, NULL, 0);
}

static void builder_finish(struct tar_builder *b)
{
	assert_int_equal(archive_write_close(b->a), ARCHIVE_OK);
	archive_write_free(b->a);
}

/* Raw blocks for what libarchive's writer will not produce. */
static void raw_header(struct buf *out, const char *name, size_t name_len, char type, uint64_t size)
{
	unsigned char h[512] = {0};
	memcpy(h, name, name_len < 100 ? name_len : 100);
	memcpy(h + 100, "0000644", 7);
	memcpy(h + 108, "0000000", 7);
	memcpy(h + 116, "0000000", 7);
	if (size < 077777777777ULL) {
		snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
	} else {
		h[124] = 0x80; /* base-256 */
		for (int i = 0; i < 8; i++)
			h[135 - i] = (unsigned char)(size >> (8 * i));
	}
	memcpy(h + 136, "00000000000", 11);
	h[156] = (unsigned char)type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	buf_append(out, h, sizeof(h));
}

static void raw_data(struct buf *out, const void *data, size_t len)
{
	static const char zeros[512];
	buf_append(out, data, len);
	if (len % 512)
		buf_append(out, zeros, 512 - len % 512);
}

static void raw_end(struct buf *out)
{
	static const char zeros[1024];
	buf_append(out, zeros, sizeof(zeros));
}

/* --- the sandbox ------------------------------------------------------------------------- */

struct sandbox {
	char root[64];        /* /tmp/ckube-unpack-XXXXXX */
	char parent[96];      /* <root>/p */
	char work[96];        /* <root>/w, the work directory */
	char target[128];     /* <root>/p/layer */
	char etc_escape[128]; /* /etc/<ESCAPE_NAME>-<pid> */
	nlink_t passwd_links;
};

static void sandbox_init(struct sandbox *s)
{
	snprintf(s->root, sizeof(s->root), "/tmp/ckube-unpack-XXXXXX");
	assert_non_null(mkdtemp(s->root));
	snprintf(s->parent, sizeof(s->parent), "%s/p", s->root);
	snprintf(s->work, sizeof(s->work), "%s/w", s->root);
	snprintf(s->target, sizeof(s->target), "%s/layer", s->parent);
	snprintf(s->etc_escape, sizeof(s->etc_escape), "/etc/%s-%d", ESCAPE_NAME, getpid());
	assert_int_equal(mkdir(s->parent, 0755), 0);
	assert_int_equal(mkdir(s->work, 0700), 0);
	struct stat st;
	assert_int_equal(stat("/etc/passwd", &st), 0);
	s->passwd_links = st.st_nlink;
}

static void sandbox_remove(struct sandbox *s)
{
	struct ck_error err = {0};
	assert_int_equal(fs_remove_tree(AT_FDCWD, s->root, &err), 0);
}

/* The names in `dir`, sorted, joined with spaces. */
static void list_dir(const char *dir, char *out, size_t size)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	assert_true(n >= 0);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..")) {
			if (out[0])
				strncat(out, " ", size - strlen(out) - 1);
			strncat(out, names[i]->d_name, size - strlen(out) - 1);
		}
		free(names[i]);
	}
	free(names);
}

static void assert_nothing_outside(const struct sandbox *s, bool layer_expected)
{
	char names[1024];
	list_dir(s->root, names, sizeof(names));
	assert_string_equal(names, "p w");
	list_dir(s->parent, names, sizeof(names));
	assert_string_equal(names, layer_expected ? "layer" : "");
	list_dir(s->work, names, sizeof(names));
	assert_string_equal(names, "");
	assert_int_equal(access(s->etc_escape, F_OK), -1);
	struct stat st;
	assert_int_equal(stat("/etc/passwd", &st), 0);
	assert_int_equal(st.st_nlink, s->passwd_links);
}

static void layer_path(const struct sandbox *s, const char *rel, char out[PATH_MAX])
{
	snprintf(out, PATH_MAX, "%s/%s", s->target, rel);
}

static struct stat layer_lstat(const struct sandbox *s, const char *rel)
{
	char path[PATH_MAX];
	struct stat st;
	layer_path(s, rel, path);
	assert_int_equal(lstat(path, &st), 0);
	return st;
}

static bool layer_has(const struct sandbox *s, const char *rel)
{
	char path[PATH_MAX];
	struct stat st;
	layer_path(s, rel, path);
	return lstat(path, &st) == 0;
}

static void assert_layer_file(const struct sandbox *s, const char *rel, const char *content)
{
	char path[PATH_MAX], data[256] = {0};
	layer_path(s, rel, path);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(data, 1, sizeof(data) - 1, f);
	fclose(f);
	data[n] = '\0';
	assert_string_equal(data, content);
}

/* The sandbox's absolute path without its leading "/", as it lands inside the layer. */
static const char *inside(const char *absolute)
{
	return absolute + 1;
}

/* --- the cases --------------------------------------------------------------------------- */

struct unpack_case {
	const char *what;
	/* Fills `tar` (already started unless `raw`) or `raw`, for this sandbox. */
	void (*build)(struct tar_builder *tar, struct buf *raw, const struct sandbox *s);
	bool raw;
	int expected; /* 0 or a negative errno */
	void (*check)(const struct sandbox *s);
	const struct unpack_limits *limits;
	const char *diff_id_of; /* "own" for the archive's own digest, "wrong" for another */
};

static void build_dotdot(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	(void)s;
	add_file(t, "ok", "fine", 0644);
	add_file(t, "../" ESCAPE_NAME, "escaped", 0644);
}

static void build_absolute(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	char name[PATH_MAX];
	snprintf(name, sizeof(name), "%s/escaped", s->parent);
	add_file(t, name, "inside", 0644);
	add_file(t, s->etc_escape, "inside too", 0644);
}

static void check_absolute(const struct sandbox *s)
{
	char rel[PATH_MAX];
	snprintf(rel, sizeof(rel), "%s/escaped", inside(s->parent));
	assert_layer_file(s, rel, "inside");
	assert_layer_file(s, inside(s->etc_escape), "inside too");
}

static void build_dotdot_middle(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	(void)s;
	add_dir(t, "a", 0755);
	add_file(t, "a/../../" ESCAPE_NAME, "escaped", 0644);
}

static void build_symlink_to_root(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	char name[PATH_MAX];
	add_symlink(t, "root", "/");
	snprintf(name, sizeof(name), "root%s/escaped", s->parent);
	add_file(t, name, "through root", 0644);
	snprintf(name, sizeof(name), "root%s", s->etc_escape);
	add_file(t, name, "through root too", 0644);
}

static void check_symlink_to_root(const struct sandbox *s)
{
	char rel[PATH_MAX];
	assert_true(S_ISLNK(layer_lstat(s, "root").st_mode));
	snprintf(rel, sizeof(rel), "%s/escaped", inside(s->parent));
	assert_layer_file(s, rel, "through root");
	assert_layer_file(s, inside(s->etc_escape), "through root too");
}

static void build_dotdot_symlink_chain(struct tar_builder *t, struct buf *raw,
				       const struct sandbox *s)
{
	(void)raw;
	(void)s;
	add_symlink(t, "up", "..");
	add_symlink(t, "up/up2", "../..");
	add_file(t, "up/up2/" ESCAPE_NAME, "chain", 0644);
	add_dir(t, "d", 0755);
	add_symlink(t, "d/far", "../../../../../../..");
	add_file(t, "d/far/far-" ESCAPE_NAME, "far", 0644);
}

static void check_dotdot_symlink_chain(const struct sandbox *s)
{
	assert_true(S_ISLNK(layer_lstat(s, "up").st_mode));
	assert_true(S_ISLNK(layer_lstat(s, "up2").st_mode));
	assert_layer_file(s, ESCAPE_NAME, "chain");
	assert_layer_file(s, "far-" ESCAPE_NAME, "far");
}

static void build_symlink_loop(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	(void)s;
	add_symlink(t, "a", "b");
	add_symlink(t, "b", "a");
	add_file(t, "a/x", "loop", 0644);
}

static void build_hardlink_passwd(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	(void)s;
	add_hardlink(t, "passwd", "/etc/passwd");
}

static void build_hardlink_through_symlink(struct tar_builder *t, struct buf *raw,
					   const struct sandbox *s)
{
	(void)raw;
	(void)s;
	add_symlink(t, "hostetc", "/etc");
	add_hardlink(t, "passwd", "hostetc/passwd");
}

static void build_hardlink_dotdot(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	(void)s;
	add_hardlink(t, "x", "../../../../etc/passwd");
}

static void build_hardlink_inside(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	(void)s;
	add_file(t, "bin/busybox", "#!", 0755);
	add_hardlink(t, "bin/sh", "bin/busybox");
	add_symlink(t, "bin/link", "/bin/busybox");
	add_hardlink(t, "bin/link2", "bin/link");
}

static void check_hardlink_inside(const struct sandbox *s)
{
	struct stat a = layer_lstat(s, "bin/busybox"), b = layer_lstat(s, "bin/sh");
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_nlink, 2);
	/* A hardlink to a symlink links the symlink itself. */
	assert_true(S_ISLNK(layer_lstat(s, "bin/link2").st_mode));
}

static void build_devices(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	(void)s;
	add_dir(t, "dev", 0755);
	add_node(t, "dev/null", AE_IFCHR, makedev(1, 3), 0666);
	add_node(t, "dev/sda", AE_IFBLK, makedev(8, 0), 0660);
	add_file(t, "after", "still unpacked", 0644);
}

static void check_devices(const struct sandbox *s)
{
	assert_true(layer_has(s, "dev"));
	assert_false(layer_has(s, "dev/null"));
	assert_false(layer_has(s, "dev/sda"));
	assert_layer_file(s, "after", "still unpacked");
}

static void build_fifo(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	(void)s;
	t->uid = 7;
	t->gid = 8;
	add_node(t, "run/fifo", AE_IFIFO, 0, 0640);
}

static void check_fifo(const struct sandbox *s)
{
	struct stat st = layer_lstat(s, "run/fifo");
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_uid, 7);
	assert_int_equal(st.st_gid, 8);
	/* The parent the tar never listed is root's, 0755. */
	st = layer_lstat(s, "run");
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_uid, 0);
}

static void build_huge_size(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)t;
	(void)s;
	raw_header(raw, "huge", 4, '0', UINT64_C(1) << 62);
	raw_data(raw, "a few bytes", 11);
	raw_end(raw);
}

static const struct unpack_limits small_limits = {
    .max_stream_bytes = 256 * 1024,
    .max_file_bytes = 64 * 1024,
    .max_entries = 4,
};

static void build_over_file_limit(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	(void)s;
	static char big[100 * 1024];
	memset(big, 'x', sizeof(big) - 1);
	add_file(t, "big", big, 0644);
}

static void build_over_entry_limit(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	(void)s;
	for (int i = 0; i < 5; i++) {
		char name[16];
		snprintf(name, sizeof(name), "f%d", i);
		add_file(t, name, "x", 0644);
	}
}

static const struct unpack_limits bomb_limits = {
    .max_stream_bytes = 256 * 1024,
    .max_file_bytes = INT64_C(1) << 30,
    .max_entries = 100,
};

/* 1 MiB of zeros that gzip shrinks to a kilobyte: a small decompression bomb. */
static void build_bomb(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	(void)s;
	struct archive_entry *e = new_entry(t, "zeros", AE_IFREG, 0644);
	static char zeros[1024 * 1024];
	archive_entry_set_size(e, sizeof(zeros));
	write_entry(t, e, zeros, sizeof(zeros));
}

static void build_oversized_header(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)t;
	(void)s;
	size_t len = 2 * 1024 * 1024;
	char *name = malloc(len);
	assert_non_null(name);
	memset(name, 'n', len);
	raw_header(raw, "././@LongLink", 13, 'L', len);
	raw_data(raw, name, len);
	free(name);
	raw_header(raw, "short", 5, '0', 0);
	raw_end(raw);
}

/* A pax "path" record whose value hides "/../../x" behind a NUL. */
static void build_name_with_nul(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)t;
	(void)s;
	static const char value[] = "evil\0/../../" ESCAPE_NAME;
	char record[128];
	size_t body = strlen(" path=") + sizeof(value) - 1 + 1;
	int digits = snprintf(NULL, 0, "%zu", body + 2);
	size_t total = body + (size_t)digits;
	int n = snprintf(record, sizeof(record), "%zu path=", total);
	memcpy(record + n, value, sizeof(value) - 1);
	record[n + sizeof(value) - 1] = '\n';
	assert_int_equal((size_t)n + sizeof(value), total);
	raw_header(raw, "PaxHeader/evil", 14, 'x', total);
	raw_data(raw, record, total);
	raw_header(raw, "evil", 4, '0', 3);
	raw_data(raw, "nul", 3);
	raw_end(raw);
}

static void check_name_with_nul(const struct sandbox *s)
{
	/* libarchive ends the name at the NUL; what remains is harmless. */
	assert_layer_file(s, "evil", "nul");
	char names[256];
	list_dir(s->target, names, sizeof(names));
	assert_string_equal(names, "evil");
}

static void build_whiteouts(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	(void)s;
	add_dir(t, "etc", 0755);
	add_file(t, "etc/.wh.passwd", "", 0644);
	add_dir(t, "usr", 0755);
	add_file(t, "usr/.wh..wh..opq", "", 0644);
	add_file(t, "usr/kept", "new", 0644);
	add_file(t, "var/lib/.wh.gone", "", 0644); /* parents not listed */
	add_file(t, ".wh..wh.plnk", "", 0644);     /* aufs bookkeeping */
	add_file(t, "same", "stays", 0644);        /* hides lower layers only */
	add_file(t, ".wh.same", "", 0644);
	add_file(t, ".wh.later", "", 0644);
	add_file(t, "later", "replaces the whiteout", 0644);
}

static void assert_whiteout(const struct sandbox *s, const char *rel)
{
	struct stat st = layer_lstat(s, rel);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(0, 0));
}

static void check_whiteouts(const struct sandbox *s)
{
	char path[PATH_MAX], value[8] = {0};
	assert_whiteout(s, "etc/passwd");
	assert_whiteout(s, "var/lib/gone");
	assert_false(layer_has(s, "etc/.wh.passwd"));
	layer_path(s, "usr", path);
	assert_int_equal(getxattr(path, "trusted.overlay.opaque", value, sizeof(value)), 1);
	assert_string_equal(value, "y");
	layer_path(s, "etc", path);
	assert_int_equal(getxattr(path, "trusted.overlay.opaque", value, sizeof(value)), -1);
	assert_false(layer_has(s, "usr/.wh..wh..opq"));
	assert_false(layer_has(s, ".wh..wh.plnk"));
	assert_layer_file(s, "usr/kept", "new");
	assert_layer_file(s, "same", "stays");
	assert_layer_file(s, "later", "replaces the whiteout");
}

static void build_bad_whiteout(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	(void)s;
	add_file(t, "d/.wh..", "", 0644);
}

static void build_file_replaces_dir(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	(void)s;
	add_dir(t, "d", 0755);
	add_dir(t, "d/sub", 0755);
	add_file(t, "d/sub/f", "deep", 0644);
	add_file(t, "d", "now a file", 0600);
}

static void check_file_replaces_dir(const struct sandbox *s)
{
	struct stat st = layer_lstat(s, "d");
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_layer_file(s, "d", "now a file");
}

static void build_dir_replaces_file(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	(void)s;
	add_file(t, "f", "a file first", 0644);
	add_symlink(t, "l", "/somewhere");
	add_dir(t, "f", 0750);
	add_file(t, "f/g", "inside", 0644);
	add_dir(t, "l", 0755);
	add_file(t, "l/h", "not through the old symlink", 0644);
	add_dir(t, "f", 0711); /* a directory again: merged, mode updated */
}

static void check_dir_replaces_file(const struct sandbox *s)
{
	struct stat st = layer_lstat(s, "f");
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0711);
	assert_layer_file(s, "f/g", "inside");
	assert_true(S_ISDIR(layer_lstat(s, "l").st_mode));
	assert_layer_file(s, "l/h", "not through the old symlink");
	assert_false(layer_has(s, "somewhere"));
}

static void build_modes_and_owners(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	(void)s;
	t->uid = 3;
	t->gid = 4;
	t->mtime = 1111111111;
	add_dir(t, "./", 0700);
	add_dir(t, "tmp", 01777);
	t->uid = 1000;
	t->gid = 2000;
	t->mtime = 1234567890;
	add_file(t, "tmp/suid", "s", 04755);
	add_file(t, "tmp/sgid", "s", 02711);
	t->uid = 5;
	t->gid = 6;
	add_symlink(t, "tmp/link", "suid");
	struct archive_entry *e = new_entry(t, "tmp/xattrs", AE_IFREG, 0644);
	archive_entry_xattr_add_entry(e, "user.comment", "kept", 4);
	archive_entry_xattr_add_entry(e, "trusted.overlay.redirect", "/etc", 4);
	archive_entry_xattr_add_entry(e, "security.selinux", "label", 5);
	write_entry(t, e, NULL, 0);
}

static void check_modes_and_owners(const struct sandbox *s)
{
	struct stat st = layer_lstat(s, "");
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_uid, 3);
	assert_int_equal(st.st_mtime, 1111111111);
	st = layer_lstat(s, "tmp");
	assert_int_equal(st.st_mode & 07777, 01777);
	assert_int_equal(st.st_gid, 4);
	/* Set after the files inside were written. */
	assert_int_equal(st.st_mtime, 1111111111);
	st = layer_lstat(s, "tmp/suid");
	assert_int_equal(st.st_mode & 07777, 04755);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 2000);
	assert_int_equal(st.st_mtime, 1234567890);
	assert_int_equal(layer_lstat(s, "tmp/sgid").st_mode & 07777, 02711);
	st = layer_lstat(s, "tmp/link");
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_uid, 5);
	assert_int_equal(st.st_gid, 6);
	assert_int_equal(st.st_mtime, 1234567890);

	char path[PATH_MAX], value[16] = {0};
	layer_path(s, "tmp/xattrs", path);
	assert_int_equal(getxattr(path, "user.comment", value, sizeof(value)), 4);
	assert_string_equal(value, "kept");
	assert_int_equal(getxattr(path, "trusted.overlay.redirect", value, sizeof(value)), -1);
	assert_int_equal(getxattr(path, "security.selinux", value, sizeof(value)), -1);
}

static void build_root_not_dir(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	(void)s;
	add_file(t, ".", "not a directory", 0644);
}

static void build_deep_then_fail(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	(void)s;
	char name[PATH_MAX] = "";
	for (int i = 0; i < 1000; i++) {
		strcat(name, i ? "/d" : "d");
		add_dir(t, name, 0755);
	}
	add_file(t, "../fail", "", 0644);
}

static void build_plain(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)raw;
	(void)s;
	add_dir(t, "etc", 0755);
	add_file(t, "etc/hostname", "layer\n", 0644);
}

static void check_plain(const struct sandbox *s)
{
	assert_layer_file(s, "etc/hostname", "layer\n");
	/* No "./" entry: the root is 0755 like any image's. */
	assert_int_equal(layer_lstat(s, "").st_mode & 07777, 0755);
}

static void build_truncated(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)t;
	(void)s;
	raw_header(raw, "cut", 3, '0', 4096);
	raw_data(raw, "only this much", 14);
}

static void build_not_tar(struct tar_builder *t, struct buf *raw, const struct sandbox *s)
{
	(void)t;
	(void)s;
	for (int i = 0; i < 64; i++)
		buf_puts(raw, "this is not a tar archive at all. ");
}

#define CASE(what_, build_, expected_, check_)                                         \
	{                                                                              \
		.what = what_, .build = build_, .expected = expected_, .check = check_ \
	}
#define RAW_CASE(what_, build_, expected_, check_)                                  \
	{                                                                           \
		.what = what_, .build = build_, .raw = true, .expected = expected_, \
		.check = check_                                                     \
	}

static const struct unpack_case cases[] = {
    CASE("../x", build_dotdot, -EINVAL, NULL),
    CASE("absolute names", build_absolute, 0, check_absolute),
    CASE("a/../../x", build_dotdot_middle, -EINVAL, NULL),
    CASE("symlink to / then a file through it", build_symlink_to_root, 0, check_symlink_to_root),
    CASE("symlinks to .. in chains", build_dotdot_symlink_chain, 0, check_dotdot_symlink_chain),
    CASE("symlink loop", build_symlink_loop, -ELOOP, NULL),
    CASE("hardlink to /etc/passwd", build_hardlink_passwd, -ENOENT, NULL),
    CASE("hardlink through a symlink to /etc", build_hardlink_through_symlink, -ENOENT, NULL),
    CASE("hardlink with ..", build_hardlink_dotdot, -EINVAL, NULL),
    CASE("hardlinks inside", build_hardlink_inside, 0, check_hardlink_inside),
    CASE("device nodes", build_devices, 0, check_devices),
    CASE("fifo", build_fifo, 0, check_fifo),
    RAW_CASE("huge size", build_huge_size, -EFBIG, NULL),
    {.what = "file over the limit",
     .build = build_over_file_limit,
     .expected = -EFBIG,
     .limits = &small_limits},
    {.what = "too many entries",
     .build = build_over_entry_limit,
     .expected = -EFBIG,
     .limits = &small_limits},
    {.what = "stream over the limit",
     .build = build_bomb,
     .expected = -EFBIG,
     .limits = &bomb_limits},
    RAW_CASE("oversized header", build_oversized_header, -EINVAL, NULL),
    RAW_CASE("name with NUL", build_name_with_nul, 0, check_name_with_nul),
    CASE("whiteouts and opaque directories", build_whiteouts, 0, check_whiteouts),
    CASE("whiteout of ..", build_bad_whiteout, -EINVAL, NULL),
    CASE("file replaces a directory", build_file_replaces_dir, 0, check_file_replaces_dir),
    CASE("directory replaces a file and a symlink", build_dir_replaces_file, 0,
	 check_dir_replaces_file),
    CASE("modes, owners, times and xattrs kept", build_modes_and_owners, 0, check_modes_and_owners),
    CASE("root entry that is a file", build_root_not_dir, -EINVAL, NULL),
    CASE("deep tree removed after a failure", build_deep_then_fail, -EINVAL, NULL),
    {.what = "matching diffID",
     .build = build_plain,
     .expected = 0,
     .check = check_plain,
     .diff_id_of = "own"},
    {.what = "wrong diffID", .build = build_plain, .expected = -EILSEQ, .diff_id_of = "wrong"},
    RAW_CASE("truncated archive", build_truncated, -EINVAL, NULL),
    RAW_CASE("not a tar", build_not_tar, -EILSEQ, NULL),
};

/* --- running them ------------------------------------------------------------------------ */

struct fixture {
	const struct unpack_case *c;
	struct sandbox sandbox;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->c = *state;
	sandbox_init(&f->sandbox);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	sandbox_remove(&f->sandbox);
	free(f);
	return 0;
}

static int memfd_with(const void *data, size_t len)
{
	int fd = memfd_create("layer", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static void digest_of(const void *data, size_t len, char out[IMAGE_DIGEST_LENGTH + 1])
{
	assert_int_equal(image_digest_of(data, len, out, NULL), 0);
}

static int unpack_bytes(const struct sandbox *s, const void *data, size_t len,
			const struct unpack_options *options, struct ck_error *err)
{
	int fd = memfd_with(data, len);
	int r = unpack_tar(fd, s->target, options, err);
	close(fd);
	return r;
}

static void run_case(void **state)
{
	if (geteuid() != 0)
		skip();
	struct fixture *f = *state;
	const struct unpack_case *c = f->c;
	struct tar_builder tar = {0};
	struct buf raw = {0};
	if (!c->raw)
		builder_start_filtered(&tar, c->build == build_bomb ? ARCHIVE_FILTER_GZIP
								    : ARCHIVE_FILTER_NONE);
	c->build(&tar, &raw, &f->sandbox);
	if (!c->raw) {
		builder_finish(&tar);
		raw = tar.out;
	}

	char digest[IMAGE_DIGEST_LENGTH + 1];
	struct unpack_options options = {.limits = c->limits, .work_dir = f->sandbox.work};
	if (c->diff_id_of) {
		digest_of(raw.data, raw.len, digest);
		if (strcmp(c->diff_id_of, "wrong") == 0)
			digest[10] = digest[10] == '0' ? '1' : '0';
		options.diff_id = digest;
	}
	struct ck_error err = {0};
	int r = unpack_bytes(&f->sandbox, raw.data, raw.len, &options, &err);
	buf_free(&raw);
	if (r != c->expected)
		fail_msg("%s: got %d (%s), expected %d", c->what, r, err.message, c->expected);
	if (r < 0) {
		assert_non_null(strstr(err.message, "unpack "));
		print_message("    %s: %s\n", c->what, err.message);
	}
	assert_nothing_outside(&f->sandbox, r == 0);
	if (r == 0 && c->check)
		c->check(&f->sandbox);
}

/* The same layer in each compression, unpacked beside the target (no work directory), and
 * again onto a target that exists: the first copy stays, the second goes. */
static void compressions_and_existing_target(void **state)
{
	if (geteuid() != 0)
		skip();
	struct fixture *f = *state;
	static const int filters[] = {ARCHIVE_FILTER_NONE, ARCHIVE_FILTER_GZIP,
				      ARCHIVE_FILTER_ZSTD};
	char plain_digest[IMAGE_DIGEST_LENGTH + 1];
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		struct tar_builder t;
		builder_start_filtered(&t, filters[i]);
		build_plain(&t, NULL, &f->sandbox);
		builder_finish(&t);
		if (i == 0)
			digest_of(t.out.data, t.out.len, plain_digest);
		struct unpack_options options = {.diff_id = plain_digest};
		struct ck_error err = {0};
		int r = unpack_bytes(&f->sandbox, t.out.data, t.out.len, &options, &err);
		buf_free(&t.out);
		if (r != 0)
			fail_msg("filter %d: %s", filters[i], err.message);
		assert_nothing_outside(&f->sandbox, true);
		check_plain(&f->sandbox);
	}
}

int main(void)
{
	size_t n = sizeof(cases) / sizeof(cases[0]);
	struct CMUnitTest tests[sizeof(cases) / sizeof(cases[0]) + 1];
	for (size_t i = 0; i < n; i++)
		tests[i] = (struct CMUnitTest){
		    .name = cases[i].what,
		    .test_func = run_case,
		    .setup_func = setup,
		    .teardown_func = teardown,
		    .initial_state = (void *)&cases[i],
		};
	tests[n] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
	    compressions_and_existing_target, setup, teardown);
	return _cmocka_run_group_tests("unpack_tar", tests, n + 1, NULL, NULL);
}
