/* The image records in index.json: read and checked field by field (a damaged file must not
 * crash the agent), rewritten atomically under the flock of index.lock. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>

#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "runtime/image_ref.h"
#include "runtime/image_store_internal.h"

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

static int damaged_entry(struct image_store *store, const char *what, struct ck_error *err)
{
	return ck_error_set(err, EINVAL, "image index %s: damaged entry for %s", store->index_path,
			    what);
}

int store_index_read(struct image_store *store, json_t **images, struct ck_error *err)
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

static int index_lock(struct image_store *store, struct ck_error *err)
{
	return store_lock_file(store->index_lock_path, LOCK_EX, err);
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

/* The reference as the store names images ("busybox" is docker.io/library/busybox:latest), or
 * NULL when it does not parse. */
static char *normalized(const char *reference)
{
	struct image_ref parsed;
	if (image_ref_parse(reference, &parsed, NULL) < 0)
		return NULL;
	char *name = image_ref_string(&parsed);
	image_ref_clear(&parsed);
	return name;
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

/* The same image (same config) may come with other blobs: compressed otherwise, say. */
static bool same_content(const struct image_record *a, const struct image_record *b)
{
	if (strcmp(a->manifest_digest, b->manifest_digest) != 0 || a->layer_count != b->layer_count)
		return false;
	for (size_t i = 0; i < a->layer_count; i++) {
		if (strcmp(a->layers[i].digest, b->layers[i].digest) != 0 ||
		    strcmp(a->layers[i].diff_id, b->layers[i].diff_id) != 0)
			return false;
	}
	return true;
}

/* Writes the index, where `gone`'s entry was removed or replaced, then lets go of what only it
 * used: a crash in between leaves unused files (for a later sweep), never an image with
 * missing ones. */
static int write_and_release(struct image_store *store, json_t *images,
			     const struct image_record *gone, struct ck_error *err)
{
	int ret = index_write(store, images, err);
	if (ret == 0)
		ret = store_release_content(store, gone, images, err);
	return ret < 0 ? ret : 0;
}

int image_store_put(struct image_store *store, const struct image_record *record,
		    struct ck_error *err)
{
	int ret = check_record(record, err);
	if (ret < 0)
		return ret;
	_cleanup_close_ int lock = index_lock(store, err);
	if (lock < 0)
		return lock;
	_cleanup_json_ json_t *images = NULL;
	if ((ret = require_content(store, record, err)) < 0 ||
	    (ret = store_index_read(store, &images, err)) < 0)
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
	if (replaced < 0) {
		json_array_append(images, entry);
		return index_write(store, images, err);
	}
	struct image_record *previous = NULL;
	if (record_from_json(json_array_get(images, (size_t)replaced), &previous) < 0)
		return damaged_entry(store, record->id, err);
	json_array_set(images, (size_t)replaced, entry);
	ret = same_content(previous, record) ? index_write(store, images, err)
					     : write_and_release(store, images, previous, err);
	image_record_free(previous);
	return ret;
}

/* The index, and where in it the entry named `reference` or with that ID is (the reference is
 * also tried normalized; *by_id tells which matched). */
static int index_find(struct image_store *store, const char *reference, json_t **images, size_t *at,
		      bool *by_id, struct ck_error *err)
{
	int ret = store_index_read(store, images, err);
	if (ret < 0)
		return ret;
	_cleanup_free_ char *name = normalized(reference);
	size_t i;
	const json_t *entry;
	json_array_foreach (*images, i, entry) {
		const json_t *names = json_object_get(entry, "names");
		*by_id = strcmp(entry_id(entry), reference) == 0;
		*at = i;
		if (*by_id || names_contain(names, reference) ||
		    (name && names_contain(names, name)))
			return 0;
	}
	return ck_error_set(err, ENOENT, "image %s: not in the store", reference);
}

int image_store_find(struct image_store *store, const char *reference, struct image_record **out,
		     struct ck_error *err)
{
	*out = NULL;
	_cleanup_json_ json_t *images = NULL;
	size_t at = 0;
	bool by_id = false;
	int ret = index_find(store, reference, &images, &at, &by_id, err);
	if (ret == 0 && record_from_json(json_array_get(images, at), out) < 0)
		ret = damaged_entry(store, reference, err);
	return ret;
}

int image_store_list(struct image_store *store, struct image_record ***out, size_t *count,
		     struct ck_error *err)
{
	_cleanup_json_ json_t *images = NULL;
	int ret = store_index_read(store, &images, err);
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

int image_store_remove(struct image_store *store, const char *reference, const char *const *in_use,
		       struct ck_error *err)
{
	_cleanup_close_ int lock = index_lock(store, err);
	if (lock < 0)
		return lock;
	_cleanup_json_ json_t *images = NULL;
	size_t at = 0;
	bool by_id = false;
	int ret = index_find(store, reference, &images, &at, &by_id, err);
	if (ret < 0)
		return ret;
	json_t *entry = json_array_get(images, at);
	json_t *names = json_object_get(entry, "names");
	if (by_id) {
		json_array_clear(names);
	} else {
		_cleanup_free_ char *name = normalized(reference);
		names_remove(names, reference);
		if (name)
			names_remove(names, name);
	}
	if (json_array_size(names) > 0 || id_in_use(entry_id(entry), in_use))
		return index_write(store, images, err);

	struct image_record *gone = NULL;
	if (record_from_json(entry, &gone) < 0)
		return damaged_entry(store, reference, err);
	json_array_remove(images, at);
	ret = write_and_release(store, images, gone, err);
	image_record_free(gone);
	return ret;
}

int image_store_touch(struct image_store *store, const char *id, struct ck_error *err)
{
	_cleanup_close_ int lock = index_lock(store, err);
	if (lock < 0)
		return lock;
	_cleanup_json_ json_t *images = NULL;
	int ret = store_index_read(store, &images, err);
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
