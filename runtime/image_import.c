/* Image archives into the store, in three steps (see import_internal.h): the catalog of the
 * archive's documents, the plan made of them, then the blobs streamed into the store, layers
 * unpacked and images recorded. Nothing is written before the whole archive has been planned,
 * so most bad archives change nothing. */
#include "runtime/image_import.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "runtime/image_ref.h"
#include "runtime/import_internal.h"

#define MAX_NAMES 64

/* --- the plan ---------------------------------------------------------------------------- */

struct planned_blob {
	int64_t size;
	char *member; /* the archive member holding it, or NULL when in memory */
	const char *data;
	size_t len;
	char *owned; /* data made here (a manifest for a `docker save` image) */
};

static void planned_blob_free(void *value)
{
	struct planned_blob *blob = value;
	free(blob->member);
	free(blob->owned);
	free(blob);
}

void import_plan_blob(struct import_plan *plan, const char *digest, int64_t size,
		      const char *member, const char *data, size_t len, char *owned)
{
	if (strmap_get(plan->blobs, digest)) {
		free(owned);
		return;
	}
	/* Out of memory aborts, as the strmap and buf helpers do. */
	struct planned_blob *blob = calloc(1, sizeof(*blob));
	char *member_copy = member ? strdup(member) : NULL;
	if (!blob || (member && !member_copy))
		abort();
	*blob = (struct planned_blob){
	    .size = size, .member = member_copy, .data = data, .len = len, .owned = owned};
	strmap_put(plan->blobs, digest, blob);
}

int import_record_name(struct image_record *record, const char *text, struct ck_error *err)
{
	struct image_ref ref;
	if (image_ref_parse(text, &ref, err) < 0)
		return ck_error_prefix(err, "name");
	char *name = image_ref_string(&ref);
	image_ref_clear(&ref);
	if (!name)
		return ck_error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < record->name_count; i++) {
		if (strcmp(record->names[i], name) == 0) {
			free(name);
			return 0;
		}
	}
	char **names = record->name_count < MAX_NAMES
			   ? reallocarray(record->names, record->name_count + 1, sizeof(*names))
			   : NULL;
	if (!names) {
		free(name);
		return ck_error_set(err, E2BIG, "more than %d names", MAX_NAMES);
	}
	record->names = names;
	record->names[record->name_count++] = name;
	return 0;
}

int import_plan_record(struct import_plan *plan, struct image_record *record, struct ck_error *err)
{
	for (size_t i = 0; i < plan->count; i++) {
		struct image_record *same = plan->records[i];
		if (strcmp(same->id, record->id) != 0)
			continue;
		int r = 0;
		for (size_t n = 0; r == 0 && n < record->name_count; n++)
			r = import_record_name(same, record->names[n], err);
		image_record_free(record);
		return r;
	}
	if (plan->count == IMPORT_MAX_IMAGES) {
		image_record_free(record);
		return ck_error_set(err, E2BIG, "more than %d images", IMPORT_MAX_IMAGES);
	}
	struct image_record **records =
	    reallocarray(plan->records, plan->count + 1, sizeof(*records));
	if (!records) {
		image_record_free(record);
		return ck_error_set(err, ENOMEM, "out of memory");
	}
	plan->records = records;
	plan->records[plan->count++] = record;
	return 0;
}

/* --- into the store ---------------------------------------------------------------------- */

static bool store_has(struct image_store *store, const char *digest)
{
	_cleanup_free_ char *path = image_store_blob_path(store, digest);
	return path != NULL;
}

/* Under the blob's lock, like a pull, so that a pull or import of the same blob waits and then
 * finds it. `read` supplies the bytes. */
static int store_blob(struct image_store *store, const char *digest, int64_t size,
		      int (*read)(void *ctx, const void **data, size_t *len, struct ck_error *err),
		      void *ctx, struct ck_error *err)
{
	_cleanup_close_ int lock = image_store_lock_digest(store, digest, err);
	if (lock < 0)
		return lock;
	if (store_has(store, digest))
		return 0;
	struct blob_writer *writer;
	int r = image_store_blob_begin(store, digest, size, &writer, err);
	if (r < 0)
		return r;
	const void *data;
	size_t len;
	while ((r = read(ctx, &data, &len, err)) > 0) {
		if ((r = blob_writer_write(writer, data, len, err)) < 0)
			break;
	}
	if (r < 0) {
		blob_writer_abort(writer);
		return r;
	}
	return blob_writer_commit(writer, err);
}

static int read_memory(void *ctx, const void **data, size_t *len, struct ck_error *err)
{
	(void)err;
	struct planned_blob *blob = ctx;
	if (!blob->data)
		return 0;
	*data = blob->data;
	*len = blob->len;
	blob->data = NULL;
	return 1;
}

static int read_member(void *ctx, const void **data, size_t *len, struct ck_error *err)
{
	struct archive *a = ctx;
	la_int64_t offset;
	int r = sym_archive_read_data_block(a, data, len, &offset);
	if (r == ARCHIVE_EOF)
		return 0;
	return r == ARCHIVE_OK ? 1 : archive_error(err, a, "read");
}

static int store_documents(struct image_store *store, struct import_plan *plan,
			   struct ck_error *err)
{
	const char *digest;
	struct planned_blob *blob;
	STRMAP_FOREACH (plan->blobs, iter, digest, blob) {
		if (blob->member)
			continue;
		int r = store_blob(store, digest, blob->size, read_memory, blob, err);
		if (r < 0)
			return ck_error_prefix(err, "store %s", digest);
	}
	return 0;
}

/* The second read of the archive: each wanted member streams into the store. */
static int store_members(struct image_store *store, const char *path, struct import_plan *plan,
			 struct ck_error *err)
{
	struct strmap *wanted = strmap_new(NULL); /* member key -> digest */
	const char *digest;
	struct planned_blob *blob;
	STRMAP_FOREACH (plan->blobs, iter, digest, blob) {
		if (blob->member && !store_has(store, digest))
			strmap_put(wanted, blob->member, (void *)digest);
	}
	_cleanup_archive_ struct archive *a = NULL;
	int r = strmap_size(wanted) ? import_archive_open(path, &a, err) : 0;
	struct archive_entry *entry;
	while (r == 0 && strmap_size(wanted) && (r = import_archive_next(a, &entry, err)) > 0) {
		const char *name = sym_archive_entry_pathname(entry);
		const char *key = name ? import_member_key(name) : "";
		digest = strmap_get(wanted, key);
		r = 0;
		if (!digest || sym_archive_entry_filetype(entry) != AE_IFREG ||
		    sym_archive_entry_hardlink(entry))
			continue;
		blob = strmap_get(plan->blobs, digest);
		r = store_blob(store, digest, blob->size, read_member, a, err);
		if (r < 0)
			r = ck_error_prefix(err, "%s", key);
		strmap_remove(wanted, key);
	}
	const char *key;
	STRMAP_FOREACH (wanted, iter, key, digest) {
		if (r == 0)
			r = ck_error_set(err, ENOENT, "%s (blob %s): not in the archive", key,
					 digest);
	}
	strmap_free(wanted);
	return r;
}

static int unpack_layers(struct image_store *store, const struct import_plan *plan,
			 struct ck_error *err)
{
	for (size_t i = 0; i < plan->count; i++) {
		const struct image_record *record = plan->records[i];
		for (size_t l = 0; l < record->layer_count; l++) {
			const struct image_layer *layer = &record->layers[l];
			_cleanup_close_ int lock =
			    image_store_lock_digest(store, layer->digest, err);
			if (lock < 0)
				return lock;
			int r = image_store_unpack_layer(store, layer->digest, layer->media_type,
							 layer->diff_id, err);
			if (r < 0)
				return ck_error_prefix(err, "image %s", record->id);
		}
	}
	return 0;
}

int image_import(struct image_store *store, const char *path, struct image_record ***out,
		 size_t *count, struct ck_error *err)
{
	if (dlopen_archive(err) < 0)
		return ck_error_prefix(err, "import %s", path);
	/* What is stored here has no record until the last step: sweeps wait until then. */
	_cleanup_close_ int lease = image_store_lease(store, err);
	if (lease < 0)
		return ck_error_prefix(err, "import %s", path);
	struct import_catalog catalog = {0};
	struct import_plan plan = {.blobs = strmap_new(planned_blob_free)};
	int r = import_catalog_read(&catalog, path, err);
	if (r == 0)
		r = strmap_get(catalog.members, "manifest.json")
			? import_plan_docker_save(&plan, &catalog, err)
		    : strmap_get(catalog.members, "index.json")
			? import_plan_oci_layout(&plan, &catalog, err)
			: ck_error_set(err, EINVAL,
				       "neither a docker save archive (manifest.json) nor an OCI "
				       "image layout (index.json)");
	if (r == 0)
		r = store_documents(store, &plan, err);
	if (r == 0)
		r = store_members(store, path, &plan, err);
	if (r == 0)
		r = unpack_layers(store, &plan, err);
	for (size_t i = 0; r == 0 && i < plan.count; i++)
		r = image_store_put(store, plan.records[i], err);
	if (r == 0) {
		*out = steal_ptr(&plan.records);
		*count = plan.count;
		plan.count = 0;
	}
	for (size_t i = 0; i < plan.count; i++)
		image_record_free(plan.records[i]);
	free(plan.records);
	strmap_free(plan.blobs);
	import_catalog_clear(&catalog);
	return r < 0 ? ck_error_prefix(err, "import %s", path) : 0;
}
