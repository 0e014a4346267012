/* The node's image store under <data-dir>/images: content-addressed blobs, unpacked layers
 * shared between images, and the record of each image (its names, manifest, config and layers).
 *
 *   blobs/sha256/<hex>        verified blobs: manifests, configs, compressed layers
 *   layers/sha256/<diffID>/   each layer unpacked once (overlayfs lower directory format:
 *                             whiteouts as 0:0 character devices, opaque directories marked
 *                             with the trusted.overlay.opaque xattr)
 *   index.json                the image records, replaced atomically under an flock
 *                             of index.lock
 *   lease.lock                flock shared by pulls and imports under way, taken exclusively
 *                             by sweeps of unreferenced content
 *   tmp/                      work in progress (partial blobs, layers being unpacked, layers
 *                             being removed), on the same file system so that finished work
 *                             is renamed in; each entry flocked by the process working on it
 *   locks/<hex>.lock          flock per blob digest, held while it is fetched and unpacked
 *
 * Every blob is verified against its digest before it is visible under blobs/; every layer is
 * unpacked into a temporary directory and renamed into place only when complete and verified
 * against its diffID, so a failed pull or import leaves nothing half done. Several processes
 * (ckube server, ckube image) may use one store at the same time.
 *
 * What crashed processes leave behind goes on its own: opening the store removes the entries
 * of tmp/ nobody holds, and sweeps remove content no image refers to. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"
#include "runtime/image_digest.h"

struct image_store;

int image_store_open(const char *root, struct image_store **out, struct ck_error *err);
void image_store_close(struct image_store *store);
const char *image_store_root(const struct image_store *store);

/* --- blobs ------------------------------------------------------------------------------- */

/* The path of a verified blob, or NULL (errno ENOENT) when the store does not have it. The
 * caller frees the path. */
char *image_store_blob_path(struct image_store *store, const char *digest);

/* Writes a blob in pieces; commit verifies the digest (and the size when known, -1 if not)
 * before the blob becomes visible. Commit and abort both end the writer; abort (or commit
 * failing) removes the partial file. Writing more than the known size fails at once. */
struct blob_writer;
int image_store_blob_begin(struct image_store *store, const char *digest, int64_t size,
			   struct blob_writer **out, struct ck_error *err);
int blob_writer_write(struct blob_writer *w, const void *data, size_t len, struct ck_error *err);
int blob_writer_commit(struct blob_writer *w, struct ck_error *err);
void blob_writer_abort(struct blob_writer *w);

/* Holds an exclusive lock named after `digest` (locks/<hex>.lock) until the returned
 * descriptor is closed. Threads and processes that fetch or unpack the same blob take it
 * first, so the second one waits and then finds the work done. */
int image_store_lock_digest(struct image_store *store, const char *digest, struct ck_error *err);

/* --- layers ------------------------------------------------------------------------------ */

/* The unpacked directory of a layer (by diffID), or NULL when not unpacked. Caller frees. */
char *image_store_layer_path(struct image_store *store, const char *diff_id);

/* The unpacked directories of an image's layers, bottom first, as a container's root stacks
 * them: a NULL-terminated array (free with strv_free) in *out, *count of them. -ENOENT when one
 * is not unpacked (removed meanwhile: pull again). */
struct image_record;
int image_store_layer_paths(struct image_store *store, const struct image_record *image,
			    char ***out, size_t *count, struct ck_error *err);

/* Unpacks the layer blob `digest` (tar, gzip- or zstd-compressed, by `media_type`) as the
 * layer `diff_id`, verifying the uncompressed digest. Does nothing when already unpacked.
 * Hostile entries fail it with a message naming the entry; nothing is left behind. */
int image_store_unpack_layer(struct image_store *store, const char *digest, const char *media_type,
			     const char *diff_id, struct ck_error *err);

/* --- images ------------------------------------------------------------------------------ */

struct image_layer {
	char *digest;  /* the compressed blob */
	char *diff_id; /* the uncompressed tar, from the config's rootfs.diff_ids */
	char *media_type;
	int64_t size; /* compressed bytes */
};

struct image_record {
	char *id;              /* the config digest, as Kubernetes' image IDs */
	char *manifest_digest; /* of the platform manifest */
	char **names;          /* normalized references: "docker.io/library/httpd:2.4", and
				  "name@sha256:..." digests it was pulled by */
	size_t name_count;
	struct image_layer *layers; /* bottom first */
	size_t layer_count;
	int64_t size;      /* compressed layers plus config */
	int64_t created;   /* when stored (unix seconds) */
	int64_t last_used; /* updated when a container starts from it, for garbage collection */
	json_t *config;    /* the image config's "config": Entrypoint, Cmd, Env, WorkingDir,
			      User, StopSignal, ExposedPorts, Labels */
};

void image_record_free(struct image_record *record);

/* Adds (or updates: names are merged) an image whose blobs and layers are all in the store;
 * -ENOENT when one is missing (removed meanwhile by image_store_remove: pull again). A name
 * moves from whatever image had it before to this one. A record that replaces one of the same
 * ID with other blobs (the same image pulled with other compression, say) lets go of the
 * blobs and layers only the old one used. */
int image_store_put(struct image_store *store, const struct image_record *record,
		    struct ck_error *err);
/* Finds an image by a reference (normalized first: "busybox" finds
 * "docker.io/library/busybox:latest") or by ID ("sha256:..."); -ENOENT when absent. */
int image_store_find(struct image_store *store, const char *reference, struct image_record **out,
		     struct ck_error *err);
/* Every image; the caller frees each record and the array. */
int image_store_list(struct image_store *store, struct image_record ***out, size_t *count,
		     struct ck_error *err);
/* Removes one name (an ID removes every name); the image goes when it has no name left and
 * no container uses it (the caller says which image IDs are in use; `in_use` is NULL or ends
 * with NULL). The blobs and layers of a removed image that no other image needs go too.
 * -ENOENT when nothing has that name. */
int image_store_remove(struct image_store *store, const char *reference, const char *const *in_use,
		       struct ck_error *err);
/* Marks an image as used now (containers starting from it). */
int image_store_touch(struct image_store *store, const char *id, struct ck_error *err);

/* --- content no image refers to ----------------------------------------------------------- */

/* Holds off sweeps until the returned descriptor is closed. A pull or an import takes one
 * before its first blob: what it stores is referred to by no record until its own is put. Any
 * number of leases may be held at once, in any processes. */
int image_store_lease(struct image_store *store, struct ck_error *err);

/* Removes every blob and unpacked layer that no image record refers to: what failed pulls and
 * imports stored, what a crash between a removal's index update and its files left. Returns
 * how many blobs and layers went; 0 without looking while a lease is held (in this process or
 * another). image_store_remove sweeps after removing an image, and image_store_put after a
 * record replaced one with other content; image garbage collection sweeps first. */
int image_store_sweep(struct image_store *store, struct ck_error *err);
