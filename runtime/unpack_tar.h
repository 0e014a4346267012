/* Safe extraction of image layers: a tar stream (plain, gzip or zstd, recognised by its first
 * bytes) becomes a directory in the format overlayfs takes as a lower layer.
 *
 * Every entry is hostile until proven otherwise. Paths are resolved with openat2()
 * RESOLVE_IN_ROOT relative to the layer's own directory, so absolute names, symlinks (to "/",
 * to "..", in chains) and hardlink targets all stay inside it; names with ".." components are
 * refused outright. The layer is written into a temporary directory (in the work directory,
 * or beside the target) and renamed into place only when every entry is written and the
 * uncompressed stream matched its digest; on any failure the temporary directory is removed
 * and the target never appears.
 *
 * What becomes of each entry:
 *   files, directories, symlinks, fifos, hardlinks  created with the tar's uid/gid, mode (with
 *       setuid/setgid/sticky) and mtime; xattrs in user.* and security.capability applied to
 *       files and directories (trusted.* is overlayfs' own namespace and never taken from a
 *       layer; other namespaces are dropped);
 *   ".wh.NAME"      an overlayfs whiteout: a 0:0 character device NAME;
 *   ".wh..wh..opq"  trusted.overlay.opaque="y" on the directory that holds it;
 *   device nodes    skipped: a container gets its /dev from the runtime, and a device node
 *       shipped in an image could only ever open a host device;
 *   anything else (sockets, unknown types) refused.
 * A later entry replaces an earlier one of the same name (a directory only by a non-directory;
 * two directories merge), as tar extraction does. */
#pragma once

#include <stdint.h>

#include "lib/error.h"

struct unpack_limits {
	int64_t max_stream_bytes; /* the uncompressed tar stream, headers and padding included */
	int64_t max_file_bytes;   /* one file's size (a sparse file's by its apparent size) */
	int64_t max_entries;
};

/* Large enough for any real image (64 GiB files, 256 GiB layers, 4 Mi entries); they exist to
 * refuse absurd headers and decompression bombs early, not to ration disk. */
extern const struct unpack_limits unpack_default_limits;

struct unpack_options {
	/* "sha256:<hex>" the uncompressed stream must hash to, or NULL to take it as it is. */
	const char *diff_id;
	/* NULL for unpack_default_limits. */
	const struct unpack_limits *limits;
	/* Where the temporary directory goes, on the target's file system; NULL for beside the
	 * target. */
	const char *work_dir;
};

/* Unpacks the tar stream read from `fd` into the directory `target`, whose parent must exist.
 * When another process renames the same target into place first (layers are content
 * addressed, so both copies are the same), its copy is kept and this returns 0. Errors name
 * the entry: "entry \"a/../../x\": path leaves the layer". */
int unpack_tar(int fd, const char *target, const struct unpack_options *options,
	       struct ck_error *err);
