#include "runtime/image_pull.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "runtime/image_manifest.h"
#include "runtime/image_ref.h"
#include "runtime/registry_client.h"

/* A blob whose transfer broke is fetched again this many times in all. */
#define BLOB_ATTEMPTS 3

static int store_bytes(struct image_store *store, const char *digest, const void *data, size_t len,
		       struct ck_error *err)
{
	struct blob_writer *writer;
	int ret = image_store_blob_begin(store, digest, (int64_t)len, &writer, err);
	if (ret < 0)
		return ret;
	if ((ret = blob_writer_write(writer, data, len, err)) < 0) {
		blob_writer_abort(writer);
		return ret;
	}
	return blob_writer_commit(writer, err);
}

static void report(const struct pull_progress *progress, const char *digest, int64_t done,
		   int64_t total)
{
	if (progress && progress->update)
		progress->update(progress->ctx, digest, done, total);
}

/* The registry said no (or the content is not acceptable): fetching again will not help. */
static bool final_failure(int code)
{
	return code == ENOENT || code == EACCES || code == EFBIG || code == EINVAL ||
	       code == ENOSPC;
}

static int download_blob(struct image_store *store, struct registry_client *client,
			 const char *digest, int64_t size, const struct pull_progress *progress,
			 struct ck_error *err)
{
	int ret = 0;
	for (int attempt = 0; attempt < BLOB_ATTEMPTS; attempt++) {
		struct blob_writer *writer;
		if ((ret = image_store_blob_begin(store, digest, size, &writer, err)) < 0)
			return ret;
		ret = registry_fetch_blob(client, digest, size, writer, progress, err);
		if (ret < 0) {
			blob_writer_abort(writer);
		} else {
			ret = blob_writer_commit(writer, err);
		}
		if (ret == 0 || final_failure(-ret))
			return ret;
	}
	return ret;
}

/* Under the blob's lock, so that a second puller (thread or process) waits here and then finds
 * the blob, and the layer, already in the store. */
static int fetch_content(struct image_store *store, struct registry_client *client,
			 const char *digest, int64_t size, const struct image_layer *layer,
			 const struct pull_progress *progress, struct ck_error *err)
{
	_cleanup_close_ int lock = image_store_lock_digest(store, digest, err);
	if (lock < 0)
		return lock;
	_cleanup_free_ char *blob = image_store_blob_path(store, digest);
	int ret = 0;
	if (blob)
		report(progress, digest, size, size);
	else
		ret = download_blob(store, client, digest, size, progress, err);
	if (ret < 0 || !layer)
		return ret;
	_cleanup_free_ char *unpacked = image_store_layer_path(store, layer->diff_id);
	if (unpacked)
		return 0;
	return image_store_unpack_layer(store, layer->digest, layer->media_type, layer->diff_id,
					err);
}

/* The config names the uncompressed digest of each layer and says how to run the image; with
 * the manifest it makes the record. */
static int load_config(struct image_store *store, struct registry_client *client,
		       const struct image_manifest *manifest, const char *manifest_digest,
		       const struct pull_progress *progress, struct image_record **record,
		       struct ck_error *err)
{
	const struct image_descriptor *d = &manifest->config;
	int ret = fetch_content(store, client, d->digest, d->size, NULL, progress, err);
	if (ret < 0)
		return ret;
	_cleanup_free_ char *path = image_store_blob_path(store, d->digest);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (!path)
		return ck_error_set(err, ENOENT, "config %s: gone from the store", d->digest);
	if ((ret = fs_read_file(path, &text, &len, err)) < 0)
		return ret;
	_cleanup_(image_config_clear) struct image_config config = {0};
	ret = image_config_read(text, len, d->digest, manifest->layer_count, &config, err);
	return ret < 0 ? ret : image_record_build(manifest, manifest_digest, &config, record, err);
}

/* The record's names: the reference, and for a tag the digest it resolved to. */
static int name_record(struct image_record *record, const struct image_ref *ref, const char *name,
		       const char *named_digest, struct ck_error *err)
{
	record->names = calloc(3, sizeof(*record->names));
	if (!record->names || !(record->names[0] = strdup(name)))
		return ck_error_set(err, ENOMEM, "out of memory");
	record->name_count = 1;
	if (!ref->digest) {
		if (asprintf(&record->names[1], "%s/%s@%s", ref->registry, ref->repository,
			     named_digest) < 0)
			return ck_error_set(err, ENOMEM, "out of memory");
		record->name_count = 2;
	}
	return 0;
}

static int pull_once(struct image_store *store, struct registry_client *client,
		     const struct image_ref *ref, const char *name,
		     const struct pull_progress *progress, struct ck_error *err)
{
	char named_digest[IMAGE_DIGEST_LENGTH + 1];
	struct registry_manifest manifest;
	int ret = registry_resolve(client, ref->digest ? ref->digest : ref->tag, named_digest,
				   &manifest, err);
	if (ret < 0)
		return ret;
	struct image_manifest parsed;
	struct image_record *record = NULL;
	if ((ret = image_manifest_read(manifest.json, &parsed, err)) < 0 ||
	    (ret = load_config(store, client, &parsed, manifest.digest, progress, &record, err)) <
		0)
		goto out;
	for (size_t i = 0; i < record->layer_count; i++) {
		const struct image_layer *layer = &record->layers[i];
		ret =
		    fetch_content(store, client, layer->digest, layer->size, layer, progress, err);
		if (ret < 0)
			goto out;
	}
	if ((ret = store_bytes(store, manifest.digest, manifest.body, manifest.len, err)) < 0 ||
	    (ret = name_record(record, ref, name, named_digest, err)) < 0)
		goto out;
	/* Missing content here means a removal took it after it was fetched. */
	if ((ret = image_store_put(store, record, err)) == -ENOENT)
		ret = -ESTALE;
out:
	image_record_free(record);
	registry_manifest_clear(&manifest);
	return ret;
}

static int pull_from(struct image_store *store, const struct registry_endpoint *endpoint,
		     const struct image_ref *ref, const char *name,
		     const struct pull_progress *progress, struct ck_error *err)
{
	struct registry_client *client;
	int ret = registry_client_new(endpoint, ref->repository, &client, err);
	if (ret < 0)
		return ret;
	ret = registry_ping(client, err);
	if (ret == 0)
		ret = pull_once(store, client, ref, name, progress, err);
	if (ret == -ESTALE)
		ret = pull_once(store, client, ref, name, progress, err);
	registry_client_free(client);
	return ret;
}

int image_pull(struct image_store *store, struct registries *registries, const char *reference,
	       bool always, const struct pull_progress *progress, struct image_record **out,
	       struct ck_error *err)
{
	*out = NULL;
	struct image_ref ref;
	int ret = image_ref_parse(reference, &ref, err);
	if (ret < 0)
		return ret;
	_cleanup_free_ char *name = image_ref_string(&ref);
	if (name && !always && image_store_find(store, name, out, NULL) == 0) {
		image_ref_clear(&ref);
		return 0;
	}
	size_t count = 0;
	const struct registry_endpoint *endpoints =
	    name ? registries_endpoints(registries, ref.registry, &count) : NULL;
	if (!endpoints) {
		image_ref_clear(&ref);
		return ck_error_set(err, ENOMEM, "pull %s: out of memory", reference);
	}
	/* What this pull stores has no record until its last step: sweeps wait until then. */
	_cleanup_close_ int lease = image_store_lease(store, err);
	if (lease < 0) {
		image_ref_clear(&ref);
		return ck_error_prefix(err, "pull %s", name);
	}
	/* Each endpoint's failure is kept: a mirror's "manifest unknown" matters more than the
	 * upstream being unreachable after it. */
	struct buf failures _cleanup_buf_ = {0};
	int first_failure = 0;
	for (size_t i = 0; i < count; i++) {
		struct ck_error attempt = {0};
		ret = pull_from(store, &endpoints[i], &ref, name, progress, &attempt);
		if (ret == 0)
			break;
		if (!first_failure)
			first_failure = -ret;
		if (count > 1)
			buf_printf(&failures, "%s%s: ", i ? "; " : "", endpoints[i].url);
		buf_puts(&failures, attempt.message);
		/* The node's own disk failing: no other endpoint does better. */
		if (ret == -ENOSPC || ret == -EDQUOT || ret == -EROFS)
			break;
	}
	image_ref_clear(&ref);
	/* EINVAL is kept for references that do not parse (InvalidImageName). */
	if (ret < 0)
		return ck_error_set(err, first_failure == EINVAL ? EIO : first_failure,
				    "pull %s: %s", name, failures.data ? failures.data : "failed");
	ret = image_store_find(store, name, out, err);
	return ret < 0 ? ck_error_prefix(err, "pull %s", name) : 0;
}
