/* Layer extraction: libarchive parses, openat2() resolves every path inside the layer
 * directory, and the layer only appears once it is complete and verified. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/gnutls_dl.h"
#include "lib/log.h"
#include "runtime/archive_dl.h"
#include "runtime/image_digest.h"
#include "lib/path_in_root.h"
#include "runtime/unpack_tar.h"

const struct unpack_limits unpack_default_limits = {
    .max_stream_bytes = INT64_C(256) << 30,
    .max_file_bytes = INT64_C(64) << 30,
    .max_entries = INT64_C(4) << 20,
};

#define WHITEOUT_PREFIX ".wh."
#define OPAQUE_MARKER ".wh..wh..opq"
#define OPAQUE_XATTR "trusted.overlay.opaque"
/* Directory mtimes are set after every entry is written (writing into a directory changes
 * it), so their paths are remembered until then; this caps that memory. */
#define DIR_TIMES_BUDGET (INT64_C(64) << 20)
#define READ_BLOCK_SIZE (128 * 1024)

/* --- the uncompressed stream ------------------------------------------------------------ */

/* One libarchive reader only undoes the compression (format "raw"); the tar reader pulls the
 * result through read_tar_bytes(). Hashing there covers every byte of the tar stream, also
 * the parts the tar reader skips, and the drain after the end-of-archive marker. */
struct tar_stream {
	struct archive *decompressor;
	gnutls_hash_hd_t sha256;
	int64_t bytes;
	int64_t max_bytes;
	struct ck_error failure; /* why the stream stopped, when it was not libarchive's fault */
};

/* 1 with a block of data, 0 at the end, or a negative errno (in stream->failure). */
static int tar_stream_next(struct tar_stream *stream, const void **block, size_t *size)
{
	la_int64_t offset;
	int r;
	do
		r = sym_archive_read_data_block(stream->decompressor, block, size, &offset);
	while (r == ARCHIVE_OK && *size == 0);
	if (r == ARCHIVE_EOF)
		return 0;
	if (r != ARCHIVE_OK)
		return archive_error(&stream->failure, stream->decompressor, "decompress");
	if ((int64_t)*size > stream->max_bytes - stream->bytes)
		return ck_error_set(&stream->failure, EFBIG,
				    "uncompressed layer larger than the limit of %lld bytes",
				    (long long)stream->max_bytes);
	stream->bytes += (int64_t)*size;
	sym_gnutls_hash(stream->sha256, *block, *size);
	return 1;
}

static la_ssize_t read_tar_bytes(struct archive *tar, void *ctx, const void **block)
{
	struct tar_stream *stream = ctx;
	size_t size = 0;
	int r = tar_stream_next(stream, block, &size);
	if (r < 0) {
		sym_archive_set_error(tar, stream->failure.code, "%s", stream->failure.message);
		return -1;
	}
	return (la_ssize_t)size;
}

static int tar_stream_open(struct tar_stream *stream, int fd, struct ck_error *err)
{
	if (sym_gnutls_hash_init(&stream->sha256, GNUTLS_DIG_SHA256) < 0)
		return ck_error_set(err, ENOMEM, "start SHA-256");
	stream->decompressor = sym_archive_read_new();
	if (!stream->decompressor)
		return ck_error_set(err, ENOMEM, "allocate a libarchive reader");
	struct archive *a = stream->decompressor;
	struct archive_entry *whole;
	if (sym_archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    sym_archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
	    sym_archive_read_support_format_raw(a) != ARCHIVE_OK)
		return archive_error(err, a, "set up decompression");
	if (sym_archive_read_open_fd(a, fd, READ_BLOCK_SIZE) != ARCHIVE_OK ||
	    sym_archive_read_next_header(a, &whole) != ARCHIVE_OK)
		return archive_error(err, a, "open the layer stream");
	return 0;
}

static void tar_stream_close(struct tar_stream *stream)
{
	if (stream->decompressor)
		sym_archive_read_free(stream->decompressor);
	if (stream->sha256)
		sym_gnutls_hash_deinit(stream->sha256, NULL);
}

/* Reads what follows the end-of-archive marker, so the digest covers the whole stream. */
static int tar_stream_drain(struct tar_stream *stream, struct ck_error *err)
{
	const void *block;
	size_t size;
	int r;
	while ((r = tar_stream_next(stream, &block, &size)) > 0)
		;
	if (r < 0) {
		*err = stream->failure;
		return r;
	}
	return 0;
}

static int tar_stream_verify(struct tar_stream *stream, const char *diff_id, struct ck_error *err)
{
	unsigned char sum[IMAGE_SHA256_BYTES];
	char digest[IMAGE_DIGEST_LENGTH + 1];
	sym_gnutls_hash_deinit(stream->sha256, sum);
	stream->sha256 = NULL;
	image_digest_format(sum, digest);
	if (diff_id && strcmp(digest, diff_id) != 0)
		return ck_error_set(err, EILSEQ, "uncompressed layer has digest %s, expected %s",
				    digest, diff_id);
	return 0;
}

/* --- paths ------------------------------------------------------------------------------- */

/* The entry's name relative to the layer root: no leading "/" or "./", no empty or "."
 * components, no trailing "/"; "" is the root. ".." is refused rather than clamped: no layer
 * needs it, and an archive that has it is up to something. */
static int clean_path(const char *name, char out[PATH_MAX], struct ck_error *err)
{
	size_t len = 0;
	for (const char *p = name; *p;) {
		if (*p == '/') {
			p++;
			continue;
		}
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return ck_error_set(err, EINVAL, "path has a \"..\" component");
		if (n > NAME_MAX)
			return ck_error_set(err, ENAMETOOLONG, "name longer than %d bytes",
					    NAME_MAX);
		if (!(n == 1 && p[0] == '.')) {
			if (len + 1 + n >= PATH_MAX)
				return ck_error_set(err, ENAMETOOLONG, "path longer than %d bytes",
						    PATH_MAX - 1);
			if (len)
				out[len++] = '/';
			memcpy(out + len, p, n);
			len += n;
		}
		p = end;
	}
	out[len] = '\0';
	return 0;
}

/* Names from an archive go into messages and logs: control bytes become '?', length is
 * capped. */
static void printable_name(const char *name, char out[256])
{
	size_t i = 0;
	for (; name[i] && i < 255; i++)
		out[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
	out[i] = '\0';
}

/* The directory `dir` (clean, relative to the root). Directories the tar never listed are
 * created as root-owned 0755, as tar does; symlinks on the way are followed inside the root,
 * as they will be in the container. */
static int open_parent(int root_fd, const char *dir, struct ck_error *err)
{
	int fd = path_open_in_root(root_fd, dir, O_RDONLY | O_DIRECTORY);
	if (fd >= 0)
		return fd;
	if (fd != -ENOENT)
		return ck_error_errno(err, -fd, "open directory \"%s\"", dir);

	char prefix[PATH_MAX];
	_cleanup_close_ int current = path_open_in_root(root_fd, "", O_RDONLY | O_DIRECTORY);
	if (current < 0)
		return ck_error_errno(err, -current, "open the layer root");
	for (const char *p = dir; *p;) {
		const char *end = strchrnul(p, '/');
		memcpy(prefix, dir, (size_t)(end - dir));
		prefix[end - dir] = '\0';
		const char *component = prefix + (p - dir);
		int next = path_open_in_root(root_fd, prefix, O_RDONLY | O_DIRECTORY);
		if (next == -ENOENT) {
			/* EEXIST here means a dangling symlink: the entry would land wherever
			 * it points, which is not worth creating a tree for. */
			if (mkdirat(current, component, 0755) < 0)
				return ck_error_errno(err, errno, "create directory \"%s\"",
						      prefix);
			next = path_open_child(current, component, O_RDONLY | O_DIRECTORY, 0);
			if (next >= 0 && fchmod(next, 0755) < 0) {
				int saved = errno;
				close(next);
				return ck_error_errno(err, saved, "chmod directory \"%s\"", prefix);
			}
		}
		if (next < 0)
			return ck_error_errno(err, -next, "open directory \"%s\"", prefix);
		close(current);
		current = next;
		p = *end ? end + 1 : end;
	}
	return steal_fd(&current);
}

/* --- replacing ---------------------------------------------------------------------------- */

/* Makes room for a new entry `name`. Returns 1 when a directory is there and
 * `merge_directory` keeps it. */
static int clear_name(int parent_fd, const char *name, bool merge_directory, struct ck_error *err)
{
	struct stat st;
	if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0
				       : ck_error_errno(err, errno, "inspect the existing entry");
	if (S_ISDIR(st.st_mode))
		return merge_directory ? 1 : fs_remove_tree(parent_fd, name, err);
	if (unlinkat(parent_fd, name, 0) < 0)
		return ck_error_errno(err, errno, "remove the existing entry");
	return 0;
}

/* --- metadata ---------------------------------------------------------------------------- */

struct entry_meta {
	uid_t uid;
	gid_t gid;
	mode_t perm;
	struct timespec times[2]; /* atime, mtime; UTIME_OMIT when the tar has none */
};

static int read_meta(struct archive_entry *entry, struct entry_meta *meta, struct ck_error *err)
{
	la_int64_t uid = sym_archive_entry_uid(entry);
	la_int64_t gid = sym_archive_entry_gid(entry);
	/* (uid_t)-1 would mean "leave unchanged" to chown(). */
	if (uid < 0 || uid >= UINT32_MAX || gid < 0 || gid >= UINT32_MAX)
		return ck_error_set(err, ERANGE, "owner %lld:%lld out of range", (long long)uid,
				    (long long)gid);
	meta->uid = (uid_t)uid;
	meta->gid = (gid_t)gid;
	meta->perm = sym_archive_entry_perm(entry) & 07777;
	struct timespec mtime = {.tv_nsec = UTIME_OMIT};
	long nsec = sym_archive_entry_mtime_nsec(entry);
	if (sym_archive_entry_mtime_is_set(entry)) {
		mtime.tv_sec = sym_archive_entry_mtime(entry);
		mtime.tv_nsec = nsec >= 0 && nsec < 1000000000 ? nsec : 0;
	}
	meta->times[0] = mtime;
	meta->times[1] = mtime;
	return 0;
}

/* Only namespaces an image may set: user.* and file capabilities. trusted.* belongs to
 * overlayfs (opaque, redirect, metacopy) and must never come from a layer. */
static bool xattr_allowed(const char *name)
{
	return strncmp(name, "user.", 5) == 0 || strcmp(name, "security.capability") == 0;
}

/* chown() clears setuid bits and file capabilities, so the order is owner, mode, xattrs. */
static int apply_owner_mode_xattrs(int fd, struct archive_entry *entry,
				   const struct entry_meta *meta, struct ck_error *err)
{
	if (fchown(fd, meta->uid, meta->gid) < 0)
		return ck_error_errno(err, errno, "set owner %u:%u", meta->uid, meta->gid);
	if (fchmod(fd, meta->perm) < 0)
		return ck_error_errno(err, errno, "set mode %04o", meta->perm);
	const char *name;
	const void *value;
	size_t size;
	sym_archive_entry_xattr_reset(entry);
	while (sym_archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
		if (!xattr_allowed(name)) {
			log_debug("layer entry %s: xattr %s dropped",
				  sym_archive_entry_pathname(entry), name);
			continue;
		}
		if (fsetxattr(fd, name, value, size, 0) < 0)
			return ck_error_errno(err, errno, "set xattr %s", name);
	}
	return 0;
}

/* Symlinks and fifos cannot be opened for writing metadata, so they are set by name. */
static int apply_meta_by_name(int parent_fd, const char *name, const struct entry_meta *meta,
			      bool set_mode, struct ck_error *err)
{
	if (fchownat(parent_fd, name, meta->uid, meta->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return ck_error_errno(err, errno, "set owner %u:%u", meta->uid, meta->gid);
	if (set_mode && fchmodat(parent_fd, name, meta->perm, 0) < 0)
		return ck_error_errno(err, errno, "set mode %04o", meta->perm);
	if (utimensat(parent_fd, name, meta->times, AT_SYMLINK_NOFOLLOW) < 0)
		return ck_error_errno(err, errno, "set times");
	return 0;
}

/* --- entries ----------------------------------------------------------------------------- */

struct dir_time {
	char *path;
	struct timespec times[2];
};

struct unpacker {
	int root_fd;
	const struct unpack_limits *limits;
	int64_t entries;
	bool root_listed; /* the tar has an entry for the root itself, with its mode */
	struct dir_time *dir_times;
	size_t dir_time_count;
	size_t dir_time_capacity;
	int64_t dir_time_bytes;
};

static void unpacker_clear(struct unpacker *u)
{
	for (size_t i = 0; i < u->dir_time_count; i++)
		free(u->dir_times[i].path);
	free(u->dir_times);
}

static int remember_dir_time(struct unpacker *u, const char *path, const struct entry_meta *meta,
			     struct ck_error *err)
{
	if (meta->times[1].tv_nsec == UTIME_OMIT)
		return 0;
	int64_t len = (int64_t)strlen(path) + 1;
	if (u->dir_time_bytes + len > DIR_TIMES_BUDGET)
		return ck_error_set(err, E2BIG, "too many directories (over %lld bytes of paths)",
				    (long long)DIR_TIMES_BUDGET);
	if (u->dir_time_count == u->dir_time_capacity) {
		size_t capacity = u->dir_time_capacity ? 2 * u->dir_time_capacity : 64;
		struct dir_time *grown = reallocarray(u->dir_times, capacity, sizeof(*grown));
		if (!grown)
			return ck_error_set(err, ENOMEM, "remember directory times");
		u->dir_times = grown;
		u->dir_time_capacity = capacity;
	}
	char *copy = strdup(path);
	if (!copy)
		return ck_error_set(err, ENOMEM, "remember directory times");
	struct dir_time *slot = &u->dir_times[u->dir_time_count++];
	slot->path = copy;
	memcpy(slot->times, meta->times, sizeof(slot->times));
	u->dir_time_bytes += len;
	return 0;
}

/* In tar order, so a directory listed twice gets the later time. One replaced by a
 * non-directory since then is skipped. */
static int restore_dir_times(struct unpacker *u, struct ck_error *err)
{
	for (size_t i = 0; i < u->dir_time_count; i++) {
		const char *path = u->dir_times[i].path;
		_cleanup_close_ int fd =
		    path_open_in_root(u->root_fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
			continue;
		if (fd < 0)
			return ck_error_errno(err, -fd, "open directory \"%s\"", path);
		if (futimens(fd, u->dir_times[i].times) < 0)
			return ck_error_errno(err, errno, "set times of \"%s\"", path);
	}
	return 0;
}

static int place_root(struct unpacker *u, struct archive_entry *entry, struct ck_error *err)
{
	struct entry_meta meta;
	if (sym_archive_entry_filetype(entry) != AE_IFDIR)
		return ck_error_set(err, EINVAL, "the layer root must be a directory");
	int r = read_meta(entry, &meta, err);
	if (r == 0)
		r = apply_owner_mode_xattrs(u->root_fd, entry, &meta, err);
	if (r == 0)
		r = remember_dir_time(u, "", &meta, err);
	u->root_listed = true;
	return r;
}

static int place_whiteout(int parent_fd, const char *name, struct ck_error *err)
{
	if (strcmp(name, OPAQUE_MARKER) == 0) {
		if (fsetxattr(parent_fd, OPAQUE_XATTR, "y", 1, 0) < 0)
			return ck_error_errno(err, errno, "mark the directory opaque");
		return 0;
	}
	const char *hidden = name + strlen(WHITEOUT_PREFIX);
	/* ".wh..wh.plnk" and the like are aufs bookkeeping, with no meaning for overlayfs. */
	if (strncmp(hidden, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0)
		return 0;
	if (!*hidden || strcmp(hidden, ".") == 0 || strcmp(hidden, "..") == 0)
		return ck_error_set(err, EINVAL, "whiteout without a name");
	/* A whiteout hides lower layers only: an entry of this layer under the name stays. */
	struct stat st;
	if (fstatat(parent_fd, hidden, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if (errno != ENOENT)
		return ck_error_errno(err, errno, "inspect \"%s\"", hidden);
	if (mknodat(parent_fd, hidden, S_IFCHR, makedev(0, 0)) < 0)
		return ck_error_errno(err, errno, "create whiteout");
	return 0;
}

static int place_hardlink(struct unpacker *u, int parent_fd, const char *name,
			  const char *raw_target, struct ck_error *err)
{
	char target[PATH_MAX];
	char shown[256];
	if (clean_path(raw_target, target, err) < 0)
		return ck_error_prefix(err, "hardlink target");
	printable_name(target, shown);
	if (!*target)
		return ck_error_set(err, EPERM, "hardlink to the layer root");
	_cleanup_close_ int source = path_open_in_root(u->root_fd, target, O_PATH | O_NOFOLLOW);
	if (source < 0)
		return ck_error_errno(err, -source, "hardlink target \"%s\"", shown);
	struct stat st, existing;
	if (fstat(source, &st) < 0)
		return ck_error_errno(err, errno, "hardlink target \"%s\"", shown);
	if (S_ISDIR(st.st_mode))
		return ck_error_set(err, EPERM, "hardlink to the directory \"%s\"", shown);
	if (fstatat(parent_fd, name, &existing, AT_SYMLINK_NOFOLLOW) == 0 &&
	    existing.st_dev == st.st_dev && existing.st_ino == st.st_ino)
		return 0;
	int r = clear_name(parent_fd, name, false, err);
	if (r < 0)
		return r;
	if (linkat(source, "", parent_fd, name, AT_EMPTY_PATH) < 0)
		return ck_error_errno(err, errno, "link to \"%s\"", shown);
	return 0;
}

static int write_file_data(struct archive *tar, int fd, int64_t size, struct ck_error *err)
{
	const void *block;
	size_t len;
	la_int64_t offset;
	int r;
	while ((r = sym_archive_read_data_block(tar, &block, &len, &offset)) == ARCHIVE_OK) {
		if (offset < 0 || offset > size || (int64_t)len > size - offset)
			return ck_error_set(err, EINVAL, "data beyond the declared size");
		for (size_t done = 0; done < len;) {
			ssize_t n = pwrite(fd, (const char *)block + done, len - done,
					   offset + (off_t)done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return ck_error_errno(err, n < 0 ? errno : EIO, "write");
			done += (size_t)n;
		}
	}
	if (r != ARCHIVE_EOF)
		return archive_error(err, tar, "read file data");
	/* Sparse files end in a hole that no block covers. */
	if (ftruncate(fd, size) < 0)
		return ck_error_errno(err, errno, "set size");
	return 0;
}

static int place_file(struct unpacker *u, struct archive *tar, struct archive_entry *entry,
		      int parent_fd, const char *name, const struct entry_meta *meta,
		      struct ck_error *err)
{
	int64_t size = sym_archive_entry_size(entry);
	if (size < 0 || size > u->limits->max_file_bytes)
		return ck_error_set(err, EFBIG, "size %lld over the limit of %lld bytes",
				    (long long)size, (long long)u->limits->max_file_bytes);
	int r = clear_name(parent_fd, name, false, err);
	if (r < 0)
		return r;
	_cleanup_close_ int fd =
	    path_open_child(parent_fd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return ck_error_errno(err, -fd, "create file");
	r = write_file_data(tar, fd, size, err);
	if (r == 0)
		r = apply_owner_mode_xattrs(fd, entry, meta, err);
	if (r == 0 && futimens(fd, meta->times) < 0)
		r = ck_error_errno(err, errno, "set times");
	return r;
}

static int place_directory(struct unpacker *u, struct archive_entry *entry, int parent_fd,
			   const char *path, const char *name, const struct entry_meta *meta,
			   struct ck_error *err)
{
	int r = clear_name(parent_fd, name, true, err);
	if (r < 0)
		return r;
	if (r == 0 && mkdirat(parent_fd, name, 0700) < 0)
		return ck_error_errno(err, errno, "create directory");
	_cleanup_close_ int fd = path_open_child(parent_fd, name, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return ck_error_errno(err, -fd, "open directory");
	r = apply_owner_mode_xattrs(fd, entry, meta, err);
	return r < 0 ? r : remember_dir_time(u, path, meta, err);
}

static int place_symlink(struct archive_entry *entry, int parent_fd, const char *name,
			 const struct entry_meta *meta, struct ck_error *err)
{
	/* Any target is fine, also absolute or "../../..": it is only ever followed inside a
	 * root, by this unpacker (RESOLVE_IN_ROOT) and in the container. */
	const char *target = sym_archive_entry_symlink(entry);
	if (!target || !*target)
		return ck_error_set(err, EINVAL, "symlink without a target");
	if (strlen(target) >= PATH_MAX)
		return ck_error_set(err, ENAMETOOLONG, "symlink target longer than %d bytes",
				    PATH_MAX - 1);
	int r = clear_name(parent_fd, name, false, err);
	if (r < 0)
		return r;
	if (symlinkat(target, parent_fd, name) < 0)
		return ck_error_errno(err, errno, "create symlink");
	return apply_meta_by_name(parent_fd, name, meta, false, err);
}

static int place_fifo(int parent_fd, const char *name, const struct entry_meta *meta,
		      struct ck_error *err)
{
	int r = clear_name(parent_fd, name, false, err);
	if (r < 0)
		return r;
	if (mknodat(parent_fd, name, S_IFIFO | 0600, 0) < 0)
		return ck_error_errno(err, errno, "create fifo");
	return apply_meta_by_name(parent_fd, name, meta, true, err);
}

static int place_entry(struct unpacker *u, struct archive *tar, struct archive_entry *entry,
		       const char *path, struct ck_error *err)
{
	if (!*path)
		return place_root(u, entry, err);
	struct entry_meta meta;
	int r = read_meta(entry, &meta, err);
	if (r < 0)
		return r;
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	char dir[PATH_MAX];
	memcpy(dir, path, (size_t)(name - path));
	dir[slash ? slash - path : 0] = '\0';
	_cleanup_close_ int parent_fd = open_parent(u->root_fd, dir, err);
	if (parent_fd < 0)
		return parent_fd;

	if (strncmp(name, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0)
		return place_whiteout(parent_fd, name, err);
	const char *hardlink = sym_archive_entry_hardlink(entry);
	if (hardlink)
		return place_hardlink(u, parent_fd, name, hardlink, err);
	switch (sym_archive_entry_filetype(entry)) {
	case AE_IFREG:
		return place_file(u, tar, entry, parent_fd, name, &meta, err);
	case AE_IFDIR:
		return place_directory(u, entry, parent_fd, path, name, &meta, err);
	case AE_IFLNK:
		return place_symlink(entry, parent_fd, name, &meta, err);
	case AE_IFIFO:
		return place_fifo(parent_fd, name, &meta, err);
	case AE_IFCHR:
	case AE_IFBLK:
		log_debug("layer entry %s: device node skipped", path);
		return 0;
	default:
		return ck_error_set(err, EINVAL, "unsupported entry type 0%o",
				    (unsigned)sym_archive_entry_filetype(entry));
	}
}

static int unpack_entry(struct unpacker *u, struct archive *tar, struct archive_entry *entry,
			struct ck_error *err)
{
	if (++u->entries > u->limits->max_entries)
		return ck_error_set(err, EFBIG, "more than %lld entries",
				    (long long)u->limits->max_entries);
	const char *raw = sym_archive_entry_pathname(entry);
	if (!raw)
		return ck_error_set(err, EINVAL, "entry without a name");
	char path[PATH_MAX];
	int r = clean_path(raw, path, err);
	if (r == 0)
		r = place_entry(u, tar, entry, path, err);
	if (r < 0) {
		char shown[256];
		printable_name(raw, shown);
		return ck_error_prefix(err, "entry \"%s\"", shown);
	}
	return 0;
}

/* --- the whole layer --------------------------------------------------------------------- */

static int read_entries(struct unpacker *u, struct tar_stream *stream, struct ck_error *err)
{
	_cleanup_archive_ struct archive *tar = sym_archive_read_new();
	if (!tar)
		return ck_error_set(err, ENOMEM, "allocate a libarchive reader");
	if (sym_archive_read_support_format_tar(tar) != ARCHIVE_OK)
		return archive_error(err, tar, "set up the tar reader");
	if (sym_archive_read_open(tar, stream, NULL, read_tar_bytes, NULL) != ARCHIVE_OK)
		goto failed;
	for (;;) {
		struct archive_entry *entry;
		int r = sym_archive_read_next_header(tar, &entry);
		if (r == ARCHIVE_EOF)
			return 0;
		/* Warnings are about names libarchive could not convert to the locale; the
		 * bytes are still there, and every name is checked here anyway. */
		if (r < ARCHIVE_WARN)
			goto failed;
		r = unpack_entry(u, tar, entry, err);
		if (r < 0)
			return r;
	}
failed:
	if (stream->failure.code) {
		*err = stream->failure;
		return -err->code;
	}
	return archive_error(err, tar, "read tar");
}

static int unpack_into(int fd, int root_fd, const struct unpack_limits *limits, const char *diff_id,
		       struct ck_error *err)
{
	struct tar_stream stream = {.max_bytes = limits->max_stream_bytes};
	struct unpacker u = {.root_fd = root_fd, .limits = limits};
	int r = tar_stream_open(&stream, fd, err);
	if (r == 0)
		r = read_entries(&u, &stream, err);
	if (r == 0)
		r = tar_stream_drain(&stream, err);
	if (r == 0)
		r = tar_stream_verify(&stream, diff_id, err);
	if (r == 0 && !u.root_listed && fchmod(root_fd, 0755) < 0)
		r = ck_error_errno(err, errno, "chmod the layer root");
	if (r == 0)
		r = restore_dir_times(&u, err);
	unpacker_clear(&u);
	tar_stream_close(&stream);
	return r;
}

/* "<work_dir>/.unpack-<target's name>-XXXXXX", created. */
static int make_work_dir(const char *work_dir, const char *base, char **path, struct ck_error *err)
{
	if (asprintf(path, "%s/.unpack-%s-XXXXXX", work_dir, base) < 0) {
		*path = NULL;
		return ck_error_set(err, ENOMEM, "out of memory");
	}
	if (!mkdtemp(*path))
		return ck_error_errno(err, errno, "create a temporary directory in %s", work_dir);
	return 0;
}

int unpack_tar(int fd, const char *target, const struct unpack_options *options,
	       struct ck_error *err)
{
	const struct unpack_limits *limits =
	    options && options->limits ? options->limits : &unpack_default_limits;
	const char *diff_id = options ? options->diff_id : NULL;
	if (diff_id && strncmp(diff_id, "sha256:", 7) != 0)
		return ck_error_set(err, EINVAL, "unpack %s: unsupported digest %s", target,
				    diff_id);
	if (dlopen_archive(err) < 0 || dlopen_gnutls(err) < 0)
		return ck_error_prefix(err, "unpack %s", target);

	const char *slash = strrchr(target, '/');
	const char *base = slash ? slash + 1 : target;
	_cleanup_free_ char *parent =
	    slash ? strndup(target, (size_t)(slash - target)) : strdup(".");
	if (!parent)
		return ck_error_set(err, ENOMEM, "unpack %s: out of memory", target);
	if (!*parent) {
		free(parent);
		parent = strdup("/");
	}
	const char *work_dir = options && options->work_dir ? options->work_dir : parent;
	_cleanup_close_ int parent_fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int work_fd = open(work_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (parent_fd < 0 || work_fd < 0)
		return ck_error_errno(err, errno, "unpack %s: open %s", target,
				      parent_fd < 0 ? parent : work_dir);
	_cleanup_free_ char *temp = NULL;
	if (make_work_dir(work_dir, base, &temp, err) < 0)
		return ck_error_prefix(err, "unpack %s", target);
	const char *temp_name = strrchr(temp, '/') + 1;

	int r;
	_cleanup_close_ int root_fd =
	    openat(work_fd, temp_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (root_fd < 0)
		r = ck_error_errno(err, errno, "open %s", temp);
	else
		r = unpack_into(fd, root_fd, limits, diff_id, err);
	if (r == 0 && renameat(work_fd, temp_name, parent_fd, base) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY)
			log_debug("unpack %s: already unpacked by someone else", target);
		else
			r = ck_error_errno(err, errno, "rename %s into place", temp);
	}
	struct ck_error cleanup_err = {0};
	if (fs_remove_tree(work_fd, temp_name, &cleanup_err) < 0)
		log_warn("unpack %s: %s", target, cleanup_err.message);
	return r < 0 ? ck_error_prefix(err, "unpack %s", target) : 0;
}
