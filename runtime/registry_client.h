/* A client of the OCI distribution API (Docker Registry HTTP API v2) for one repository at one
 * endpoint, over libcurl: the /v2/ ping, bearer tokens from the WWW-Authenticate challenge
 * (anonymous or with basic credentials) or plain basic auth, manifests and blobs. Everything the
 * registry sends is bounded and verified: manifests against their digest, blobs by the store's
 * writer. Redirects (blobs usually live on a CDN) are followed, never from https down to http,
 * and credentials are never sent to another host. A client is not thread-safe. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"
#include "runtime/image_manifest.h"
#include "runtime/image_pull.h"
#include "runtime/image_store.h"
#include "runtime/registries.h"

/* Larger manifests are refused (the distribution registry's own limit). */
#define REGISTRY_MANIFEST_MAX_BYTES (4 << 20)

struct registry_client;

int registry_client_new(const struct registry_endpoint *endpoint, const char *repository,
			struct registry_client **out, struct ck_error *err);
void registry_client_free(struct registry_client *client);

/* GET /v2/: fails unless the endpoint speaks the API; when it asks for a bearer token, gets one
 * for pulling the repository. */
int registry_ping(struct registry_client *client, struct ck_error *err);

struct registry_manifest {
	char *media_type; /* one of image_manifest.h's manifest and index MEDIA_TYPE_ constants */
	char digest[IMAGE_DIGEST_LENGTH + 1];
	char *body;
	size_t len;
	json_t *json; /* the body, parsed */
};

void registry_manifest_clear(struct registry_manifest *manifest);

/* Fetches the manifest (or list, or index) that `reference` (a tag or a digest) names. By
 * digest, the body must have that digest; by tag, it must have the digest the registry states
 * in Docker-Content-Digest, when it states one. */
int registry_fetch_manifest(struct registry_client *client, const char *reference,
			    struct registry_manifest *out, struct ck_error *err);

/* Fetches what `reference` names and, for a list or index, the linux/amd64 manifest in it (an
 * entry without a variant, or "v1", first). `named_digest` (IMAGE_DIGEST_LENGTH + 1 bytes)
 * receives the digest of what the reference named; `out` is always a single image manifest. */
int registry_resolve(struct registry_client *client, const char *reference, char *named_digest,
		     struct registry_manifest *out, struct ck_error *err);

/* Streams blob `digest` of `size` bytes into `writer` (which the caller then commits), calling
 * `progress` (may be NULL) as bytes arrive. */
int registry_fetch_blob(struct registry_client *client, const char *digest, int64_t size,
			struct blob_writer *writer, const struct pull_progress *progress,
			struct ck_error *err);
