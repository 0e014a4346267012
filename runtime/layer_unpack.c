/* The store's side of unpacking: which blobs are layers, and where their directories go. The
 * extraction itself is unpack_tar.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "runtime/image_store_internal.h"
#include "runtime/unpack_tar.h"

/* Compression is recognised from the data, as containerd and Docker do (registries serve
 * "tar.gzip" layers that are plain tar); the media type only says whether this is a layer we
 * can read at all. Encrypted and other layer types are refused. */
static const char *const layer_media_types[] = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
};

static bool layer_media_type_known(const char *media_type)
{
	/* `docker save` archives say nothing about their layers. */
	if (!media_type || !*media_type)
		return true;
	for (size_t i = 0; i < sizeof(layer_media_types) / sizeof(layer_media_types[0]); i++)
		if (strcmp(media_type, layer_media_types[i]) == 0)
			return true;
	return false;
}

/* Callers that may race with others on the same layer hold the blob's lock
 * (image_store_lock_digest), as image_pull does; taking it here would deadlock them. Without
 * it two unpacks both work and the second rename finds the layer in place. */
int image_store_unpack_layer(struct image_store *store, const char *digest, const char *media_type,
			     const char *diff_id, struct ck_error *err)
{
	if (!image_digest_valid(digest) || !image_digest_valid(diff_id))
		return ck_error_set(err, EINVAL, "unpack layer %s: invalid digest (blob %s)",
				    diff_id ? diff_id : "(none)", digest ? digest : "(none)");
	if (!layer_media_type_known(media_type))
		return ck_error_set(err, EINVAL, "unpack layer %s: unsupported media type %s",
				    diff_id, media_type);
	_cleanup_free_ char *existing = image_store_layer_path(store, diff_id);
	if (existing)
		return 0;
	_cleanup_free_ char *blob = image_store_blob_path(store, digest);
	if (!blob)
		return ck_error_set(err, ENOENT, "unpack layer %s: blob %s is not in the store",
				    diff_id, digest);
	_cleanup_free_ char *target = store_digest_path(store->layers_dir, diff_id, "");
	_cleanup_free_ char *work_dir = NULL;
	if (!target)
		return ck_error_set(err, ENOMEM, "unpack layer %s: out of memory", diff_id);
	_cleanup_close_ int fd = open(blob, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ck_error_errno(err, errno, "unpack layer %s: open %s", diff_id, blob);
	/* unpack_tar's own temporary directory goes inside a work directory that this process
	 * holds, so that the sweep of tmp/ tells it from the leftovers of ended processes. */
	_cleanup_close_ int held = store_work_entry(store, "unpack", true, &work_dir, err);
	if (held < 0)
		return ck_error_prefix(err, "unpack layer %s", diff_id);
	struct unpack_options options = {.diff_id = diff_id, .work_dir = work_dir};
	int r = unpack_tar(fd, target, &options, err);
	struct ck_error cleanup_err = {0};
	if (fs_remove_tree(AT_FDCWD, work_dir, &cleanup_err) < 0)
		log_warn("unpack layer %s: %s", diff_id, cleanup_err.message);
	return r < 0 ? ck_error_prefix(err, "layer %s", diff_id) : 0;
}
