/* Image archives into the store, in three steps: a first read of the archive keeps its small
 * JSON documents (the catalog), planning turns them into image records and the blobs those
 * need, and a second read streams the blobs into the store. Nothing is written before the
 * whole archive has been planned, so most bad archives change nothing. */
#include "runtime/image_import.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/strmap.h"
#include "runtime/archive_dl.h"
#include "runtime/image_ref.h"

/* Bounds on what an archive may ask for. */
#define MAX_MEMBERS 200000
#define MAX_DOCUMENT_BYTES (16 << 20) /* one manifest, index or config */
#define MAX_DOCUMENTS_BYTES (INT64_C(256) << 20)
#define MAX_IMAGES 1000
#define MAX_LAYERS 256
#define MAX_NAMES 64
#define MAX_LINK_HOPS 8
#define MAX_INDEX_DEPTH 2
#define READ_BLOCK_SIZE (128 * 1024)

#define BLOB_PREFIX "blobs/sha256/"
#define BLOB_KEY_SIZE (sizeof(BLOB_PREFIX) + 64)
#define DOCKER_LAYER_TYPE "application/vnd.docker.image.rootfs.diff.tar"
#define DOCKER_CONFIG_TYPE "application/vnd.docker.container.image.v1+json"
#define DOCKER_MANIFEST_TYPE "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_LIST_TYPE "application/vnd.docker.distribution.manifest.list.v2+json"
#define OCI_MANIFEST_TYPE "application/vnd.oci.image.manifest.v1+json"
#define OCI_INDEX_TYPE "application/vnd.oci.image.index.v1+json"

static void archive_freep(struct archive **a)
{
	if (*a)
		sym_archive_read_free(*a);
}
#define _cleanup_archive_ _cleanup_(archive_freep)

/* libarchive's format complaints carry no errno; they mean the archive is bad. */
static int archive_failure(struct ck_error *err, struct archive *a, const char *step)
{
	int code = sym_archive_errno(a) > 0 ? sym_archive_errno(a) : EINVAL;
	const char *text = sym_archive_error_string(a);
	return ck_error_set(err, code, "%s: %s", step, text ? text : "unknown libarchive error");
}

static int open_archive(const char *path, struct archive **out, struct ck_error *err)
{
	_cleanup_archive_ struct archive *a = sym_archive_read_new();
	if (!a)
		return ck_error_set(err, ENOMEM, "allocate a libarchive reader");
	if (sym_archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    sym_archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
	    sym_archive_read_support_filter_xz(a) != ARCHIVE_OK ||
	    sym_archive_read_support_format_tar(a) != ARCHIVE_OK)
		return archive_failure(err, a, "set up the reader");
	if (sym_archive_read_open_filename(a, path, READ_BLOCK_SIZE) != ARCHIVE_OK)
		return archive_failure(err, a, "open");
	*out = steal_ptr(&a);
	return 0;
}

/* The next entry; 0 at the end. Warnings (names libarchive could not convert to the locale)
 * are fine: names are only compared here. */
static int next_entry(struct archive *a, struct archive_entry **entry, struct ck_error *err)
{
	int r = sym_archive_read_next_header(a, entry);
	if (r == ARCHIVE_EOF)
		return 0;
	if (r < ARCHIVE_WARN)
		return archive_failure(err, a, "read");
	return 1;
}

/* A member's name as the archive's documents refer to it: without leading "./" or "/". */
static const char *member_key(const char *name)
{
	for (;;) {
		if (name[0] == '/')
			name++;
		else if (name[0] == '.' && name[1] == '/')
			name += 2;
		else
			return name;
	}
}

/* --- the catalog: what the archive holds ------------------------------------------------- */

struct member {
	int64_t size;
	char *link; /* the member this one links to, or NULL */
	char *data; /* the content of a JSON document, or NULL */
	size_t len;
};

static void member_free(void *value)
{
	struct member *m = value;
	free(m->link);
	free(m->data);
	free(m);
}

struct catalog {
	struct strmap *members; /* key -> struct member */
	int64_t document_bytes;
};

/* A link's target as a member key: a symlink's relative to its own directory, a hardlink's
 * relative to the archive root. NULL when it leaves the archive. */
static char *link_key(const char *key, const char *target, bool symlink)
{
	struct buf path = {0};
	if (symlink && target[0] != '/') {
		const char *slash = strrchr(key, '/');
		if (slash)
			buf_append(&path, key, (size_t)(slash - key));
	}
	for (const char *p = target; *p;) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (!path.len) {
				buf_free(&path);
				return NULL;
			}
			char *slash = memrchr(path.data, '/', path.len);
			path.len = slash ? (size_t)(slash - path.data) : 0;
			path.data[path.len] = '\0';
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (path.len)
				buf_putc(&path, '/');
			buf_append(&path, p, n);
		}
		p = *end ? end + 1 : end;
	}
	return buf_steal(&path);
}

/* Reads a member of at most MAX_DOCUMENT_BYTES and keeps it when it looks like JSON (an
 * object, or manifest.json's array). */
static int read_document(struct catalog *catalog, struct archive *a, const char *key,
			 struct member *m, struct ck_error *err)
{
	_cleanup_free_ char *data = malloc((size_t)m->size + 1);
	if (!data)
		return ck_error_set(err, ENOMEM, "%s: out of memory", key);
	size_t len = 0;
	la_ssize_t n;
	while ((n = sym_archive_read_data(a, data + len, (size_t)m->size - len)) > 0)
		len += (size_t)n;
	if (n < 0)
		return archive_failure(err, a, key);
	data[len] = '\0';
	const char *start = data + strspn(data, " \t\r\n");
	if (*start != '{' && *start != '[')
		return 0;
	if (catalog->document_bytes + (int64_t)len > MAX_DOCUMENTS_BYTES)
		return ck_error_set(err, E2BIG, "more than %lld bytes of JSON documents",
				    (long long)MAX_DOCUMENTS_BYTES);
	catalog->document_bytes += (int64_t)len;
	m->data = steal_ptr(&data);
	m->len = len;
	return 0;
}

/* Top-level files (index.json, manifest.json, <id>.json configs) and blobs can be documents;
 * layers further down cannot. */
static bool may_be_document(const char *key, int64_t size)
{
	return size <= MAX_DOCUMENT_BYTES &&
	       (!strchr(key, '/') || strncmp(key, BLOB_PREFIX, strlen(BLOB_PREFIX)) == 0);
}

static int catalog_add(struct catalog *catalog, struct archive *a, struct archive_entry *entry,
		       struct ck_error *err)
{
	const char *name = sym_archive_entry_pathname(entry);
	const char *key = name ? member_key(name) : "";
	const char *hardlink = sym_archive_entry_hardlink(entry);
	mode_t type = sym_archive_entry_filetype(entry);
	if (!*key || (!hardlink && type != AE_IFREG && type != AE_IFLNK))
		return 0;
	struct member *m = calloc(1, sizeof(*m));
	if (!m)
		return ck_error_set(err, ENOMEM, "out of memory");
	m->size = sym_archive_entry_size(entry);
	int r = 0;
	if (hardlink || type == AE_IFLNK) {
		const char *target = hardlink ? hardlink : sym_archive_entry_symlink(entry);
		m->link = target ? link_key(key, target, !hardlink) : NULL;
		if (!m->link)
			r = ck_error_set(err, EINVAL, "%s: link out of the archive", key);
	} else if (m->size < 0) {
		r = ck_error_set(err, EINVAL, "%s: negative size", key);
	} else if (may_be_document(key, m->size)) {
		r = read_document(catalog, a, key, m, err);
	}
	if (r < 0) {
		member_free(m);
		return r;
	}
	strmap_put(catalog->members, key, m);
	return 0;
}

static int catalog_read(struct catalog *catalog, const char *path, struct ck_error *err)
{
	_cleanup_archive_ struct archive *a = NULL;
	int r = open_archive(path, &a, err);
	struct archive_entry *entry;
	size_t count = 0;
	while (r == 0 && (r = next_entry(a, &entry, err)) > 0) {
		if (++count > MAX_MEMBERS)
			return ck_error_set(err, E2BIG, "more than %d members", MAX_MEMBERS);
		r = catalog_add(catalog, a, entry, err);
	}
	return r;
}

/* The member `key` stands for, links followed; NULL when there is none. *resolved is its key
 * (or the last one tried). */
static const struct member *catalog_find(const struct catalog *catalog, const char *key,
					 const char **resolved)
{
	for (int hop = 0; hop <= MAX_LINK_HOPS; hop++) {
		const struct member *m = strmap_get(catalog->members, key);
		*resolved = key;
		if (!m || !m->link)
			return m;
		key = m->link;
	}
	return NULL;
}

static int catalog_document(const struct catalog *catalog, const char *key, json_t **out,
			    const struct member **member, struct ck_error *err)
{
	const char *resolved;
	const struct member *m = catalog_find(catalog, key, &resolved);
	if (!m)
		return ck_error_set(err, ENOENT, "%s: not in the archive", key);
	if (!m->data)
		return ck_error_set(err, EINVAL, "%s: not a JSON document of at most %d bytes", key,
				    MAX_DOCUMENT_BYTES);
	json_error_t json_err;
	*out = json_loadb(m->data, m->len, JSON_REJECT_DUPLICATES, &json_err);
	if (!*out)
		return ck_error_set(err, EINVAL, "%s: line %d: %s", key, json_err.line,
				    json_err.text);
	if (member)
		*member = m;
	return 0;
}

/* --- the plan: records and the blobs they need ------------------------------------------- */

struct planned_blob {
	int64_t size;
	char *member; /* the archive member holding it, or NULL when in memory */
	const char *data;
	size_t len;
	char *owned; /* data made here (a manifest for a `docker save` image) */
};

static void planned_blob_free(void *value)
{
	struct planned_blob *blob = value;
	free(blob->member);
	free(blob->owned);
	free(blob);
}

struct import_plan {
	struct image_record **records;
	size_t count;
	struct strmap *blobs; /* digest -> struct planned_blob */
};

static void plan_add_blob(struct import_plan *plan, const char *digest, int64_t size,
			  const char *member, const char *data, size_t len, char *owned)
{
	if (strmap_get(plan->blobs, digest)) {
		free(owned);
		return;
	}
	/* Out of memory aborts, as the strmap and buf helpers do. */
	struct planned_blob *blob = calloc(1, sizeof(*blob));
	char *member_copy = member ? strdup(member) : NULL;
	if (!blob || (member && !member_copy))
		abort();
	*blob = (struct planned_blob){
	    .size = size, .member = member_copy, .data = data, .len = len, .owned = owned};
	strmap_put(plan->blobs, digest, blob);
}

static int record_add_name(struct image_record *record, const char *text, struct ck_error *err)
{
	struct image_ref ref;
	if (image_ref_parse(text, &ref, err) < 0)
		return ck_error_prefix(err, "name");
	char *name = image_ref_string(&ref);
	image_ref_clear(&ref);
	if (!name)
		return ck_error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < record->name_count; i++) {
		if (strcmp(record->names[i], name) == 0) {
			free(name);
			return 0;
		}
	}
	char **names = record->name_count < MAX_NAMES
			   ? reallocarray(record->names, record->name_count + 1, sizeof(*names))
			   : NULL;
	if (!names) {
		free(name);
		return ck_error_set(err, E2BIG, "more than %d names", MAX_NAMES);
	}
	record->names = names;
	record->names[record->name_count++] = name;
	return 0;
}

/* The same image listed twice (under two tags, say) becomes one record with both names. */
static int plan_add_record(struct import_plan *plan, struct image_record *record,
			   struct ck_error *err)
{
	for (size_t i = 0; i < plan->count; i++) {
		struct image_record *same = plan->records[i];
		if (strcmp(same->id, record->id) != 0)
			continue;
		int r = 0;
		for (size_t n = 0; r == 0 && n < record->name_count; n++)
			r = record_add_name(same, record->names[n], err);
		image_record_free(record);
		return r;
	}
	if (plan->count == MAX_IMAGES) {
		image_record_free(record);
		return ck_error_set(err, E2BIG, "more than %d images", MAX_IMAGES);
	}
	struct image_record **records =
	    reallocarray(plan->records, plan->count + 1, sizeof(*records));
	if (!records) {
		image_record_free(record);
		return ck_error_set(err, ENOMEM, "out of memory");
	}
	plan->records = records;
	plan->records[plan->count++] = record;
	return 0;
}

static struct image_record *new_record(size_t layer_count)
{
	struct image_record *record = calloc(1, sizeof(*record));
	if (record)
		record->layers = calloc(layer_count + 1, sizeof(*record->layers));
	if (!record || !record->layers) {
		image_record_free(record);
		return NULL;
	}
	record->layer_count = layer_count;
	return record;
}

static bool platform_is_ours(const char *os, const char *architecture)
{
	return (!os || strcmp(os, "linux") == 0) &&
	       (!architecture || strcmp(architecture, "amd64") == 0);
}

/* The image config: the ID, each layer's diffID and what a container needs to run. */
static int read_config(struct image_record *record, const char *digest, const char *data,
		       size_t len, struct ck_error *err)
{
	json_error_t json_err;
	_cleanup_json_ json_t *config = json_loadb(data, len, JSON_REJECT_DUPLICATES, &json_err);
	if (!json_is_object(config))
		return ck_error_set(err, EINVAL, "config %s: not a JSON object", digest);
	const char *os = json_string_value(json_object_get(config, "os"));
	const char *arch = json_string_value(json_object_get(config, "architecture"));
	if (!platform_is_ours(os, arch))
		return ck_error_set(err, ENOEXEC,
				    "config %s: the image is for %.40s/%.40s, not linux/amd64",
				    digest, os ? os : "linux", arch ? arch : "amd64");
	const json_t *diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
	if (!json_is_array(diff_ids) || json_array_size(diff_ids) != record->layer_count)
		return ck_error_set(err, EINVAL,
				    "config %s: rootfs.diff_ids does not match the %zu layers",
				    digest, record->layer_count);
	for (size_t i = 0; i < record->layer_count; i++) {
		const char *diff_id = json_string_value(json_array_get(diff_ids, i));
		if (!image_digest_valid(diff_id))
			return ck_error_set(err, EINVAL,
					    "config %s: diff_ids[%zu] is not a sha256 digest",
					    digest, i);
		record->layers[i].diff_id = strdup(diff_id);
	}
	json_t *run = json_object_get(config, "config");
	record->config = json_is_object(run) ? json_deep_copy(run) : json_object();
	record->id = strdup(digest);
	record->size += (int64_t)len;
	return 0;
}

static bool strings_set(const struct image_record *record)
{
	if (!record->id || !record->manifest_digest || !record->config)
		return false;
	for (size_t i = 0; i < record->layer_count; i++)
		if (!record->layers[i].digest || !record->layers[i].diff_id ||
		    !record->layers[i].media_type)
			return false;
	return true;
}

/* --- OCI image layouts ------------------------------------------------------------------- */

struct descriptor {
	const char *media_type;
	const char *digest;
	int64_t size;
	const json_t *platform;
	const json_t *annotations;
};

static int read_descriptor(const json_t *obj, struct descriptor *d, const char *what,
			   struct ck_error *err)
{
	const json_t *size = json_object_get(obj, "size");
	d->media_type = json_string_value(json_object_get(obj, "mediaType"));
	d->digest = json_string_value(json_object_get(obj, "digest"));
	d->size = json_integer_value(size);
	d->platform = json_object_get(obj, "platform");
	d->annotations = json_object_get(obj, "annotations");
	if (!d->media_type || !image_digest_valid(d->digest) || !json_is_integer(size) ||
	    d->size < 0)
		return ck_error_set(
		    err, EINVAL,
		    "%s: not a descriptor with a media type, a sha256 digest and a size", what);
	return 0;
}

static bool platform_matches(const json_t *platform)
{
	const char *os = json_string_value(json_object_get(platform, "os"));
	const char *arch = json_string_value(json_object_get(platform, "architecture"));
	return os && arch && platform_is_ours(os, arch);
}

static void blob_key(const char *digest, char out[BLOB_KEY_SIZE])
{
	snprintf(out, BLOB_KEY_SIZE, "%s%s", BLOB_PREFIX, digest + strlen("sha256:"));
}

/* A blob of the layout, present, of the size its descriptor says. *key is its member (in
 * `name`, or a link's target). */
static int layout_blob(const struct catalog *catalog, const struct descriptor *d,
		       char name[BLOB_KEY_SIZE], const char **key, const struct member **member,
		       struct ck_error *err)
{
	blob_key(d->digest, name);
	*member = catalog_find(catalog, name, key);
	if (!*member)
		return ck_error_set(err, ENOENT, "blob %s: not in the archive", d->digest);
	if ((*member)->size != d->size)
		return ck_error_set(err, EINVAL, "blob %s: %lld bytes, the descriptor says %lld",
				    d->digest, (long long)(*member)->size, (long long)d->size);
	return 0;
}

/* A JSON blob, verified against its digest here, since it is read before it is stored. */
static int layout_document(const struct catalog *catalog, const struct descriptor *d, json_t **doc,
			   const struct member **member, struct ck_error *err)
{
	char name[BLOB_KEY_SIZE];
	const char *key;
	char digest[IMAGE_DIGEST_LENGTH + 1];
	int r = layout_blob(catalog, d, name, &key, member, err);
	if (r == 0)
		r = catalog_document(catalog, key, doc, member, err);
	if (r == 0 && (r = image_digest_of((*member)->data, (*member)->len, digest, err)) == 0 &&
	    strcmp(digest, d->digest) != 0) {
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
	int r = full ? record_add_name(record, full, err) : 0;
	/* Often only a tag ("latest"), which names no repository. */
	if (r == 0 && ref && strpbrk(ref, "/:@"))
		r = record_add_name(record, ref, err);
	return r;
}

static int plan_manifest(struct import_plan *plan, const struct catalog *catalog,
			 const struct descriptor *d, const json_t *annotations,
			 struct ck_error *err)
{
	_cleanup_json_ json_t *manifest = NULL;
	_cleanup_json_ json_t *config_doc = NULL;
	const struct member *manifest_member, *config_member;
	int r = layout_document(catalog, d, &manifest, &manifest_member, err);
	if (r < 0)
		return r;
	const json_t *layers = json_object_get(manifest, "layers");
	struct descriptor config;
	if (json_integer_value(json_object_get(manifest, "schemaVersion")) != 2 ||
	    !json_is_array(layers) || json_array_size(layers) > MAX_LAYERS)
		return ck_error_set(err, EINVAL, "manifest %s: not schema 2 with at most %d layers",
				    d->digest, MAX_LAYERS);
	if ((r = read_descriptor(json_object_get(manifest, "config"), &config, "config", err)) <
		0 ||
	    (r = layout_document(catalog, &config, &config_doc, &config_member, err)) < 0)
		return ck_error_prefix(err, "manifest %s", d->digest);

	struct image_record *record = new_record(json_array_size(layers));
	if (!record)
		return ck_error_set(err, ENOMEM, "out of memory");
	record->manifest_digest = strdup(d->digest);
	r = read_config(record, config.digest, config_member->data, config_member->len, err);
	for (size_t i = 0; r == 0 && i < record->layer_count; i++) {
		struct descriptor layer;
		const struct member *member;
		char name[BLOB_KEY_SIZE];
		const char *key;
		char what[32];
		snprintf(what, sizeof(what), "layer %zu", i);
		r = read_descriptor(json_array_get(layers, i), &layer, what, err);
		if (r == 0)
			r = layout_blob(catalog, &layer, name, &key, &member, err);
		if (r < 0)
			break;
		record->layers[i].digest = strdup(layer.digest);
		record->layers[i].media_type = strdup(layer.media_type);
		record->layers[i].size = layer.size;
		record->size += layer.size;
		plan_add_blob(plan, layer.digest, layer.size, key, NULL, 0, NULL);
	}
	if (r == 0)
		r = names_from_annotations(record, annotations, err);
	if (r == 0 && !strings_set(record))
		r = ck_error_set(err, ENOMEM, "out of memory");
	if (r < 0) {
		image_record_free(record);
		return ck_error_prefix(err, "manifest %s", d->digest);
	}
	plan_add_blob(plan, d->digest, d->size, NULL, manifest_member->data, manifest_member->len,
		      NULL);
	plan_add_blob(plan, config.digest, config.size, NULL, config_member->data,
		      config_member->len, NULL);
	return plan_add_record(plan, record, err);
}

static bool is_index(const char *media_type)
{
	return strcmp(media_type, OCI_INDEX_TYPE) == 0 || strcmp(media_type, DOCKER_LIST_TYPE) == 0;
}

static bool is_manifest(const char *media_type)
{
	return strcmp(media_type, OCI_MANIFEST_TYPE) == 0 ||
	       strcmp(media_type, DOCKER_MANIFEST_TYPE) == 0;
}

/* An image index gives its linux/amd64 manifest; the names are those of the outer entry. */
static int plan_layout_entry(struct import_plan *plan, const struct catalog *catalog,
			     const struct descriptor *d, const json_t *annotations, int depth,
			     struct ck_error *err)
{
	if (is_manifest(d->media_type))
		return plan_manifest(plan, catalog, d, annotations, err);
	if (!is_index(d->media_type))
		return ck_error_set(err, EINVAL, "%s: unsupported media type %s", d->digest,
				    d->media_type);
	if (depth >= MAX_INDEX_DEPTH)
		return ck_error_set(err, ELOOP, "index %s: nested too deep", d->digest);
	_cleanup_json_ json_t *index = NULL;
	const struct member *member;
	int r = layout_document(catalog, d, &index, &member, err);
	if (r < 0)
		return r;
	const json_t *manifests = json_object_get(index, "manifests");
	for (size_t i = 0; i < json_array_size(manifests) && i < MAX_IMAGES; i++) {
		struct descriptor entry;
		if (read_descriptor(json_array_get(manifests, i), &entry, "entry", err) < 0)
			return ck_error_prefix(err, "index %s", d->digest);
		if (platform_matches(entry.platform) &&
		    (is_manifest(entry.media_type) || is_index(entry.media_type)))
			return plan_layout_entry(plan, catalog, &entry, annotations, depth + 1,
						 err);
	}
	return ck_error_set(err, ENOENT, "index %s: no linux/amd64 image", d->digest);
}

static int plan_layout(struct import_plan *plan, const struct catalog *catalog,
		       struct ck_error *err)
{
	_cleanup_json_ json_t *index = NULL;
	int r = catalog_document(catalog, "index.json", &index, NULL, err);
	if (r < 0)
		return r;
	const json_t *manifests = json_object_get(index, "manifests");
	if (!json_is_array(manifests) || json_array_size(manifests) > MAX_IMAGES)
		return ck_error_set(err, EINVAL, "index.json: manifests missing or more than %d",
				    MAX_IMAGES);
	for (size_t i = 0; i < json_array_size(manifests); i++) {
		struct descriptor d;
		char what[48];
		snprintf(what, sizeof(what), "index.json: manifests[%zu]", i);
		if ((r = read_descriptor(json_array_get(manifests, i), &d, what, err)) < 0)
			return r;
		/* Several platforms of one image may be listed side by side. */
		if (d.platform && !platform_matches(d.platform))
			continue;
		if ((r = plan_layout_entry(plan, catalog, &d, d.annotations, 0, err)) < 0)
			return ck_error_prefix(err, "%s", what);
	}
	if (plan->count == 0)
		return ck_error_set(err, ENOENT, "index.json: no linux/amd64 image");
	return 0;
}

/* --- `docker save` archives -------------------------------------------------------------- */

/* A manifest for the image as a registry would serve it: the store records every image by
 * one, and `docker save` writes none in its classic layout. */
static char *docker_manifest(const struct image_record *record, int64_t config_size)
{
	json_t *layers = json_array();
	for (size_t i = 0; i < record->layer_count; i++)
		json_array_append_new(layers, json_pack("{s:s, s:I, s:s}", "mediaType",
							record->layers[i].media_type, "size",
							(json_int_t)record->layers[i].size,
							"digest", record->layers[i].digest));
	_cleanup_json_ json_t *manifest =
	    json_pack("{s:i, s:s, s:{s:s, s:I, s:s}, s:o}", "schemaVersion", 2, "mediaType",
		      DOCKER_MANIFEST_TYPE, "config", "mediaType", DOCKER_CONFIG_TYPE, "size",
		      (json_int_t)config_size, "digest", record->id, "layers", layers);
	return manifest ? json_dump_compact(manifest) : NULL;
}

/* A layer file's digest: a blob's name says it (Docker 25 and later); a classic layer.tar is
 * uncompressed, so its digest is its diffID, which the store verifies as it takes it. */
static int docker_layer(struct import_plan *plan, const struct catalog *catalog, const json_t *name,
			struct image_layer *layer, struct ck_error *err)
{
	const char *key = json_string_value(name);
	if (!key)
		return ck_error_set(err, EINVAL, "Layers: not a list of names");
	const char *resolved = key;
	const struct member *member = catalog_find(catalog, key, &resolved);
	if (!member)
		return ck_error_set(err, ENOENT, "layer %s: %s is not in the archive", key,
				    resolved);
	char digest[IMAGE_DIGEST_LENGTH + 1] = "";
	if (strncmp(resolved, BLOB_PREFIX, strlen(BLOB_PREFIX)) == 0)
		snprintf(digest, sizeof(digest), "sha256:%s", resolved + strlen(BLOB_PREFIX));
	if (!image_digest_valid(digest) && !layer->diff_id)
		return ck_error_set(err, ENOMEM, "out of memory");
	layer->digest = strdup(image_digest_valid(digest) ? digest : layer->diff_id);
	layer->media_type = strdup(DOCKER_LAYER_TYPE);
	layer->size = member->size;
	if (layer->digest)
		plan_add_blob(plan, layer->digest, member->size, resolved, NULL, 0, NULL);
	return 0;
}

static int plan_docker_image(struct import_plan *plan, const struct catalog *catalog,
			     const json_t *entry, struct ck_error *err)
{
	const char *config_key = json_string_value(json_object_get(entry, "Config"));
	const json_t *tags = json_object_get(entry, "RepoTags");
	const json_t *layers = json_object_get(entry, "Layers");
	if (!config_key || !json_is_array(layers) || json_array_size(layers) > MAX_LAYERS ||
	    !(json_is_array(tags) || json_is_null(tags) || !tags))
		return ck_error_set(err, EINVAL,
				    "not an entry with Config, Layers (at most %d) and RepoTags",
				    MAX_LAYERS);
	_cleanup_json_ json_t *unused = NULL;
	const struct member *config;
	int r = catalog_document(catalog, config_key, &unused, &config, err);
	if (r < 0)
		return r;
	char config_digest[IMAGE_DIGEST_LENGTH + 1];
	if ((r = image_digest_of(config->data, config->len, config_digest, err)) < 0)
		return r;
	struct image_record *record = new_record(json_array_size(layers));
	if (!record)
		return ck_error_set(err, ENOMEM, "out of memory");
	r = read_config(record, config_digest, config->data, config->len, err);
	for (size_t i = 0; r == 0 && i < record->layer_count; i++) {
		r = docker_layer(plan, catalog, json_array_get(layers, i), &record->layers[i], err);
		if (r == 0)
			record->size += record->layers[i].size;
	}
	for (size_t i = 0; r == 0 && i < json_array_size(tags); i++) {
		const char *tag = json_string_value(json_array_get(tags, i));
		r = tag ? record_add_name(record, tag, err)
			: ck_error_set(err, EINVAL, "RepoTags[%zu]: not a string", i);
	}
	char *manifest = r == 0 ? docker_manifest(record, (int64_t)config->len) : NULL;
	char manifest_digest[IMAGE_DIGEST_LENGTH + 1];
	if (r == 0 && !manifest)
		r = ck_error_set(err, ENOMEM, "out of memory");
	if (r == 0 && (r = image_digest_of(manifest, strlen(manifest), manifest_digest, err)) == 0)
		record->manifest_digest = strdup(manifest_digest);
	if (r == 0 && !strings_set(record))
		r = ck_error_set(err, ENOMEM, "out of memory");
	if (r < 0) {
		free(manifest);
		image_record_free(record);
		return r;
	}
	plan_add_blob(plan, config_digest, (int64_t)config->len, NULL, config->data, config->len,
		      NULL);
	plan_add_blob(plan, manifest_digest, (int64_t)strlen(manifest), NULL, manifest,
		      strlen(manifest), manifest);
	return plan_add_record(plan, record, err);
}

static int plan_docker(struct import_plan *plan, const struct catalog *catalog,
		       struct ck_error *err)
{
	_cleanup_json_ json_t *images = NULL;
	int r = catalog_document(catalog, "manifest.json", &images, NULL, err);
	if (r < 0)
		return r;
	if (!json_is_array(images) || json_array_size(images) == 0 ||
	    json_array_size(images) > MAX_IMAGES)
		return ck_error_set(err, EINVAL, "manifest.json: not a list of 1 to %d images",
				    MAX_IMAGES);
	for (size_t i = 0; i < json_array_size(images); i++) {
		if ((r = plan_docker_image(plan, catalog, json_array_get(images, i), err)) < 0)
			return ck_error_prefix(err, "manifest.json: image %zu", i);
	}
	return 0;
}

/* --- into the store ---------------------------------------------------------------------- */

static bool store_has(struct image_store *store, const char *digest)
{
	_cleanup_free_ char *path = image_store_blob_path(store, digest);
	return path != NULL;
}

/* Under the blob's lock, like a pull, so that a pull or import of the same blob waits and then
 * finds it. `read` supplies the bytes. */
static int store_blob(struct image_store *store, const char *digest, int64_t size,
		      int (*read)(void *ctx, const void **data, size_t *len, struct ck_error *err),
		      void *ctx, struct ck_error *err)
{
	_cleanup_close_ int lock = image_store_lock_digest(store, digest, err);
	if (lock < 0)
		return lock;
	if (store_has(store, digest))
		return 0;
	struct blob_writer *writer;
	int r = image_store_blob_begin(store, digest, size, &writer, err);
	if (r < 0)
		return r;
	const void *data;
	size_t len;
	while ((r = read(ctx, &data, &len, err)) > 0) {
		if ((r = blob_writer_write(writer, data, len, err)) < 0)
			break;
	}
	if (r < 0) {
		blob_writer_abort(writer);
		return r;
	}
	return blob_writer_commit(writer, err);
}

static int read_memory(void *ctx, const void **data, size_t *len, struct ck_error *err)
{
	(void)err;
	struct planned_blob *blob = ctx;
	if (!blob->data)
		return 0;
	*data = blob->data;
	*len = blob->len;
	blob->data = NULL;
	return 1;
}

static int read_member(void *ctx, const void **data, size_t *len, struct ck_error *err)
{
	struct archive *a = ctx;
	la_int64_t offset;
	int r = sym_archive_read_data_block(a, data, len, &offset);
	if (r == ARCHIVE_EOF)
		return 0;
	return r == ARCHIVE_OK ? 1 : archive_failure(err, a, "read");
}

static int store_documents(struct image_store *store, struct import_plan *plan,
			   struct ck_error *err)
{
	const char *digest;
	struct planned_blob *blob;
	STRMAP_FOREACH (plan->blobs, iter, digest, blob) {
		if (blob->member)
			continue;
		int r = store_blob(store, digest, blob->size, read_memory, blob, err);
		if (r < 0)
			return ck_error_prefix(err, "store %s", digest);
	}
	return 0;
}

/* The second read of the archive: each wanted member streams into the store. */
static int store_members(struct image_store *store, const char *path, struct import_plan *plan,
			 struct ck_error *err)
{
	struct strmap *wanted = strmap_new(NULL); /* member key -> digest */
	const char *digest;
	struct planned_blob *blob;
	STRMAP_FOREACH (plan->blobs, iter, digest, blob) {
		if (blob->member && !store_has(store, digest))
			strmap_put(wanted, blob->member, (void *)digest);
	}
	_cleanup_archive_ struct archive *a = NULL;
	int r = strmap_size(wanted) ? open_archive(path, &a, err) : 0;
	struct archive_entry *entry;
	while (r == 0 && strmap_size(wanted) && (r = next_entry(a, &entry, err)) > 0) {
		const char *name = sym_archive_entry_pathname(entry);
		const char *key = name ? member_key(name) : "";
		digest = strmap_get(wanted, key);
		r = 0;
		if (!digest || sym_archive_entry_filetype(entry) != AE_IFREG ||
		    sym_archive_entry_hardlink(entry))
			continue;
		blob = strmap_get(plan->blobs, digest);
		r = store_blob(store, digest, blob->size, read_member, a, err);
		if (r < 0)
			r = ck_error_prefix(err, "%s", key);
		strmap_remove(wanted, key);
	}
	const char *key;
	STRMAP_FOREACH (wanted, iter, key, digest) {
		if (r == 0)
			r = ck_error_set(err, ENOENT, "%s (blob %s): not in the archive", key,
					 digest);
	}
	strmap_free(wanted);
	return r;
}

static int unpack_layers(struct image_store *store, const struct import_plan *plan,
			 struct ck_error *err)
{
	for (size_t i = 0; i < plan->count; i++) {
		const struct image_record *record = plan->records[i];
		for (size_t l = 0; l < record->layer_count; l++) {
			const struct image_layer *layer = &record->layers[l];
			_cleanup_close_ int lock =
			    image_store_lock_digest(store, layer->digest, err);
			if (lock < 0)
				return lock;
			int r = image_store_unpack_layer(store, layer->digest, layer->media_type,
							 layer->diff_id, err);
			if (r < 0)
				return ck_error_prefix(err, "image %s", record->id);
		}
	}
	return 0;
}

int image_import(struct image_store *store, const char *path, struct image_record ***out,
		 size_t *count, struct ck_error *err)
{
	if (dlopen_archive(err) < 0)
		return ck_error_prefix(err, "import %s", path);
	struct catalog catalog = {.members = strmap_new(member_free)};
	struct import_plan plan = {.blobs = strmap_new(planned_blob_free)};
	int r = catalog_read(&catalog, path, err);
	if (r == 0)
		r = strmap_get(catalog.members, "manifest.json") ? plan_docker(&plan, &catalog, err)
		    : strmap_get(catalog.members, "index.json")
			? plan_layout(&plan, &catalog, err)
			: ck_error_set(err, EINVAL,
				       "neither a docker save archive (manifest.json) nor an OCI "
				       "image layout (index.json)");
	if (r == 0)
		r = store_documents(store, &plan, err);
	if (r == 0)
		r = store_members(store, path, &plan, err);
	if (r == 0)
		r = unpack_layers(store, &plan, err);
	for (size_t i = 0; r == 0 && i < plan.count; i++)
		r = image_store_put(store, plan.records[i], err);
	if (r == 0) {
		*out = steal_ptr(&plan.records);
		*count = plan.count;
		plan.count = 0;
	}
	for (size_t i = 0; i < plan.count; i++)
		image_record_free(plan.records[i]);
	free(plan.records);
	strmap_free(plan.blobs);
	strmap_free(catalog.members);
	return r < 0 ? ck_error_prefix(err, "import %s", path) : 0;
}
