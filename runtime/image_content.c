/* Removing blobs and layers no image record needs. What a removed (or replaced) image alone used
 * goes at once; a sweep takes everything else unreferenced, but only while no pull or import
 * holds a lease: their content has no record until their last step. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "runtime/image_store_internal.h"

/* The layer leaves layers/ in one rename, so no one ever sees it half removed; the tree is
 * then deleted from a work directory of tmp/, which the sweep of tmp/ finishes if this process
 * ends first. */
static int remove_layer(struct image_store *store, const char *diff_id, struct ck_error *err)
{
	_cleanup_free_ char *path = store_digest_path(store->layers_dir, diff_id, "");
	_cleanup_free_ char *work = NULL;
	if (!path)
		return ck_error_set(err, ENOMEM, "remove layer %s: out of memory", diff_id);
	_cleanup_close_ int held = store_work_entry(store, "removed", true, &work, err);
	if (held < 0)
		return ck_error_prefix(err, "remove layer %s", diff_id);
	if (renameat(AT_FDCWD, path, held, "layer") < 0 && errno != ENOENT) {
		int saved = errno;
		rmdir(work);
		return ck_error_errno(err, saved, "remove layer %s: rename %s", diff_id, path);
	}
	if (fs_remove_tree(AT_FDCWD, work, err) < 0)
		return ck_error_prefix(err, "remove layer %s", diff_id);
	return 0;
}

static int remove_blob(struct image_store *store, const char *digest, struct ck_error *err)
{
	_cleanup_free_ char *path = store_digest_path(store->blobs_dir, digest, "");
	_cleanup_free_ char *lock = store_digest_path(store->locks_dir, digest, ".lock");
	if (!path || !lock)
		return ck_error_set(err, ENOMEM, "remove blob %s: out of memory", digest);
	if (unlink(path) < 0 && errno != ENOENT)
		return ck_error_errno(err, errno, "remove blob %s", path);
	/* A puller still waiting on the old lock file and one locking a new one would both
	 * fetch; the renames into blobs/ make that harmless. */
	if (unlink(lock) < 0 && errno != ENOENT)
		return ck_error_errno(err, errno, "remove lock %s", lock);
	return 0;
}

/* Every blob and layer the images refer to, as "blob:<digest>" / "layer:<diffID>" keys of one
 * object. */
static json_t *content_in_use(const json_t *images)
{
	json_t *keep = json_object();
	size_t i, l;
	const json_t *entry, *layer;
	char key[IMAGE_DIGEST_LENGTH + 8];
	json_array_foreach (images, i, entry) {
		const char *digests[] = {
		    json_string_value(json_object_get(entry, "id")),
		    json_string_value(json_object_get(entry, "manifestDigest"))};
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

/* The content of `gone` that is not kept. */
static int remove_unused_content(struct image_store *store, const struct image_record *gone,
				 const json_t *keep, size_t *removed, struct ck_error *err)
{
	int ret = 0;
	const char *blobs[] = {gone->manifest_digest, gone->id};
	for (size_t i = 0; ret == 0 && i < gone->layer_count + 2; i++) {
		const char *digest = i < 2 ? blobs[i] : gone->layers[i - 2].digest;
		if (!kept(keep, "blob", digest) && (ret = remove_blob(store, digest, err)) == 0)
			(*removed)++;
	}
	for (size_t i = 0; ret == 0 && i < gone->layer_count; i++) {
		const char *diff_id = gone->layers[i].diff_id;
		if (!kept(keep, "layer", diff_id) && (ret = remove_layer(store, diff_id, err)) == 0)
			(*removed)++;
	}
	return ret < 0 ? ck_error_prefix(err, "image %s", gone->id) : 0;
}

/* Everything in `dir` (blobs/sha256 or layers/sha256) that is not kept as `kind`. Names that
 * are not digests were not put there by the store and stay. */
static int sweep_dir(struct image_store *store, const char *dir, const char *kind,
		     const json_t *keep, size_t *removed, struct ck_error *err)
{
	DIR *listing = opendir(dir);
	if (!listing)
		return ck_error_errno(err, errno, "sweep %s", dir);
	bool layers = strcmp(kind, "layer") == 0;
	int ret = 0;
	struct dirent *entry;
	while (ret == 0 && (entry = readdir(listing))) {
		char digest[IMAGE_DIGEST_LENGTH + 8];
		snprintf(digest, sizeof(digest), "sha256:%s", entry->d_name);
		if (!image_digest_valid(digest) || kept(keep, kind, digest))
			continue;
		ret = layers ? remove_layer(store, digest, err) : remove_blob(store, digest, err);
		if (ret == 0) {
			log_info("image store %s: swept %s %s, which no image uses", store->root,
				 kind, digest);
			(*removed)++;
		}
	}
	closedir(listing);
	return ret;
}

int store_release_content(struct image_store *store, const struct image_record *gone,
			  const json_t *images, struct ck_error *err)
{
	_cleanup_json_ json_t *keep = content_in_use(images);
	if (!keep)
		return ck_error_set(err, ENOMEM, "image store %s: out of memory", store->root);
	size_t removed = 0;
	int ret = gone ? remove_unused_content(store, gone, keep, &removed, err) : 0;
	_cleanup_close_ int sweeping =
	    ret < 0 ? -1 : store_lock_file(store->lease_lock_path, LOCK_EX | LOCK_NB, NULL);
	if (sweeping >= 0)
		ret = sweep_dir(store, store->blobs_dir, "blob", keep, &removed, err);
	if (sweeping >= 0 && ret == 0)
		ret = sweep_dir(store, store->layers_dir, "layer", keep, &removed, err);
	return ret < 0 ? ret : (int)removed;
}

int image_store_lease(struct image_store *store, struct ck_error *err)
{
	return store_lock_file(store->lease_lock_path, LOCK_SH, err);
}

int image_store_sweep(struct image_store *store, struct ck_error *err)
{
	_cleanup_close_ int lock = store_lock_file(store->index_lock_path, LOCK_EX, err);
	if (lock < 0)
		return lock;
	_cleanup_json_ json_t *images = NULL;
	int ret = store_index_read(store, &images, err);
	if (ret == 0)
		ret = store_release_content(store, NULL, images, err);
	return ret;
}
