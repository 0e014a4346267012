/* What the parts of image_import share. An archive is read twice: the first read keeps its
 * small JSON documents, the catalog (import_catalog.c); the documents of an OCI layout
 * (import_oci_layout.c) or of a `docker save` archive (import_docker_save.c) then make the
 * plan, the image records and the blobs they need; the second read streams those blobs into the
 * store (image_import.c). */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"
#include "lib/strmap.h"
#include "runtime/archive_dl.h"
#include "runtime/image_store.h"

#define IMPORT_MAX_IMAGES 1000
/* Where OCI layouts, and `docker save` since Docker 25, keep blobs. */
#define IMPORT_BLOB_PREFIX "blobs/sha256/"

/* --- the archive and its catalog ---------------------------------------------------------- */

/* The archive, plain or gzip-, zstd- or xz-compressed, open for reading its tar members. */
int import_archive_open(const char *path, struct archive **out, struct ck_error *err);
/* The next member: 1, or 0 at the end. */
int import_archive_next(struct archive *a, struct archive_entry **entry, struct ck_error *err);
/* A member's name as the archive's documents refer to it: without leading "./" or "/". */
const char *import_member_key(const char *name);

struct import_member {
	int64_t size;
	char *link; /* the member this one links to, or NULL */
	char *data; /* the content of a JSON document, or NULL */
	size_t len;
};

struct import_catalog {
	struct strmap *members; /* key -> struct import_member */
	int64_t document_bytes;
};

/* The first read; clear the catalog afterwards, also when it failed. */
int import_catalog_read(struct import_catalog *catalog, const char *path, struct ck_error *err);
void import_catalog_clear(struct import_catalog *catalog);
/* The member `key` stands for, links followed; NULL when there is none. *resolved is its key
 * (or the last one tried). */
const struct import_member *import_catalog_find(const struct import_catalog *catalog,
						const char *key, const char **resolved);
/* The JSON document `key` stands for: *member, and, unless `doc` is NULL, the document parsed
 * (duplicate keys refused). */
int import_catalog_document(const struct import_catalog *catalog, const char *key, json_t **doc,
			    const struct import_member **member, struct ck_error *err);

/* --- the plan ----------------------------------------------------------------------------- */

struct import_plan {
	struct image_record **records;
	size_t count;
	struct strmap *blobs; /* digest -> struct planned_blob (image_import.c) */
};

/* Plans blob `digest` of `size` bytes once: from the archive member `member`, or from `len`
 * bytes at `data` (which must outlive the plan; `owned`, when not NULL, is freed with it). */
void import_plan_blob(struct import_plan *plan, const char *digest, int64_t size,
		      const char *member, const char *data, size_t len, char *owned);
/* Plans the image `record` (taken over, also on failure); the same image planned twice becomes
 * one record with the names of both. */
int import_plan_record(struct import_plan *plan, struct image_record *record, struct ck_error *err);
/* Adds the name `text`, normalized ("busybox:1.36" is docker.io/library/busybox:1.36). */
int import_record_name(struct image_record *record, const char *text, struct ck_error *err);

/* The plan of an OCI layout (index.json), or of a `docker save` archive (manifest.json). */
int import_plan_oci_layout(struct import_plan *plan, const struct import_catalog *catalog,
			   struct ck_error *err);
int import_plan_docker_save(struct import_plan *plan, const struct import_catalog *catalog,
			    struct ck_error *err);
