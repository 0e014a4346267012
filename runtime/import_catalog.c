/* The catalog of an image archive: its first read, which keeps each member's size, where its
 * links lead, and the content of what may be a JSON document (see import_internal.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "runtime/image_manifest.h"
#include "runtime/import_internal.h"

/* Bounds on what an archive may ask for. */
#define MAX_MEMBERS 200000
#define MAX_DOCUMENTS_BYTES (INT64_C(256) << 20)
#define MAX_LINK_HOPS 8
#define READ_BLOCK_SIZE (128 * 1024)

int import_archive_open(const char *path, struct archive **out, struct ck_error *err)
{
	_cleanup_archive_ struct archive *a = sym_archive_read_new();
	if (!a)
		return ck_error_set(err, ENOMEM, "allocate a libarchive reader");
	if (sym_archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    sym_archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
	    sym_archive_read_support_filter_xz(a) != ARCHIVE_OK ||
	    sym_archive_read_support_format_tar(a) != ARCHIVE_OK)
		return archive_error(err, a, "set up the reader");
	if (sym_archive_read_open_filename(a, path, READ_BLOCK_SIZE) != ARCHIVE_OK)
		return archive_error(err, a, "open");
	*out = steal_ptr(&a);
	return 0;
}

/* Warnings (names libarchive could not convert to the locale) are fine: names are only
 * compared here. */
int import_archive_next(struct archive *a, struct archive_entry **entry, struct ck_error *err)
{
	int r = sym_archive_read_next_header(a, entry);
	if (r == ARCHIVE_EOF)
		return 0;
	if (r < ARCHIVE_WARN)
		return archive_error(err, a, "read");
	return 1;
}

const char *import_member_key(const char *name)
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

static void member_free(void *value)
{
	struct import_member *m = value;
	free(m->link);
	free(m->data);
	free(m);
}

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

/* Reads a member of at most IMAGE_DOCUMENT_MAX_BYTES and keeps it when it looks like JSON (an
 * object, or manifest.json's array). */
static int read_document(struct import_catalog *catalog, struct archive *a, const char *key,
			 struct import_member *m, struct ck_error *err)
{
	_cleanup_free_ char *data = malloc((size_t)m->size + 1);
	if (!data)
		return ck_error_set(err, ENOMEM, "%s: out of memory", key);
	size_t len = 0;
	la_ssize_t n;
	while ((n = sym_archive_read_data(a, data + len, (size_t)m->size - len)) > 0)
		len += (size_t)n;
	if (n < 0)
		return archive_error(err, a, key);
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
	return size <= IMAGE_DOCUMENT_MAX_BYTES &&
	       (!strchr(key, '/') ||
		strncmp(key, IMPORT_BLOB_PREFIX, strlen(IMPORT_BLOB_PREFIX)) == 0);
}

static int catalog_add(struct import_catalog *catalog, struct archive *a,
		       struct archive_entry *entry, struct ck_error *err)
{
	const char *name = sym_archive_entry_pathname(entry);
	const char *key = name ? import_member_key(name) : "";
	const char *hardlink = sym_archive_entry_hardlink(entry);
	mode_t type = sym_archive_entry_filetype(entry);
	if (!*key || (!hardlink && type != AE_IFREG && type != AE_IFLNK))
		return 0;
	struct import_member *m = calloc(1, sizeof(*m));
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

int import_catalog_read(struct import_catalog *catalog, const char *path, struct ck_error *err)
{
	catalog->members = strmap_new(member_free);
	catalog->document_bytes = 0;
	_cleanup_archive_ struct archive *a = NULL;
	int r = import_archive_open(path, &a, err);
	struct archive_entry *entry;
	size_t count = 0;
	while (r == 0 && (r = import_archive_next(a, &entry, err)) > 0) {
		if (++count > MAX_MEMBERS)
			return ck_error_set(err, E2BIG, "more than %d members", MAX_MEMBERS);
		r = catalog_add(catalog, a, entry, err);
	}
	return r;
}

const struct import_member *import_catalog_find(const struct import_catalog *catalog,
						const char *key, const char **resolved)
{
	for (int hop = 0; hop <= MAX_LINK_HOPS; hop++) {
		const struct import_member *m = strmap_get(catalog->members, key);
		*resolved = key;
		if (!m || !m->link)
			return m;
		key = m->link;
	}
	return NULL;
}

int import_catalog_document(const struct import_catalog *catalog, const char *key, json_t **doc,
			    const struct import_member **member, struct ck_error *err)
{
	const char *resolved;
	const struct import_member *m = import_catalog_find(catalog, key, &resolved);
	if (!m)
		return ck_error_set(err, ENOENT, "%s: not in the archive", key);
	if (!m->data)
		return ck_error_set(err, EINVAL, "%s: not a JSON document of at most %d bytes", key,
				    IMAGE_DOCUMENT_MAX_BYTES);
	json_error_t json_err;
	if (doc && !(*doc = json_loadb(m->data, m->len, JSON_REJECT_DUPLICATES, &json_err)))
		return ck_error_set(err, EINVAL, "%s: line %d: %s", key, json_err.line,
				    json_err.text);
	if (member)
		*member = m;
	return 0;
}

void import_catalog_clear(struct import_catalog *catalog)
{
	strmap_free(catalog->members);
	catalog->members = NULL;
}
