/* `docker save` archives: manifest.json lists each image's Config, RepoTags and Layers, either
 * in the classic layout (<id>/layer.tar) or in the OCI-shaped one of Docker 25 and later
 * (blobs/sha256/<hex>). No registry manifest comes with them: one is made, as a registry would
 * serve it, since the store records every image by a manifest. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "runtime/image_manifest.h"
#include "runtime/import_internal.h"

/* A layer file as a descriptor whose digest goes to `digest`: a blob's name says it (Docker 25
 * and later); a classic layer.tar is uncompressed, so its digest is its diffID, which the store
 * verifies as it takes it. */
static int docker_layer(struct import_plan *plan, const struct import_catalog *catalog,
			const json_t *name, const char *diff_id, char *digest,
			struct image_descriptor *layer, struct ck_error *err)
{
	const char *key = json_string_value(name);
	if (!key)
		return ck_error_set(err, EINVAL, "Layers: not a list of names");
	const char *resolved = key;
	const struct import_member *member = import_catalog_find(catalog, key, &resolved);
	if (!member)
		return ck_error_set(err, ENOENT, "layer %s: %s is not in the archive", key,
				    resolved);
	size_t prefix = strlen(IMPORT_BLOB_PREFIX);
	snprintf(digest, IMAGE_DIGEST_LENGTH + 1, "sha256:%s",
		 strncmp(resolved, IMPORT_BLOB_PREFIX, prefix) == 0 ? resolved + prefix : "");
	if (!image_digest_valid(digest))
		snprintf(digest, IMAGE_DIGEST_LENGTH + 1, "%s", diff_id);
	*layer = (struct image_descriptor){
	    .media_type = MEDIA_TYPE_DOCKER_LAYER, .digest = digest, .size = member->size};
	import_plan_blob(plan, digest, member->size, resolved, NULL, 0, NULL);
	return 0;
}

static int plan_docker_image(struct import_plan *plan, const struct import_catalog *catalog,
			     const json_t *entry, struct ck_error *err)
{
	const char *config_key = json_string_value(json_object_get(entry, "Config"));
	const json_t *tags = json_object_get(entry, "RepoTags");
	const json_t *layers = json_object_get(entry, "Layers");
	if (!config_key || !json_is_array(layers) || json_array_size(layers) > IMAGE_MAX_LAYERS ||
	    !(json_is_array(tags) || json_is_null(tags) || !tags))
		return ck_error_set(err, EINVAL,
				    "not an entry with Config, Layers (at most %d) and RepoTags",
				    IMAGE_MAX_LAYERS);
	const struct import_member *config_member;
	int r = import_catalog_document(catalog, config_key, NULL, &config_member, err);
	if (r < 0)
		return r;
	char config_digest[IMAGE_DIGEST_LENGTH + 1];
	struct image_manifest manifest = {.layer_count = json_array_size(layers)};
	_cleanup_(image_config_clear) struct image_config config = {0};
	if ((r = image_digest_of(config_member->data, config_member->len, config_digest, err)) <
		0 ||
	    (r = image_config_read(config_member->data, config_member->len, config_digest,
				   manifest.layer_count, &config, err)) < 0)
		return r;
	manifest.config = (struct image_descriptor){.media_type = MEDIA_TYPE_DOCKER_CONFIG,
						    .digest = config_digest,
						    .size = (int64_t)config_member->len};
	_cleanup_free_ char(*layer_digests)[IMAGE_DIGEST_LENGTH + 1] =
	    calloc(manifest.layer_count + 1, sizeof(*layer_digests));
	if (!layer_digests)
		return ck_error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < manifest.layer_count; i++) {
		const char *diff_id = json_string_value(json_array_get(config.diff_ids, i));
		r = docker_layer(plan, catalog, json_array_get(layers, i), diff_id,
				 layer_digests[i], &manifest.layers[i], err);
		if (r < 0)
			return r;
	}
	_cleanup_free_ char *text = image_manifest_write(&manifest);
	char manifest_digest[IMAGE_DIGEST_LENGTH + 1];
	struct image_record *record;
	if (!text)
		return ck_error_set(err, ENOMEM, "out of memory");
	if ((r = image_digest_of(text, strlen(text), manifest_digest, err)) < 0 ||
	    (r = image_record_build(&manifest, manifest_digest, &config, &record, err)) < 0)
		return r;
	for (size_t i = 0; r == 0 && i < json_array_size(tags); i++) {
		const char *tag = json_string_value(json_array_get(tags, i));
		r = tag ? import_record_name(record, tag, err)
			: ck_error_set(err, EINVAL, "RepoTags[%zu]: not a string", i);
	}
	if (r < 0) {
		image_record_free(record);
		return r;
	}
	import_plan_blob(plan, config_digest, (int64_t)config_member->len, NULL,
			 config_member->data, config_member->len, NULL);
	size_t len = strlen(text);
	char *owned = steal_ptr(&text);
	import_plan_blob(plan, manifest_digest, (int64_t)len, NULL, owned, len, owned);
	return import_plan_record(plan, record, err);
}

int import_plan_docker_save(struct import_plan *plan, const struct import_catalog *catalog,
			    struct ck_error *err)
{
	_cleanup_json_ json_t *images = NULL;
	int r = import_catalog_document(catalog, "manifest.json", &images, NULL, err);
	if (r < 0)
		return r;
	if (!json_is_array(images) || json_array_size(images) == 0 ||
	    json_array_size(images) > IMPORT_MAX_IMAGES)
		return ck_error_set(err, EINVAL, "manifest.json: not a list of 1 to %d images",
				    IMPORT_MAX_IMAGES);
	for (size_t i = 0; i < json_array_size(images); i++) {
		if ((r = plan_docker_image(plan, catalog, json_array_get(images, i), err)) < 0)
			return ck_error_prefix(err, "manifest.json: image %zu", i);
	}
	return 0;
}
