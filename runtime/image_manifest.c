#include "runtime/image_manifest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json_util.h"

static const char *const manifest_types[] = {MEDIA_TYPE_DOCKER_MANIFEST,
					     MEDIA_TYPE_DOCKER_MANIFEST_LIST,
					     MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_OCI_INDEX};

bool image_media_type_is_index(const char *media_type)
{
	return strcmp(media_type, MEDIA_TYPE_OCI_INDEX) == 0 ||
	       strcmp(media_type, MEDIA_TYPE_DOCKER_MANIFEST_LIST) == 0;
}

bool image_media_type_is_manifest(const char *media_type)
{
	return strcmp(media_type, MEDIA_TYPE_OCI_MANIFEST) == 0 ||
	       strcmp(media_type, MEDIA_TYPE_DOCKER_MANIFEST) == 0;
}

const char *image_manifest_type(const json_t *doc, const char *stated)
{
	const char *own = json_string_value(json_object_get(doc, "mediaType"));
	const char *type = own ? own : stated;
	size_t len = type ? (own ? strlen(own) : strcspn(type, "; \t")) : 0;
	for (size_t i = 0; type && i < sizeof(manifest_types) / sizeof(manifest_types[0]); i++) {
		if (strlen(manifest_types[i]) == len && strncmp(type, manifest_types[i], len) == 0)
			return manifest_types[i];
	}
	if (json_is_array(json_object_get(doc, "manifests")))
		return MEDIA_TYPE_OCI_INDEX;
	if (json_is_array(json_object_get(doc, "layers")))
		return MEDIA_TYPE_OCI_MANIFEST;
	return NULL;
}

int image_descriptor_read(const json_t *obj, int64_t max_size, const char *what,
			  struct image_descriptor *out, struct ck_error *err)
{
	const json_t *size = json_object_get(obj, "size");
	*out = (struct image_descriptor){
	    .media_type = json_string_value(json_object_get(obj, "mediaType")),
	    .digest = json_string_value(json_object_get(obj, "digest")),
	    .size = json_integer_value(size),
	    .platform = json_object_get(obj, "platform"),
	    .annotations = json_object_get(obj, "annotations"),
	};
	if (!out->media_type || !image_digest_valid(out->digest))
		return ck_error_set(err, EINVAL, "%s: no media type or no sha256 digest", what);
	if (!json_is_integer(size) || out->size < 0 || out->size > max_size)
		return ck_error_set(err, EINVAL, "%s: size missing or not in 0-%lld", what,
				    (long long)max_size);
	return 0;
}

/* Configs may leave out what they are for; index entries must say it. */
static bool platform_is_ours(const char *os, const char *architecture)
{
	return (!os || strcmp(os, "linux") == 0) &&
	       (!architecture || strcmp(architecture, "amd64") == 0);
}

bool image_platform_matches(const json_t *platform)
{
	const char *os = json_string_value(json_object_get(platform, "os"));
	const char *arch = json_string_value(json_object_get(platform, "architecture"));
	return os && arch && platform_is_ours(os, arch);
}

const json_t *image_index_choose(const json_t *index)
{
	const json_t *fallback = NULL;
	size_t i;
	const json_t *entry;
	json_array_foreach (json_object_get(index, "manifests"), i, entry) {
		const json_t *platform = json_object_get(entry, "platform");
		const char *variant = json_string_value(json_object_get(platform, "variant"));
		if (!image_platform_matches(platform) ||
		    !image_digest_valid(json_string_value(json_object_get(entry, "digest"))))
			continue;
		if (!variant || strcmp(variant, "v1") == 0)
			return entry;
		if (!fallback)
			fallback = entry;
	}
	return fallback;
}

int image_manifest_read(const json_t *doc, struct image_manifest *out, struct ck_error *err)
{
	const json_t *layers = json_object_get(doc, "layers");
	if (json_integer_value(json_object_get(doc, "schemaVersion")) != 2)
		return ck_error_set(err, EINVAL, "manifest: schemaVersion is not 2");
	if (!json_is_array(layers) || json_array_size(layers) > IMAGE_MAX_LAYERS)
		return ck_error_set(err, EINVAL, "manifest: layers missing or more than %d",
				    IMAGE_MAX_LAYERS);
	int r = image_descriptor_read(json_object_get(doc, "config"), IMAGE_DOCUMENT_MAX_BYTES,
				      "manifest: config", &out->config, err);
	out->layer_count = 0;
	for (size_t i = 0; r == 0 && i < json_array_size(layers); i++) {
		char what[48];
		snprintf(what, sizeof(what), "manifest: layer %zu", i);
		r = image_descriptor_read(json_array_get(layers, i), IMAGE_LAYER_MAX_BYTES, what,
					  &out->layers[i], err);
		out->layer_count = i + 1;
	}
	return r;
}

static json_t *descriptor_json(const struct image_descriptor *d)
{
	return json_pack("{s:s, s:I, s:s}", "mediaType", d->media_type, "size", (json_int_t)d->size,
			 "digest", d->digest);
}

char *image_manifest_write(const struct image_manifest *manifest)
{
	json_t *layers = json_array();
	for (size_t i = 0; i < manifest->layer_count; i++)
		json_array_append_new(layers, descriptor_json(&manifest->layers[i]));
	_cleanup_json_ json_t *doc = json_pack(
	    "{s:i, s:s, s:o, s:o}", "schemaVersion", 2, "mediaType", MEDIA_TYPE_DOCKER_MANIFEST,
	    "config", descriptor_json(&manifest->config), "layers", layers);
	return doc ? json_dump_compact(doc) : NULL;
}

void image_config_clear(struct image_config *config)
{
	json_decref(config->doc);
	*config = (struct image_config){0};
}

int image_config_read(const char *data, size_t len, const char *digest, size_t layer_count,
		      struct image_config *out, struct ck_error *err)
{
	json_error_t json_err;
	*out = (struct image_config){0};
	_cleanup_json_ json_t *doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &json_err);
	if (!json_is_object(doc))
		return ck_error_set(err, EINVAL, "config %s: not a JSON object (%s)", digest,
				    doc ? "wrong type" : json_err.text);
	const char *os = json_string_value(json_object_get(doc, "os"));
	const char *arch = json_string_value(json_object_get(doc, "architecture"));
	if (!platform_is_ours(os, arch))
		return ck_error_set(err, ENOEXEC,
				    "config %s: the image is for %.40s/%.40s, not linux/amd64",
				    digest, os ? os : "linux", arch ? arch : "amd64");
	const json_t *diff_ids = json_object_get(json_object_get(doc, "rootfs"), "diff_ids");
	if (!json_is_array(diff_ids) || json_array_size(diff_ids) != layer_count)
		return ck_error_set(err, EINVAL,
				    "config %s: rootfs.diff_ids does not match the %zu layers",
				    digest, layer_count);
	for (size_t i = 0; i < layer_count; i++) {
		if (!image_digest_valid(json_string_value(json_array_get(diff_ids, i))))
			return ck_error_set(err, EINVAL,
					    "config %s: diff_ids[%zu] is not a sha256 digest",
					    digest, i);
	}
	const json_t *run = json_object_get(doc, "config");
	*out = (struct image_config){
	    .diff_ids = diff_ids,
	    .run = json_is_object(run) ? run : NULL,
	    .doc = steal_ptr(&doc),
	};
	return 0;
}

static int layer_fill(struct image_layer *layer, const struct image_descriptor *d,
		      const char *diff_id)
{
	layer->digest = strdup(d->digest);
	layer->diff_id = strdup(diff_id);
	layer->media_type = strdup(d->media_type);
	layer->size = d->size;
	return layer->digest && layer->diff_id && layer->media_type ? 0 : -ENOMEM;
}

int image_record_build(const struct image_manifest *manifest, const char *manifest_digest,
		       const struct image_config *config, struct image_record **out,
		       struct ck_error *err)
{
	if (json_array_size(config->diff_ids) != manifest->layer_count)
		return ck_error_set(err, EINVAL,
				    "config %s: rootfs.diff_ids does not match the %zu layers",
				    manifest->config.digest, manifest->layer_count);
	struct image_record *record = calloc(1, sizeof(*record));
	int r = record ? 0 : -ENOMEM;
	if (r == 0) {
		record->id = strdup(manifest->config.digest);
		record->manifest_digest = strdup(manifest_digest);
		record->config = config->run ? json_deep_copy(config->run) : json_object();
		record->layers = calloc(manifest->layer_count + 1, sizeof(*record->layers));
		record->size = manifest->config.size;
		if (!record->id || !record->manifest_digest || !record->config || !record->layers)
			r = -ENOMEM;
	}
	for (size_t i = 0; r == 0 && i < manifest->layer_count; i++) {
		const char *diff_id = json_string_value(json_array_get(config->diff_ids, i));
		record->layer_count = i + 1;
		r = layer_fill(&record->layers[i], &manifest->layers[i], diff_id);
		record->size += manifest->layers[i].size;
	}
	if (r < 0) {
		image_record_free(record);
		return ck_error_set(err, ENOMEM, "image %s: out of memory",
				    manifest->config.digest);
	}
	*out = record;
	return 0;
}
