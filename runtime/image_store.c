/* The image store's files: opening it (and clearing what ended processes left in tmp/), blobs,
 * locks and work entries. The records are image_index.c's, removing content image_content.c's,
 * unpacking layers layer_unpack.c's. */
#include "runtime/image_store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/gnutls_dl.h"
#include "lib/log.h"
#include "runtime/process_spec.h"

/* Unpacked layers can hold set-user-ID programs: only root may reach into the store. */
#define STORE_DIR_MODE 0700
#define BLOB_MODE 0644
/* A sweep of tmp/ can take a work entry between its creation and its flock; it is then made
 * again, at most this many times in all. */
#define WORK_ENTRY_ATTEMPTS 8

struct blob_writer {
	struct image_store *store;
	char digest[IMAGE_DIGEST_LENGTH + 1];
	int64_t expected_size;
	int64_t written;
	int fd;
	char *tmp_path;
	gnutls_hash_hd_t hash;
};

static char *path_join(const char *dir, const char *name)
{
	char *path = NULL;
	return asprintf(&path, "%s/%s", dir, name) < 0 ? NULL : path;
}

char *store_digest_path(const char *dir, const char *digest, const char *suffix)
{
	char *path = NULL;
	return asprintf(&path, "%s/%s%s", dir, image_digest_hex(digest), suffix) < 0 ? NULL : path;
}

int store_lock_file(const char *path, int operation, struct ck_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return ck_error_errno(err, errno, "open lock %s", path);
	while (flock(fd, operation) < 0) {
		if (errno != EINTR)
			return ck_error_errno(err, errno, "lock %s", path);
	}
	return steal_fd(&fd);
}

/* --- work entries in tmp/ ---------------------------------------------------------------- */

/* Locks a new entry: 0 when it is still at `path` once locked, 1 when a sweep removed it
 * first (a sweep holds the lock until the entry is gone), or a negative errno. */
static int lock_new_entry(int fd, const char *path)
{
	struct stat held, named;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	if (fstat(fd, &held) < 0)
		return -errno;
	if (lstat(path, &named) < 0)
		return errno == ENOENT ? 1 : -errno;
	return held.st_dev == named.st_dev && held.st_ino == named.st_ino ? 0 : 1;
}

int store_work_entry(struct image_store *store, const char *prefix, bool directory, char **path,
		     struct ck_error *err)
{
	for (int attempt = 0; attempt < WORK_ENTRY_ATTEMPTS; attempt++) {
		_cleanup_free_ char *candidate = NULL;
		if (asprintf(&candidate, "%s/%s-XXXXXX", store->tmp_dir, prefix) < 0)
			return ck_error_set(err, ENOMEM, "%s: out of memory", store->tmp_dir);
		_cleanup_close_ int fd = -1;
		if (!directory)
			fd = mkostemp(candidate, O_CLOEXEC);
		else if (mkdtemp(candidate))
			fd = open(candidate, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		else
			return ck_error_errno(err, errno, "create a directory in %s",
					      store->tmp_dir);
		if (fd < 0 && !(directory && errno == ENOENT))
			return ck_error_errno(err, errno, "create %s", candidate);
		int r = fd < 0 ? 1 : lock_new_entry(fd, candidate);
		if (r < 0)
			return ck_error_errno(err, -r, "lock %s", candidate);
		if (r == 0) {
			*path = steal_ptr(&candidate);
			return steal_fd(&fd);
		}
	}
	return ck_error_set(err, EAGAIN, "%s: work entries kept being swept away", store->tmp_dir);
}

/* Removes the entries of tmp/ that no live process holds: their flock went with the process.
 * Each is removed with its lock held, so that its creator, if it was only just making it, finds
 * it gone once it gets the lock and makes another (store_work_entry). */
static int sweep_tmp(struct image_store *store, struct ck_error *err)
{
	DIR *dir = opendir(store->tmp_dir);
	if (!dir)
		return ck_error_errno(err, errno, "open %s", store->tmp_dir);
	struct dirent *entry;
	while ((entry = readdir(dir))) {
		const char *name = entry->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		_cleanup_close_ int fd = openat(
		    dirfd(dir), name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		/* Only work entries belong here, never symlinks: one is removed, not followed. */
		if ((fd < 0 && errno != ELOOP) || (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0))
			continue;
		struct ck_error remove_err = {0};
		if (fs_remove_tree(dirfd(dir), name, &remove_err) < 0)
			log_warn("image store %s: %s", store->root, remove_err.message);
		else
			log_info("image store %s: removed tmp/%s, left by a process that ended",
				 store->root, name);
	}
	closedir(dir);
	return 0;
}

/* --- the store --------------------------------------------------------------------------- */

void image_store_close(struct image_store *store)
{
	if (!store)
		return;
	free(store->root);
	free(store->blobs_dir);
	free(store->layers_dir);
	free(store->tmp_dir);
	free(store->locks_dir);
	free(store->index_path);
	free(store->index_lock_path);
	free(store->lease_lock_path);
	free(store);
}

int image_store_open(const char *root, struct image_store **out, struct ck_error *err)
{
	struct image_store *store = calloc(1, sizeof(*store));
	if (!store)
		return ck_error_set(err, ENOMEM, "image store %s: out of memory", root);
	store->root = strdup(root);
	store->blobs_dir = path_join(root, "blobs/sha256");
	store->layers_dir = path_join(root, "layers/sha256");
	store->tmp_dir = path_join(root, "tmp");
	store->locks_dir = path_join(root, "locks");
	store->index_path = path_join(root, "index.json");
	store->index_lock_path = path_join(root, "index.lock");
	store->lease_lock_path = path_join(root, "lease.lock");
	if (!store->root || !store->blobs_dir || !store->layers_dir || !store->tmp_dir ||
	    !store->locks_dir || !store->index_path || !store->index_lock_path ||
	    !store->lease_lock_path) {
		image_store_close(store);
		return ck_error_set(err, ENOMEM, "image store %s: out of memory", root);
	}
	const char *dirs[] = {store->blobs_dir, store->layers_dir, store->tmp_dir,
			      store->locks_dir};
	int ret = fs_mkdir_p(root, STORE_DIR_MODE, err);
	if (ret == 0 && chmod(root, STORE_DIR_MODE) < 0)
		ret = ck_error_errno(err, errno, "chmod %s", root);
	for (size_t i = 0; ret == 0 && i < sizeof(dirs) / sizeof(dirs[0]); i++)
		ret = fs_mkdir_p(dirs[i], STORE_DIR_MODE, err);
	if (ret == 0)
		ret = sweep_tmp(store, err);
	if (ret < 0) {
		image_store_close(store);
		return ck_error_prefix(err, "open image store");
	}
	*out = store;
	return 0;
}

const char *image_store_root(const struct image_store *store)
{
	return store->root;
}

/* --- blobs and layers -------------------------------------------------------------------- */

/* The path of `digest` in `dir` when something of `type` (S_IFREG, S_IFDIR) is there; else
 * NULL with errno set. */
static char *existing_path(const char *dir, const char *digest, mode_t type)
{
	if (!image_digest_valid(digest)) {
		errno = EINVAL;
		return NULL;
	}
	char *path = store_digest_path(dir, digest, "");
	struct stat st;
	if (!path) {
		errno = ENOMEM;
		return NULL;
	}
	if (lstat(path, &st) < 0 || (st.st_mode & S_IFMT) != type) {
		free(path);
		errno = ENOENT;
		return NULL;
	}
	return path;
}

char *image_store_blob_path(struct image_store *store, const char *digest)
{
	return existing_path(store->blobs_dir, digest, S_IFREG);
}

char *image_store_layer_path(struct image_store *store, const char *diff_id)
{
	return existing_path(store->layers_dir, diff_id, S_IFDIR);
}

int image_store_layer_paths(struct image_store *store, const struct image_record *image,
			    char ***out, size_t *count, struct ck_error *err)
{
	char **paths = calloc(image->layer_count + 1, sizeof(char *));

	if (!paths)
		abort();
	for (size_t i = 0; i < image->layer_count; i++) {
		paths[i] = image_store_layer_path(store, image->layers[i].diff_id);
		if (!paths[i]) {
			strv_free(paths);
			return ck_error_set(err, ENOENT, "image %s: layer %s is not unpacked",
					    image->id, image->layers[i].diff_id);
		}
	}
	*out = paths;
	*count = image->layer_count;
	return 0;
}

void blob_writer_abort(struct blob_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp_path)
		unlink(w->tmp_path);
	if (w->hash)
		sym_gnutls_hash_deinit(w->hash, NULL);
	free(w->tmp_path);
	free(w);
}

int image_store_blob_begin(struct image_store *store, const char *digest, int64_t size,
			   struct blob_writer **out, struct ck_error *err)
{
	if (!image_digest_valid(digest))
		return ck_error_set(err, EINVAL, "blob %s: not a sha256 digest", digest);
	if (dlopen_gnutls(err) < 0)
		return ck_error_prefix(err, "blob %s", digest);
	struct blob_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return ck_error_set(err, ENOMEM, "blob %s: out of memory", digest);
	w->store = store;
	w->expected_size = size;
	strcpy(w->digest, digest);
	char prefix[32];
	snprintf(prefix, sizeof(prefix), "blob-%.12s", image_digest_hex(digest));
	w->fd = store_work_entry(store, prefix, false, &w->tmp_path, err);
	if (w->fd < 0) {
		blob_writer_abort(w);
		return ck_error_prefix(err, "blob %s", digest);
	}
	if (sym_gnutls_hash_init(&w->hash, GNUTLS_DIG_SHA256) < 0) {
		w->hash = NULL;
		blob_writer_abort(w);
		return ck_error_set(err, EIO, "blob %s: sha256 unavailable", digest);
	}
	*out = w;
	return 0;
}

int blob_writer_write(struct blob_writer *w, const void *data, size_t len, struct ck_error *err)
{
	if (w->expected_size >= 0 && (uint64_t)w->written + len > (uint64_t)w->expected_size)
		return ck_error_set(err, EFBIG, "blob %s: more than the %lld bytes announced",
				    w->digest, (long long)w->expected_size);
	if (sym_gnutls_hash(w->hash, data, len) < 0)
		return ck_error_set(err, EIO, "blob %s: sha256 failed", w->digest);
	const char *p = data;
	size_t left = len;
	while (left) {
		ssize_t n = write(w->fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ck_error_errno(err, errno, "blob %s: write %s", w->digest,
					      w->tmp_path);
		p += n;
		left -= (size_t)n;
	}
	w->written += (int64_t)len;
	return 0;
}

static int blob_writer_finish(struct blob_writer *w, struct ck_error *err)
{
	unsigned char sum[IMAGE_SHA256_BYTES];
	char actual[IMAGE_DIGEST_LENGTH + 1];
	sym_gnutls_hash_deinit(w->hash, sum);
	w->hash = NULL;
	image_digest_format(sum, actual);
	if (w->expected_size >= 0 && w->written != w->expected_size)
		return ck_error_set(err, EIO, "blob %s: %lld bytes instead of %lld", w->digest,
				    (long long)w->written, (long long)w->expected_size);
	if (strcmp(actual, w->digest) != 0)
		return ck_error_set(err, EIO, "blob %s: digest mismatch: the content is %s",
				    w->digest, actual);
	if (fchmod(w->fd, BLOB_MODE) < 0 || fsync(w->fd) < 0)
		return ck_error_errno(err, errno, "blob %s: sync %s", w->digest, w->tmp_path);
	_cleanup_free_ char *final_path = store_digest_path(w->store->blobs_dir, w->digest, "");
	if (!final_path)
		return ck_error_set(err, ENOMEM, "blob %s: out of memory", w->digest);
	/* Renamed while still open, and so locked: the sweep of tmp/ must not take it first. */
	if (rename(w->tmp_path, final_path) < 0)
		return ck_error_errno(err, errno, "blob %s: rename into %s", w->digest,
				      w->store->blobs_dir);
	free(w->tmp_path);
	w->tmp_path = NULL;
	return 0;
}

int blob_writer_commit(struct blob_writer *w, struct ck_error *err)
{
	int ret = blob_writer_finish(w, err);
	blob_writer_abort(w);
	return ret;
}

int image_store_lock_digest(struct image_store *store, const char *digest, struct ck_error *err)
{
	if (!image_digest_valid(digest))
		return ck_error_set(err, EINVAL, "lock %s: not a sha256 digest", digest);
	_cleanup_free_ char *path = store_digest_path(store->locks_dir, digest, ".lock");
	if (!path)
		return ck_error_set(err, ENOMEM, "lock %s: out of memory", digest);
	return store_lock_file(path, LOCK_EX, err);
}
