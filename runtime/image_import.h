/* Importing images from archive files, for nodes without a registry (`ckube image import`).
 *
 * Two kinds of archive are read, either plain or gzip/zstd/xz-compressed:
 *   - `docker save` tarballs (manifest.json listing Config, RepoTags and Layers; both the
 *     classic layout with <id>/layer.tar and the OCI-shaped one of Docker 25 and later);
 *   - OCI image layouts in a tar (oci-layout, index.json, blobs/sha256/...), as skopeo's
 *     oci-archive: and buildah write them. Names come from the io.containerd.image.name
 *     annotation, or from org.opencontainers.image.ref.name when that is a full reference
 *     ("busybox:1.36"); a bare tag ("latest") names nothing. Image indexes give their
 *     linux/amd64 image.
 * When an archive has both (Docker 25 and later), manifest.json is read: it always has the tags.
 *
 * Every blob enters the store verified against its digest (a `docker save` layer's digest is
 * its diffID, the layer being uncompressed), every layer is unpacked and verified against its
 * diffID, and only then is each image recorded, under its names normalized
 * ("busybox:1.36" becomes "docker.io/library/busybox:1.36"). The archive is read twice (once
 * for its small JSON documents, once for the blobs), so it must be a file, not a pipe. */
#pragma once

#include <stddef.h>

#include "lib/error.h"
#include "runtime/image_store.h"

/* On success *out holds the imported images (the caller frees each with image_record_free
 * and then the array). Errors name the archive and the part at fault; an image that failed
 * is not recorded, and blobs stored for it stay until the store's next sweep. */
int image_import(struct image_store *store, const char *path, struct image_record ***out,
		 size_t *count, struct ck_error *err);
