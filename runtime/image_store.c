/* The image store's files and its index of images. Layer unpacking lives in layer_unpack.c. */
#include "runtime/image_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/gnutls_dl.h"
#include "runtime/image_ref.h"

#define DIGEST_PREFIX "sha256:"
#define DIGEST_PREFIX_LENGTH 7
#define SHA256_BYTES 32
/* Unpacked layers can hold set-user-ID programs: only root may reach into the store. */
#define STORE_DIR_MODE 0700
#define BLOB_MODE 0644

struct image_store {
	char *root;
	char *blobs_dir;
	char *layers_dir;
	char *tmp_dir;
	char *locks_dir;
	char *index_path;
	char *index_lock_path;
};

struct blob_writer {
	struct image_store *store;
	char digest[IMAGE_DIGEST_LENGTH + 1];
	int64_t expected_size;
	int64_t written;
	int fd;
	char *tmp_path;
	gnutls_hash_hd_t hash;
};

bool image_digest_valid(const char *digest)
{
	if (!digest || strncmp(digest, DIGEST_PREFIX, DIGEST_PREFIX_LENGTH) != 0)
		return false;
	const char *hex = digest + DIGEST_PREFIX_LENGTH;
	return strlen(hex) == 2 * SHA256_BYTES && strspn(hex, "0123456789abcdef") == strlen(hex);
}

static void format_digest(const unsigned char *sum, char *out)
{
	memcpy(out, DIGEST_PREFIX, DIGEST_PREFIX_LENGTH);
	for (size_t i = 0; i < SHA256_BYTES; i++)
		sprintf(out + DIGEST_PREFIX_LENGTH + 2 * i, "%02x", sum[i]);
}

int image_digest_of(const void *data, size_t len, char *out, struct ck_error *err)
{
	if (dlopen_gnutls(err) < 0)
		return ck_error_prefix(err, "sha256");
	unsigned char sum[SHA256_BYTES];
	if (sym_gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, sum) < 0)
		return ck_error_set(err, EIO, "sha256: the hash failed");
	format_digest(sum, out);
	return 0;
}

static const char *hex_of(const char *digest)
{
	return digest + DIGEST_PREFIX_LENGTH;
}

static char *path_join(const char *dir, const char *name)
{
	char *path = NULL;
	return asprintf(&path, "%s/%s", dir, name) < 0 ? NULL : path;
}

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
	if (!store->root || !store->blobs_dir || !store->layers_dir || !store->tmp_dir ||
	    !store->locks_dir || !store->index_path || !store->index_lock_path) {
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

/* --- blobs ------------------------------------------------------------------------------- */

static char *blob_file(const struct image_store *store, const char *digest)
{
	return path_join(store->blobs_dir, hex_of(digest));
}

char *image_store_blob_path(struct image_store *store, const char *digest)
{
	if (!image_digest_valid(digest)) {
		errno = EINVAL;
		return NULL;
	}
	char *path = blob_file(store, digest);
	struct stat st;
	if (!path) {
		errno = ENOMEM;
		return NULL;
	}
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
		free(path);
		errno = ENOENT;
		return NULL;
	}
	return path;
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
	w->fd = -1;
	w->store = store;
	w->expected_size = size;
	strcpy(w->digest, digest);
	if (asprintf(&w->tmp_path, "%s/blob-%.12s-XXXXXX", store->tmp_dir, hex_of(digest)) < 0) {
		w->tmp_path = NULL;
		blob_writer_abort(w);
		return ck_error_set(err, ENOMEM, "blob %s: out of memory", digest);
	}
	w->fd = mkostemp(w->tmp_path, O_CLOEXEC);
	if (w->fd < 0) {
		int saved = errno;
		free(w->tmp_path);
		w->tmp_path = NULL;
		blob_writer_abort(w);
		return ck_error_errno(err, saved, "blob %s: create a file in %s", digest,
				      store->tmp_dir);
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
	unsigned char sum[SHA256_BYTES];
	char actual[IMAGE_DIGEST_LENGTH + 1];
	sym_gnutls_hash_deinit(w->hash, sum);
	w->hash = NULL;
	format_digest(sum, actual);
	if (w->expected_size >= 0 && w->written != w->expected_size)
		return ck_error_set(err, EIO, "blob %s: %lld bytes instead of %lld", w->digest,
				    (long long)w->written, (long long)w->expected_size);
	if (strcmp(actual, w->digest) != 0)
		return ck_error_set(err, EIO, "blob %s: digest mismatch: the content is %s",
				    w->digest, actual);
	if (fchmod(w->fd, BLOB_MODE) < 0 || fsync(w->fd) < 0)
		return ck_error_errno(err, errno, "blob %s: sync %s", w->digest, w->tmp_path);
	int fd = steal_fd(&w->fd);
	if (close(fd) < 0)
		return ck_error_errno(err, errno, "blob %s: close %s", w->digest, w->tmp_path);
	_cleanup_free_ char *final_path = blob_file(w->store, w->digest);
	if (!final_path)
		return ck_error_set(err, ENOMEM, "blob %s: out of memory", w->digest);
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

static int lock_file(const char *path, int operation, struct ck_error *err)
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

int image_store_lock_digest(struct image_store *store, const char *digest, struct ck_error *err)
{
	if (!image_digest_valid(digest))
		return ck_error_set(err, EINVAL, "lock %s: not a sha256 digest", digest);
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/%s.lock", store->locks_dir, hex_of(digest)) < 0)
		return ck_error_set(err, ENOMEM, "lock %s: out of memory", digest);
	return lock_file(path, LOCK_EX, err);
}

/* --- layers ------------------------------------------------------------------------------ */

char *image_store_layer_path(struct image_store *store, const char *diff_id)
{
	if (!image_digest_valid(diff_id)) {
		errno = EINVAL;
		return NULL;
	}
	char *path = path_join(store->layers_dir, hex_of(diff_id));
	struct stat st;
	if (!path) {
		errno = ENOMEM;
		return NULL;
	}
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		free(path);
		errno = ENOENT;
		return NULL;
	}
	return path;
}

/* The layer leaves layers/ in one rename, so no one ever sees it half removed; the tree is
 * then deleted from tmp/. */
static int remove_layer(struct image_store *store, const char *diff_id, struct ck_error *err)
{
	_cleanup_free_ char *path = path_join(store->layers_dir, hex_of(diff_id));
	_cleanup_free_ char *doomed = NULL;
	if (!path || asprintf(&doomed, "%s/removed-%s-XXXXXX", store->tmp_dir, hex_of(diff_id)) < 0)
		return ck_error_set(err, ENOMEM, "remove layer %s: out of memory", diff_id);
	if (!mkdtemp(doomed))
		return ck_error_errno(err, errno, "remove layer %s: make %s", diff_id, doomed);
	if (rename(path, doomed) < 0) {
		int saved = errno;
		rmdir(doomed);
		return saved == ENOENT ? 0
				       : ck_error_errno(err, saved, "remove layer %s: rename %s",
							diff_id, path);
	}
	if (fs_remove_tree(AT_FDCWD, doomed, err) < 0)
		return ck_error_prefix(err, "remove layer %s", diff_id);
	return 0;
}

static int remove_blob(struct image_store *store, const char *digest, struct ck_error *err)
{
	_cleanup_free_ char *path = blob_file(store, digest);
	_cleanup_free_ char *lock = NULL;
	if (!path || asprintf(&lock, "%s/%s.lock", store->locks_dir, hex_of(digest)) < 0)
		return ck_error_set(err, ENOMEM, "remove blob %s: out of memory", digest);
	if (unlink(path) < 0 && errno != ENOENT)
		return ck_error_errno(err, errno, "remove blob %s", path);
	/* A puller still waiting on the old lock file and one locking a new one would both
	 * fetch; the renames into blobs/ make that harmless. */
	if (unlink(lock) < 0 && errno != ENOENT)
		return ck_error_errno(err, errno, "remove lock %s", lock);
	return 0;
}

/* --- records in index.json --------------------------------------------------------------- */

void image_record_free(struct image_record *record)
{
	if (!record)
		return;
	free(record->id);
	free(record->manifest_digest);
	for (size_t i = 0; i < record->name_count; i++)
		free(record->names[i]);
	free(record->names);
	for (size_t i = 0; i < record->layer_count; i++) {
		free(record->layers[i].digest);
		free(record->layers[i].diff_id);
		free(record->layers[i].media_type);
	}
	free(record->layers);
	json_decref(record->config);
	free(record);
}

static json_t *record_to_json(const struct image_record *record)
{
	json_t *names = json_array();
	json_t *layers = json_array();
	for (size_t i = 0; i < record->name_count; i++)
		json_array_append_new(names, json_string(record->names[i]));
	for (size_t i = 0; i < record->layer_count; i++) {
		const struct image_layer *layer = &record->layers[i];
		json_array_append_new(layers, json_pack("{s:s, s:s, s:s, s:I}", "digest",
							layer->digest, "diffID", layer->diff_id,
							"mediaType", layer->media_type, "size",
							(json_int_t)layer->size));
	}
	return json_pack("{s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:O}", "id", record->id,
			 "manifestDigest", record->manifest_digest, "names", names, "layers",
			 layers, "size", (json_int_t)record->size, "created",
			 (json_int_t)record->created, "lastUsed", (json_int_t)record->last_used,
			 "config", record->config ? record->config : json_null());
}

static char *dup_json_string(const json_t *obj, const char *key)
{
	const char *value = json_string_value(json_object_get(obj, key));
	return value ? strdup(value) : NULL;
}

static int64_t json_int_or_zero(const json_t *obj, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(obj, key));
}

static int layer_from_json(const json_t *entry, struct image_layer *layer)
{
	layer->digest = dup_json_string(entry, "digest");
	layer->diff_id = dup_json_string(entry, "diffID");
	layer->media_type = dup_json_string(entry, "mediaType");
	layer->size = json_int_or_zero(entry, "size");
	return image_digest_valid(layer->digest) && image_digest_valid(layer->diff_id) &&
		       layer->media_type
		   ? 0
		   : -EINVAL;
}

/* index.json is ours, but a damaged file must not crash the agent: every field is checked. */
static int record_from_json(const json_t *entry, struct image_record **out)
{
	struct image_record *record = calloc(1, sizeof(*record));
	if (!record)
		return -ENOMEM;
	const json_t *names = json_object_get(entry, "names");
	const json_t *layers = json_object_get(entry, "layers");
	record->id = dup_json_string(entry, "id");
	record->manifest_digest = dup_json_string(entry, "manifestDigest");
	record->size = json_int_or_zero(entry, "size");
	record->created = json_int_or_zero(entry, "created");
	record->last_used = json_int_or_zero(entry, "lastUsed");
	const json_t *config = json_object_get(entry, "config");
	record->config = json_is_object(config) ? json_deep_copy(config) : json_object();
	record->names = calloc(json_array_size(names) + 1, sizeof(char *));
	record->layers = calloc(json_array_size(layers) + 1, sizeof(*record->layers));
	int ret = image_digest_valid(record->id) && image_digest_valid(record->manifest_digest) &&
			  json_is_array(names) && json_is_array(layers) && record->config &&
			  record->names && record->layers
		      ? 0
		      : -EINVAL;
	size_t i;
	const json_t *item;
	json_array_foreach (names, i, item) {
		if (ret < 0)
			break;
		record->names[i] = json_is_string(item) ? strdup(json_string_value(item)) : NULL;
		record->name_count = i + 1;
		if (!record->names[i])
			ret = -EINVAL;
	}
	json_array_foreach (layers, i, item) {
		if (ret < 0)
			break;
		record->layer_count = i + 1;
		ret = layer_from_json(item, &record->layers[i]);
	}
	if (ret < 0) {
		image_record_free(record);
		return ret;
	}
	*out = record;
	return 0;
}

/* The images array of index.json; empty when the store has never had an image. */
static int index_read(struct image_store *store, json_t **images, struct ck_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int ret = fs_read_file(store->index_path, &text, &len, err);
	if (ret == -ENOENT) {
		*images = json_array();
		return *images ? 0 : ck_error_set(err, ENOMEM, "image index: out of memory");
	}
	if (ret < 0)
		return ret;
	json_error_t json_err;
	_cleanup_json_ json_t *doc = json_loadb(text, len, 0, &json_err);
	json_t *array = json_object_get(doc, "images");
	if (!json_is_array(array))
		return ck_error_set(err, EINVAL, "image index %s: damaged (%s)", store->index_path,
				    doc ? "no images list" : json_err.text);
	*images = json_incref(array);
	return 0;
}

static int index_write(struct image_store *store, json_t *images, struct ck_error *err)
{
	_cleanup_json_ json_t *doc = json_pack("{s:i, s:O}", "schemaVersion", 1, "images", images);
	_cleanup_free_ char *text = doc ? json_dumps(doc, JSON_INDENT(1)) : NULL;
	if (!text)
		return ck_error_set(err, ENOMEM, "image index: out of memory");
	return fs_write_file_atomic(store->index_path, text, strlen(text), 0600, err);
}

static bool names_contain(const json_t *names, const char *name)
{
	size_t i;
	const json_t *item;
	json_array_foreach (names, i, item) {
		const char *text = json_string_value(item);
		if (text && strcmp(text, name) == 0)
			return true;
	}
	return false;
}

static void names_remove(json_t *names, const char *name)
{
	for (size_t i = json_array_size(names); i-- > 0;) {
		const char *text = json_string_value(json_array_get(names, i));
		if (text && strcmp(text, name) == 0)
			json_array_remove(names, i);
	}
}

static const char *entry_id(const json_t *entry)
{
	const char *id = json_string_value(json_object_get(entry, "id"));
	return id ? id : "";
}

/* The entry named `reference` or with that ID; the reference is also tried normalized. *by_id
 * tells which matched. */
static ssize_t index_lookup(const json_t *images, const char *reference, bool *by_id)
{
	struct image_ref parsed;
	_cleanup_free_ char *normalized = NULL;
	if (image_ref_parse(reference, &parsed, NULL) == 0) {
		normalized = image_ref_string(&parsed);
		image_ref_clear(&parsed);
	}
	size_t i;
	const json_t *entry;
	json_array_foreach (images, i, entry) {
		const json_t *names = json_object_get(entry, "names");
		*by_id = strcmp(entry_id(entry), reference) == 0;
		if (*by_id || names_contain(names, reference) ||
		    (normalized && names_contain(names, normalized)))
			return (ssize_t)i;
	}
	return -1;
}

static int check_record(const struct image_record *record, struct ck_error *err)
{
	if (!image_digest_valid(record->id) || !image_digest_valid(record->manifest_digest))
		return ck_error_set(err, EINVAL, "image %s: bad ID or manifest digest",
				    record->id ? record->id : "(none)");
	for (size_t i = 0; i < record->name_count; i++) {
		if (!record->names[i] || !record->names[i][0])
			return ck_error_set(err, EINVAL, "image %s: empty name", record->id);
	}
	for (size_t i = 0; i < record->layer_count; i++) {
		const struct image_layer *layer = &record->layers[i];
		if (!image_digest_valid(layer->digest) || !image_digest_valid(layer->diff_id) ||
		    !layer->media_type)
			return ck_error_set(err, EINVAL, "image %s: layer %zu: bad digest",
					    record->id, i);
	}
	return 0;
}

static int require_content(struct image_store *store, const struct image_record *record,
			   struct ck_error *err)
{
	const char *blobs[] = {record->manifest_digest, record->id};
	for (size_t i = 0; i < record->layer_count + 2; i++) {
		const char *digest = i < 2 ? blobs[i] : record->layers[i - 2].digest;
		_cleanup_free_ char *path = image_store_blob_path(store, digest);
		if (!path)
			return ck_error_set(err, ENOENT, "image %s: blob %s is not in the store",
					    record->id, digest);
	}
	for (size_t i = 0; i < record->layer_count; i++) {
		_cleanup_free_ char *path =
		    image_store_layer_path(store, record->layers[i].diff_id);
		if (!path)
			return ck_error_set(err, ENOENT,
					    "image %s: layer %s is not unpacked in the store",
					    record->id, record->layers[i].diff_id);
	}
	return 0;
}

/* The new entry keeps the names and the creation time of the one it replaces. */
static void merge_previous(json_t *entry, const json_t *previous)
{
	json_t *names = json_object_get(entry, "names");
	size_t i;
	json_t *name;
	json_array_foreach (json_object_get(previous, "names"), i, name) {
		if (!names_contain(names, json_string_value(name)))
			json_array_append(names, name);
	}
	json_object_set(entry, "created", json_object_get(previous, "created"));
	if (json_int_or_zero(previous, "lastUsed") > json_int_or_zero(entry, "lastUsed"))
		json_object_set(entry, "lastUsed", json_object_get(previous, "lastUsed"));
}

int image_store_put(struct image_store *store, const struct image_record *record,
		    struct ck_error *err)
{
	int ret = check_record(record, err);
	if (ret < 0)
		return ret;
	_cleanup_close_ int lock = lock_file(store->index_lock_path, LOCK_EX, err);
	if (lock < 0)
		return lock;
	_cleanup_json_ json_t *images = NULL;
	if ((ret = require_content(store, record, err)) < 0 ||
	    (ret = index_read(store, &images, err)) < 0)
		return ret;
	_cleanup_json_ json_t *entry = record_to_json(record);
	if (!entry)
		return ck_error_set(err, ENOMEM, "image %s: out of memory", record->id);
	int64_t now = (int64_t)time(NULL);
	if (!record->created)
		json_object_set_new(entry, "created", json_integer(now));
	if (!record->last_used)
		json_object_set_new(entry, "lastUsed", json_integer(now));
	ssize_t replaced = -1;
	size_t i;
	json_t *other;
	json_array_foreach (images, i, other) {
		if (strcmp(entry_id(other), record->id) == 0) {
			merge_previous(entry, other);
			replaced = (ssize_t)i;
			continue;
		}
		for (size_t n = 0; n < record->name_count; n++)
			names_remove(json_object_get(other, "names"), record->names[n]);
	}
	if (replaced >= 0)
		json_array_set(images, (size_t)replaced, entry);
	else
		json_array_append(images, entry);
	return index_write(store, images, err);
}

int image_store_find(struct image_store *store, const char *reference, struct image_record **out,
		     struct ck_error *err)
{
	*out = NULL;
	_cleanup_json_ json_t *images = NULL;
	int ret = index_read(store, &images, err);
	if (ret < 0)
		return ret;
	bool by_id;
	ssize_t at = index_lookup(images, reference, &by_id);
	if (at < 0)
		return ck_error_set(err, ENOENT, "image %s: not in the store", reference);
	if (record_from_json(json_array_get(images, (size_t)at), out) < 0)
		return ck_error_set(err, EINVAL, "image index %s: damaged entry for %s",
				    store->index_path, reference);
	return 0;
}

int image_store_list(struct image_store *store, struct image_record ***out, size_t *count,
		     struct ck_error *err)
{
	_cleanup_json_ json_t *images = NULL;
	int ret = index_read(store, &images, err);
	if (ret < 0)
		return ret;
	struct image_record **records = calloc(json_array_size(images) + 1, sizeof(*records));
	if (!records)
		return ck_error_set(err, ENOMEM, "image index: out of memory");
	size_t i;
	const json_t *entry;
	json_array_foreach (images, i, entry) {
		if (record_from_json(entry, &records[i]) < 0) {
			for (size_t j = 0; j < i; j++)
				image_record_free(records[j]);
			free(records);
			return ck_error_set(err, EINVAL, "image index %s: damaged entry %zu",
					    store->index_path, i);
		}
	}
	*out = records;
	*count = json_array_size(images);
	return 0;
}

static bool id_in_use(const char *id, const char *const *in_use)
{
	for (; in_use && *in_use; in_use++) {
		if (strcmp(*in_use, id) == 0)
			return true;
	}
	return false;
}

/* Every blob and layer the remaining images refer to, as "blob:<digest>" / "layer:<diffID>"
 * keys of one object. */
static json_t *content_in_use(const json_t *images)
{
	json_t *keep = json_object();
	size_t i, l;
	const json_t *entry, *layer;
	char key[IMAGE_DIGEST_LENGTH + 8];
	json_array_foreach (images, i, entry) {
		const char *digests[] = {
		    entry_id(entry), json_string_value(json_object_get(entry, "manifestDigest"))};
		for (size_t d = 0; d < 2; d++) {
			snprintf(key, sizeof(key), "blob:%s", digests[d] ? digests[d] : "");
			json_object_set_new(keep, key, json_true());
		}
		json_array_foreach (json_object_get(entry, "layers"), l, layer) {
			const char *digest = json_string_value(json_object_get(layer, "digest"));
			const char *diff_id = json_string_value(json_object_get(layer, "diffID"));
			snprintf(key, sizeof(key), "blob:%s", digest ? digest : "");
			json_object_set_new(keep, key, json_true());
			snprintf(key, sizeof(key), "layer:%s", diff_id ? diff_id : "");
			json_object_set_new(keep, key, json_true());
		}
	}
	return keep;
}

static bool kept(const json_t *keep, const char *kind, const char *digest)
{
	char key[IMAGE_DIGEST_LENGTH + 8];
	snprintf(key, sizeof(key), "%s:%s", kind, digest);
	return json_object_get(keep, key) != NULL;
}

static int remove_unused_content(struct image_store *store, const struct image_record *gone,
				 const json_t *images, struct ck_error *err)
{
	_cleanup_json_ json_t *keep = content_in_use(images);
	if (!keep)
		return ck_error_set(err, ENOMEM, "image %s: out of memory", gone->id);
	int ret = 0;
	const char *blobs[] = {gone->manifest_digest, gone->id};
	for (size_t i = 0; ret == 0 && i < gone->layer_count + 2; i++) {
		const char *digest = i < 2 ? blobs[i] : gone->layers[i - 2].digest;
		if (!kept(keep, "blob", digest))
			ret = remove_blob(store, digest, err);
	}
	for (size_t i = 0; ret == 0 && i < gone->layer_count; i++) {
		if (!kept(keep, "layer", gone->layers[i].diff_id))
			ret = remove_layer(store, gone->layers[i].diff_id, err);
	}
	return ret < 0 ? ck_error_prefix(err, "image %s", gone->id) : 0;
}

int image_store_remove(struct image_store *store, const char *reference, const char *const *in_use,
		       struct ck_error *err)
{
	_cleanup_close_ int lock = lock_file(store->index_lock_path, LOCK_EX, err);
	if (lock < 0)
		return lock;
	_cleanup_json_ json_t *images = NULL;
	int ret = index_read(store, &images, err);
	if (ret < 0)
		return ret;
	bool by_id;
	ssize_t at = index_lookup(images, reference, &by_id);
	if (at < 0)
		return ck_error_set(err, ENOENT, "image %s: not in the store", reference);
	json_t *entry = json_array_get(images, (size_t)at);
	json_t *names = json_object_get(entry, "names");
	if (by_id) {
		json_array_clear(names);
	} else {
		struct image_ref parsed;
		_cleanup_free_ char *normalized = NULL;
		if (image_ref_parse(reference, &parsed, NULL) == 0) {
			normalized = image_ref_string(&parsed);
			image_ref_clear(&parsed);
		}
		names_remove(names, reference);
		if (normalized)
			names_remove(names, normalized);
	}
	if (json_array_size(names) > 0 || id_in_use(entry_id(entry), in_use))
		return index_write(store, images, err);

	struct image_record *gone = NULL;
	if (record_from_json(entry, &gone) < 0)
		return ck_error_set(err, EINVAL, "image index %s: damaged entry for %s",
				    store->index_path, reference);
	json_array_remove(images, (size_t)at);
	/* The index forgets the image before its files go: a crash in between leaves unused
	 * files, never an image with missing ones. */
	ret = index_write(store, images, err);
	if (ret == 0)
		ret = remove_unused_content(store, gone, images, err);
	image_record_free(gone);
	return ret;
}

int image_store_touch(struct image_store *store, const char *id, struct ck_error *err)
{
	_cleanup_close_ int lock = lock_file(store->index_lock_path, LOCK_EX, err);
	if (lock < 0)
		return lock;
	_cleanup_json_ json_t *images = NULL;
	int ret = index_read(store, &images, err);
	if (ret < 0)
		return ret;
	size_t i;
	json_t *entry;
	json_array_foreach (images, i, entry) {
		if (strcmp(entry_id(entry), id) == 0) {
			json_object_set_new(entry, "lastUsed",
					    json_integer((json_int_t)time(NULL)));
			return index_write(store, images, err);
		}
	}
	return ck_error_set(err, ENOENT, "image %s: not in the store", id);
}
