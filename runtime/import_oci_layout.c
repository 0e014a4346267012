/* OCI image layouts in an archive (skopeo's oci-archive:, buildah): index.json lists the images,
 * each a manifest or an index in blobs/sha256/, and names them by annotation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "runtime/image_manifest.h"
#include "runtime/import_internal.h"

#define BLOB_KEY_SIZE (sizeof(IMPORT_BLOB_PREFIX) + 64)

/* A blob of the layout, present, of the size its descriptor says. *key is its member (in
 * `name`, or a link's target). */
static int layout_blob(const struct import_catalog *catalog, const struct image_descriptor *d,
		       char name[BLOB_KEY_SIZE], const char **key,
		       const struct import_member **member, struct ck_error *err)
{
	snprintf(name, BLOB_KEY_SIZE, "%s%s", IMPORT_BLOB_PREFIX, image_digest_hex(d->digest));
	*member = import_catalog_find(catalog, name, key);
	if (!*member)
		return ck_error_set(err, ENOENT, "blob %s: not in the archive", d->digest);
	if ((*member)->size != d->size)
		return ck_error_set(err, EINVAL, "blob %s: %lld bytes, the descriptor says %lld",
				    d->digest, (long long)(*member)->size, (long long)d->size);
	return 0;
}

/* A JSON blob (parsed unless `doc` is NULL), verified against its digest here, since it is
 * read before it is stored. */
static int layout_document(const struct import_catalog *catalog, const struct image_descriptor *d,
			   json_t **doc, const struct import_member **member, struct ck_error *err)
{
	char name[BLOB_KEY_SIZE];
	const char *key;
	char digest[IMAGE_DIGEST_LENGTH + 1];
	int r = layout_blob(catalog, d, name, &key, member, err);
	if (r == 0)
		r = import_catalog_document(catalog, key, doc, member, err);
	if (r == 0 && (r = image_digest_of((*member)->data, (*member)->len, digest, err)) == 0 &&
	    strcmp(digest, d->digest) != 0) {
		if (doc)
			json_decref(*doc);
		r = ck_error_set(err, EILSEQ, "blob %s: content has digest %s", d->digest, digest);
	}
	return r;
}

static int names_from_annotations(struct image_record *record, const json_t *annotations,
				  struct ck_error *err)
{
	const char *full =
	    json_string_value(json_object_get(annotations, "io.containerd.image.name"));
	const char *ref =
	    json_string_value(json_object_get(annotations, "org.opencontainers.image.ref.name"));
	int r = full ? import_record_name(record, full, err) : 0;
	/* Often only a tag ("latest"), which names no repository. */
	if (r == 0 && ref && strpbrk(ref, "/:@"))
		r = import_record_name(record, ref, err);
	return r;
}

/* The image of manifest `d`: the manifest and its config in memory, the layers from the
 * archive. */
static int plan_manifest(struct import_plan *plan, const struct import_catalog *catalog,
			 const struct image_descriptor *d, const json_t *annotations,
			 struct ck_error *err)
{
	_cleanup_json_ json_t *doc = NULL;
	const struct import_member *manifest_member, *config_member;
	int r = layout_document(catalog, d, &doc, &manifest_member, err);
	if (r < 0)
		return r;
	struct image_manifest manifest;
	_cleanup_(image_config_clear) struct image_config config = {0};
	if ((r = image_manifest_read(doc, &manifest, err)) < 0 ||
	    (r = layout_document(catalog, &manifest.config, NULL, &config_member, err)) < 0 ||
	    (r = image_config_read(config_member->data, config_member->len, manifest.config.digest,
				   manifest.layer_count, &config, err)) < 0)
		return ck_error_prefix(err, "manifest %s", d->digest);
	for (size_t i = 0; i < manifest.layer_count; i++) {
		const struct image_descriptor *layer = &manifest.layers[i];
		const struct import_member *member;
		char name[BLOB_KEY_SIZE];
		const char *key;
		if ((r = layout_blob(catalog, layer, name, &key, &member, err)) < 0)
			return ck_error_prefix(err, "manifest %s: layer %zu", d->digest, i);
		import_plan_blob(plan, layer->digest, layer->size, key, NULL, 0, NULL);
	}
	struct image_record *record;
	if ((r = image_record_build(&manifest, d->digest, &config, &record, err)) < 0)
		return r;
	if ((r = names_from_annotations(record, annotations, err)) < 0) {
		image_record_free(record);
		return ck_error_prefix(err, "manifest %s", d->digest);
	}
	import_plan_blob(plan, d->digest, d->size, NULL, manifest_member->data,
			 manifest_member->len, NULL);
	import_plan_blob(plan, manifest.config.digest, manifest.config.size, NULL,
			 config_member->data, config_member->len, NULL);
	return import_plan_record(plan, record, err);
}

/* An image index gives its linux/amd64 manifest; the names are those of the outer entry. */
static int plan_layout_entry(struct import_plan *plan, const struct import_catalog *catalog,
			     const struct image_descriptor *d, const json_t *annotations, int depth,
			     struct ck_error *err)
{
	if (image_media_type_is_manifest(d->media_type))
		return plan_manifest(plan, catalog, d, annotations, err);
	if (!image_media_type_is_index(d->media_type))
		return ck_error_set(err, EINVAL, "%s: unsupported media type %s", d->digest,
				    d->media_type);
	if (depth >= IMAGE_INDEX_MAX_DEPTH)
		return ck_error_set(err, ELOOP, "index %s: nested too deep", d->digest);
	_cleanup_json_ json_t *index = NULL;
	const struct import_member *member;
	int r = layout_document(catalog, d, &index, &member, err);
	if (r < 0)
		return r;
	const json_t *chosen = image_index_choose(index);
	struct image_descriptor entry;
	if (!chosen)
		return ck_error_set(err, ENOENT, "index %s: no linux/amd64 image", d->digest);
	if (image_descriptor_read(chosen, IMAGE_DOCUMENT_MAX_BYTES, "entry", &entry, err) < 0)
		return ck_error_prefix(err, "index %s", d->digest);
	return plan_layout_entry(plan, catalog, &entry, annotations, depth + 1, err);
}

int import_plan_oci_layout(struct import_plan *plan, const struct import_catalog *catalog,
			   struct ck_error *err)
{
	_cleanup_json_ json_t *index = NULL;
	int r = import_catalog_document(catalog, "index.json", &index, NULL, err);
	if (r < 0)
		return r;
	const json_t *manifests = json_object_get(index, "manifests");
	if (!json_is_array(manifests) || json_array_size(manifests) > IMPORT_MAX_IMAGES)
		return ck_error_set(err, EINVAL, "index.json: manifests missing or more than %d",
				    IMPORT_MAX_IMAGES);
	for (size_t i = 0; i < json_array_size(manifests); i++) {
		struct image_descriptor d;
		char what[48];
		snprintf(what, sizeof(what), "index.json: manifests[%zu]", i);
		r = image_descriptor_read(json_array_get(manifests, i), IMAGE_DOCUMENT_MAX_BYTES,
					  what, &d, err);
		if (r < 0)
			return r;
		/* Several platforms of one image may be listed side by side. */
		if (d.platform && !image_platform_matches(d.platform))
			continue;
		if ((r = plan_layout_entry(plan, catalog, &d, d.annotations, 0, err)) < 0)
			return ck_error_prefix(err, "%s", what);
	}
	if (plan->count == 0)
		return ck_error_set(err, ENOENT, "index.json: no linux/amd64 image");
	return 0;
}
