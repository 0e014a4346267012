/* What image manifests, indexes and configs say, read one way wherever they come from (a
 * registry, an OCI layout, a `docker save` archive): media types, descriptors, the linux/amd64
 * entry of an index or manifest list, the layers of a manifest, the diffIDs and the "config"
 * object of an image config, and the store's record made of them.
 *
 * Every document is hostile: each field is checked before it is used, and a document that
 * fails gets -EINVAL with a message naming the field. What is read points into the parsed
 * JSON (borrowed), so it lives as long as the document does. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"
#include "runtime/image_store.h"

#define MEDIA_TYPE_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MEDIA_TYPE_DOCKER_MANIFEST_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIA_TYPE_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_TYPE_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MEDIA_TYPE_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MEDIA_TYPE_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"

/* Overlay stacks far fewer layers than this. */
#define IMAGE_MAX_LAYERS 256
/* A larger manifest, index or config is refused before it is read. */
#define IMAGE_DOCUMENT_MAX_BYTES (16 << 20)
/* A larger layer blob is refused. */
#define IMAGE_LAYER_MAX_BYTES (INT64_C(1) << 40)
/* Indexes may point at indexes; real images never nest more than once. */
#define IMAGE_INDEX_MAX_DEPTH 4

bool image_media_type_is_index(const char *media_type);
bool image_media_type_is_manifest(const char *media_type);

/* The type of a manifest or index: the document's own mediaType, else `stated` (a
 * Content-Type; parameters after ';' are ignored; may be NULL), else, as OCI lets it be left
 * out, what the document holds. One of the four manifest and index MEDIA_TYPE_ constants, or
 * NULL when it is none of them. */
const char *image_manifest_type(const json_t *doc, const char *stated);

struct image_descriptor {
	const char *media_type;
	const char *digest;
	int64_t size;
	const json_t *platform;    /* NULL when absent */
	const json_t *annotations; /* NULL when absent */
};

/* `obj` as a descriptor: a media type, a sha256 digest and a size of 0 to `max_size` bytes.
 * -EINVAL naming `what` otherwise. */
int image_descriptor_read(const json_t *obj, int64_t max_size, const char *what,
			  struct image_descriptor *out, struct ck_error *err);

/* Whether a platform object names linux/amd64 (both fields present). */
bool image_platform_matches(const json_t *platform);

/* The entry of an index (or manifest list) to take: linux/amd64 with a sha256 digest, one
 * without a variant (or "v1", the same thing) before one with another variant. NULL when there
 * is none. The entry's other fields are the caller's to check. */
const json_t *image_index_choose(const json_t *index);

/* A single image's manifest (Docker schema 2 or OCI), bottom layer first. */
struct image_manifest {
	struct image_descriptor config;
	struct image_descriptor layers[IMAGE_MAX_LAYERS];
	size_t layer_count;
};

/* schemaVersion 2, a config of at most IMAGE_DOCUMENT_MAX_BYTES, at most IMAGE_MAX_LAYERS
 * layers of at most IMAGE_LAYER_MAX_BYTES each. */
int image_manifest_read(const json_t *doc, struct image_manifest *out, struct ck_error *err);

/* The Docker schema 2 manifest of `manifest` as compact JSON (the caller frees it), for images
 * that come without one, as `docker save` writes them: the store records every image by a
 * manifest digest. NULL when out of memory. */
char *image_manifest_write(const struct image_manifest *manifest);

/* An image config, parsed. */
struct image_config {
	json_t *doc;
	const json_t *diff_ids; /* rootfs.diff_ids: sha256 digests, one per layer */
	const json_t *run;      /* the "config" object: Entrypoint, Cmd, Env, ...; NULL if none */
};

/* Parses the config `digest` (`len` bytes of `data`) of an image of `layer_count` layers: a
 * JSON object without duplicate keys, for linux/amd64 (os and architecture, when given;
 * -ENOEXEC "the image is for linux/arm64, not linux/amd64" otherwise), whose rootfs.diff_ids
 * lists one sha256 digest per layer. */
int image_config_read(const char *data, size_t len, const char *digest, size_t layer_count,
		      struct image_config *out, struct ck_error *err);
void image_config_clear(struct image_config *config);

/* The store's record of the image `manifest_digest` names: the config's digest as ID, each
 * layer with its diffID, the size (config and layers, as stored) and a copy of the config's
 * "config" object; no names. `config` is the one image_config_read read for the manifest. */
int image_record_build(const struct image_manifest *manifest, const char *manifest_digest,
		       const struct image_config *config, struct image_record **out,
		       struct ck_error *err);
