/* Importing `docker save` and OCI layout archives into a throw-away store: what gets recorded,
 * what gets unpacked, and that bad archives record nothing. Needs root to unpack layers with
 * their owners, like the node agent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/fsutil.h"
#include "runtime/image_import.h"
#include "runtime/image_store.h"

#define OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"

/* --- archives in memory ------------------------------------------------------------------ */

static la_ssize_t collect(struct archive *a, void *ctx, const void *data, size_t len)
{
	(void)a;
	buf_append(ctx, data, len);
	return (la_ssize_t)len;
}

struct member {
	const char *name;
	const char *data; /* NULL for a directory */
	size_t len;
	const char *symlink;
};

/* A tar of `members`, deterministic whatever the filter (no padding after the end). */
static struct buf tar_of(int filter, const struct member *members, size_t count)
{
	struct buf out = {0};
	struct archive *a = archive_write_new();
	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	assert_int_equal(archive_write_set_bytes_in_last_block(a, 1), ARCHIVE_OK);
	if (filter != ARCHIVE_FILTER_NONE)
		assert_int_equal(archive_write_add_filter(a, filter), ARCHIVE_OK);
	assert_int_equal(archive_write_open(a, &out, NULL, collect, NULL), ARCHIVE_OK);
	for (size_t i = 0; i < count; i++) {
		const struct member *m = &members[i];
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, m->name);
		archive_entry_set_mtime(e, 1700000000, 0);
		if (m->symlink) {
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_perm(e, 0777);
			archive_entry_set_symlink(e, m->symlink);
		} else if (!m->data) {
			archive_entry_set_filetype(e, AE_IFDIR);
			archive_entry_set_perm(e, 0755);
		} else {
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0644);
			archive_entry_set_size(e, (la_int64_t)m->len);
		}
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (m->data && m->len)
			assert_int_equal(archive_write_data(a, m->data, m->len),
					 (la_ssize_t)m->len);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return out;
}

static struct member file(const char *name, const struct buf *content)
{
	return (struct member){.name = name, .data = content->data, .len = content->len};
}

static struct member text(const char *name, const char *content)
{
	return (struct member){.name = name, .data = content, .len = strlen(content)};
}

static void digest_of(const struct buf *b, char out[IMAGE_DIGEST_LENGTH + 1])
{
	assert_int_equal(image_digest_of(b->data, b->len, out, NULL), 0);
}

static const char *hex(const char *digest)
{
	return digest + strlen("sha256:");
}

/* One image: a one-layer filesystem with `path` holding `content`. */
struct image {
	struct buf layer;     /* as the archive carries it */
	struct buf layer_tar; /* uncompressed */
	char layer_digest[IMAGE_DIGEST_LENGTH + 1];
	char diff_id[IMAGE_DIGEST_LENGTH + 1];
	struct buf config;
	char config_digest[IMAGE_DIGEST_LENGTH + 1];
	struct buf manifest;
	char manifest_digest[IMAGE_DIGEST_LENGTH + 1];
};

static void json_into(struct buf *out, json_t *doc)
{
	char *s = json_dumps(doc, JSON_COMPACT);
	assert_non_null(s);
	buf_puts(out, s);
	free(s);
	json_decref(doc);
}

static void make_image(struct image *img, int filter, const char *arch, const char *path,
		       const char *content, const char *tar_entry)
{
	memset(img, 0, sizeof(*img));
	const struct member files[] = {
	    {.name = "etc"}, text(path, content), text(tar_entry ? tar_entry : "etc/ok", "x")};
	img->layer_tar = tar_of(ARCHIVE_FILTER_NONE, files, 3);
	img->layer = tar_of(filter, files, 3);
	digest_of(&img->layer_tar, img->diff_id);
	digest_of(&img->layer, img->layer_digest);
	json_into(&img->config,
		  json_pack("{s:s, s:s, s:{s:[s], s:[s]}, s:{s:s, s:[s]}}", "architecture", arch,
			    "os", "linux", "config", "Cmd", "sh", "Env", "PATH=/bin", "rootfs",
			    "type", "layers", "diff_ids", img->diff_id));
	digest_of(&img->config, img->config_digest);
	json_into(&img->manifest,
		  json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}]}", "schemaVersion",
			    2, "mediaType", "application/vnd.oci.image.manifest.v1+json", "config",
			    "mediaType", "application/vnd.oci.image.config.v1+json", "digest",
			    img->config_digest, "size", (json_int_t)img->config.len, "layers",
			    "mediaType", OCI_LAYER_GZIP, "digest", img->layer_digest, "size",
			    (json_int_t)img->layer.len));
	digest_of(&img->manifest, img->manifest_digest);
}

static void image_free(struct image *img)
{
	buf_free(&img->layer);
	buf_free(&img->layer_tar);
	buf_free(&img->config);
	buf_free(&img->manifest);
}

/* --- the store and the archive file ------------------------------------------------------ */

struct sandbox {
	char dir[64];
	char archive[96];
	char store_root[96];
	struct image_store *store;
};

static int setup(void **state)
{
	struct sandbox *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	snprintf(s->dir, sizeof(s->dir), "/tmp/ckube-import-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->archive, sizeof(s->archive), "%s/archive.tar", s->dir);
	snprintf(s->store_root, sizeof(s->store_root), "%s/images", s->dir);
	struct ck_error err = {0};
	if (image_store_open(s->store_root, &s->store, &err) < 0)
		fail_msg("%s", err.message);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct sandbox *s = *state;
	struct ck_error err = {0};
	image_store_close(s->store);
	assert_int_equal(fs_remove_tree(AT_FDCWD, s->dir, &err), 0);
	free(s);
	return 0;
}

static void write_archive(const struct sandbox *s, const struct buf *archive)
{
	FILE *f = fopen(s->archive, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(archive->data, 1, archive->len, f), archive->len);
	assert_int_equal(fclose(f), 0);
}

static int import(const struct sandbox *s, const struct buf *archive, struct image_record ***out,
		  size_t *count, struct ck_error *err)
{
	write_archive(s, archive);
	return image_import(s->store, s->archive, out, count, err);
}

static void free_records(struct image_record **records, size_t count)
{
	for (size_t i = 0; i < count; i++)
		image_record_free(records[i]);
	free(records);
}

static void assert_unpacked(const struct sandbox *s, const char *diff_id, const char *path,
			    const char *content)
{
	char *layer = image_store_layer_path(s->store, diff_id);
	assert_non_null(layer);
	char *file_path = NULL;
	assert_true(asprintf(&file_path, "%s/%s", layer, path) > 0);
	char *data = NULL;
	size_t len = 0;
	struct ck_error err = {0};
	assert_int_equal(fs_read_file(file_path, &data, &len, &err), 0);
	assert_string_equal(data, content);
	free(data);
	free(file_path);
	free(layer);
}

static bool names_include(const struct image_record *record, const char *name)
{
	for (size_t i = 0; i < record->name_count; i++)
		if (strcmp(record->names[i], name) == 0)
			return true;
	return false;
}

static size_t stored_images(const struct sandbox *s)
{
	struct image_record **records;
	size_t count;
	struct ck_error err = {0};
	assert_int_equal(image_store_list(s->store, &records, &count, &err), 0);
	free_records(records, count);
	return count;
}

/* --- the archives ------------------------------------------------------------------------ */

/* A classic `docker save`: <config hex>.json, <id>/layer.tar, and a second image sharing the
 * layer through a symlink, as docker writes duplicates. */
static struct buf docker_save_archive(const struct image *a, const struct image *b,
				      const char *layer_link)
{
	char config_a[80], config_b[80];
	snprintf(config_a, sizeof(config_a), "%.64s.json", hex(a->config_digest));
	snprintf(config_b, sizeof(config_b), "%.64s.json", hex(b->config_digest));
	struct buf manifest = {0};
	json_into(&manifest, json_pack("[{s:s, s:[s, s], s:[s]}, {s:s, s:n, s:[s]}]", "Config",
				       config_a, "RepoTags", "busybox:1.36",
				       "example.com:5000/team/app:v1", "Layers", "aaa/layer.tar",
				       "Config", config_b, "RepoTags", "Layers", "bbb/layer.tar"));
	const struct member members[] = {
	    {.name = "aaa"},
	    file("aaa/layer.tar", &a->layer_tar),
	    text("aaa/VERSION", "1.0"),
	    {.name = "bbb"},
	    {.name = "bbb/layer.tar", .symlink = layer_link},
	    file(config_a, &a->config),
	    file(config_b, &b->config),
	    file("manifest.json", &manifest),
	    text("repositories", "{}"),
	};
	struct buf out = tar_of(ARCHIVE_FILTER_NONE, members, sizeof(members) / sizeof(members[0]));
	buf_free(&manifest);
	return out;
}

static void docker_save_is_imported(void **state)
{
	if (geteuid() != 0)
		skip();
	struct sandbox *s = *state;
	struct image a, b;
	make_image(&a, ARCHIVE_FILTER_NONE, "amd64", "etc/motd", "from docker save", NULL);
	/* The same layer, another config: shared through the symlink. */
	make_image(&b, ARCHIVE_FILTER_NONE, "amd64", "etc/motd", "from docker save", NULL);
	json_t *config = json_loadb(b.config.data, b.config.len, 0, NULL);
	json_object_set_new(config, "created", json_string("2024-01-01T00:00:00Z"));
	buf_reset(&b.config);
	json_into(&b.config, config);
	digest_of(&b.config, b.config_digest);

	struct buf archive = docker_save_archive(&a, &b, "../aaa/layer.tar");
	struct image_record **records = NULL;
	size_t count = 0;
	struct ck_error err = {0};
	int r = import(s, &archive, &records, &count, &err);
	if (r < 0)
		fail_msg("%s", err.message);
	assert_int_equal(count, 2);
	assert_string_equal(records[0]->id, a.config_digest);
	assert_true(names_include(records[0], "docker.io/library/busybox:1.36"));
	assert_true(names_include(records[0], "example.com:5000/team/app:v1"));
	assert_int_equal(records[0]->layer_count, 1);
	assert_string_equal(records[0]->layers[0].diff_id, a.diff_id);
	/* Uncompressed, so the blob digest is the diffID. */
	assert_string_equal(records[0]->layers[0].digest, a.diff_id);
	assert_int_equal(records[0]->size, (int64_t)(a.layer_tar.len + a.config.len));
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(records[0]->config, "Cmd"), 0)), "sh");
	assert_string_equal(records[1]->id, b.config_digest);
	assert_int_equal(records[1]->name_count, 0);
	free_records(records, count);

	struct image_record *found = NULL;
	assert_int_equal(image_store_find(s->store, "busybox:1.36", &found, &err), 0);
	assert_string_equal(found->id, a.config_digest);
	char *manifest_blob = image_store_blob_path(s->store, found->manifest_digest);
	assert_non_null(manifest_blob);
	free(manifest_blob);
	image_record_free(found);
	assert_unpacked(s, a.diff_id, "etc/motd", "from docker save");

	/* Importing again changes nothing. */
	assert_int_equal(import(s, &archive, &records, &count, &err), 0);
	free_records(records, count);
	assert_int_equal(stored_images(s), 2);
	buf_free(&archive);
	image_free(&a);
	image_free(&b);
}

/* An OCI layout whose index names an image index with two platforms. */
static struct buf oci_archive(const struct image *amd64, const struct image *arm64,
			      int outer_filter, bool corrupt_layer)
{
	struct buf index = {0}, nested = {0};
	json_into(
	    &nested,
	    json_pack(
		"{s:i, s:s, s:[{s:s, s:s, s:I, s:{s:s, s:s}}, {s:s, s:s, s:I, s:{s:s, s:s}}]}",
		"schemaVersion", 2, "mediaType", "application/vnd.oci.image.index.v1+json",
		"manifests", "mediaType", "application/vnd.oci.image.manifest.v1+json", "digest",
		arm64->manifest_digest, "size", (json_int_t)arm64->manifest.len, "platform", "os",
		"linux", "architecture", "arm64", "mediaType",
		"application/vnd.oci.image.manifest.v1+json", "digest", amd64->manifest_digest,
		"size", (json_int_t)amd64->manifest.len, "platform", "os", "linux", "architecture",
		"amd64"));
	char nested_digest[IMAGE_DIGEST_LENGTH + 1];
	digest_of(&nested, nested_digest);
	json_into(&index,
		  json_pack("{s:i, s:[{s:s, s:s, s:I, s:{s:s, s:s}}]}", "schemaVersion", 2,
			    "manifests", "mediaType", "application/vnd.oci.image.index.v1+json",
			    "digest", nested_digest, "size", (json_int_t)nested.len, "annotations",
			    "io.containerd.image.name", "registry.local/tools:2",
			    "org.opencontainers.image.ref.name", "2"));
	char names[8][96];
	const struct image *images[] = {amd64, arm64};
	struct member members[12];
	size_t n = 0;
	members[n++] = text("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
	members[n++] = file("index.json", &index);
	members[n++] = (struct member){.name = "blobs"};
	snprintf(names[0], sizeof(names[0]), "blobs/sha256/%s", hex(nested_digest));
	members[n++] = file(names[0], &nested);
	for (size_t i = 0; i < 2; i++) {
		const struct image *img = images[i];
		snprintf(names[1 + 3 * i], sizeof(names[0]), "blobs/sha256/%s",
			 hex(img->manifest_digest));
		snprintf(names[2 + 3 * i], sizeof(names[0]), "blobs/sha256/%s",
			 hex(img->config_digest));
		snprintf(names[3 + 3 * i], sizeof(names[0]), "blobs/sha256/%s",
			 hex(img->layer_digest));
		members[n++] = file(names[1 + 3 * i], &img->manifest);
		members[n++] = file(names[2 + 3 * i], &img->config);
		members[n] = file(names[3 + 3 * i], &img->layer);
		if (corrupt_layer && i == 0)
			members[n].data = img->layer_tar.data; /* same length, other bytes */
		n++;
	}
	struct buf out = tar_of(outer_filter, members, n);
	buf_free(&index);
	buf_free(&nested);
	return out;
}

static void oci_layout_gives_the_amd64_image(void **state)
{
	if (geteuid() != 0)
		skip();
	struct sandbox *s = *state;
	struct image amd64, arm64;
	make_image(&amd64, ARCHIVE_FILTER_GZIP, "amd64", "etc/os-release", "amd64 layer", NULL);
	make_image(&arm64, ARCHIVE_FILTER_GZIP, "arm64", "etc/os-release", "arm64 layer", NULL);
	/* The archive itself compressed too, as `docker save | gzip` gives. */
	struct buf archive = oci_archive(&amd64, &arm64, ARCHIVE_FILTER_GZIP, false);
	struct image_record **records = NULL;
	size_t count = 0;
	struct ck_error err = {0};
	if (import(s, &archive, &records, &count, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(count, 1);
	assert_string_equal(records[0]->id, amd64.config_digest);
	assert_string_equal(records[0]->manifest_digest, amd64.manifest_digest);
	assert_int_equal(records[0]->name_count, 1);
	assert_string_equal(records[0]->names[0], "registry.local/tools:2");
	assert_string_equal(records[0]->layers[0].digest, amd64.layer_digest);
	assert_string_equal(records[0]->layers[0].media_type, OCI_LAYER_GZIP);
	free_records(records, count);
	assert_unpacked(s, amd64.diff_id, "etc/os-release", "amd64 layer");
	char *arm_layer = image_store_blob_path(s->store, arm64.layer_digest);
	assert_null(arm_layer);
	buf_free(&archive);
	image_free(&amd64);
	image_free(&arm64);
}

/* --- archives that must record nothing ---------------------------------------------------- */

static void assert_refused(const struct sandbox *s, const struct buf *archive, int expected,
			   const char *words)
{
	struct image_record **records = NULL;
	size_t count = 0;
	struct ck_error err = {0};
	int r = import(s, archive, &records, &count, &err);
	if (r != expected)
		fail_msg("got %d (%s), expected %d", r, err.message, expected);
	print_message("    %s\n", err.message);
	assert_non_null(strstr(err.message, "import "));
	assert_non_null(strstr(err.message, words));
	assert_int_equal(stored_images(s), 0);
}

static void tampered_blob_is_refused(void **state)
{
	if (geteuid() != 0)
		skip();
	struct sandbox *s = *state;
	struct image amd64, arm64;
	make_image(&amd64, ARCHIVE_FILTER_GZIP, "amd64", "etc/a", "a", NULL);
	make_image(&arm64, ARCHIVE_FILTER_GZIP, "arm64", "etc/a", "a", NULL);
	struct buf archive = oci_archive(&amd64, &arm64, ARCHIVE_FILTER_NONE, true);
	/* The store's own check, as the blob goes in. */
	assert_refused(s, &archive, -EIO, "digest mismatch");
	char *blob = image_store_blob_path(s->store, amd64.layer_digest);
	assert_null(blob);
	buf_free(&archive);
	image_free(&amd64);
	image_free(&arm64);
}

static void hostile_layer_is_refused(void **state)
{
	if (geteuid() != 0)
		skip();
	struct sandbox *s = *state;
	struct image a;
	make_image(&a, ARCHIVE_FILTER_NONE, "amd64", "etc/a", "a", "../../../escaped");
	struct buf archive = docker_save_archive(&a, &a, "../aaa/layer.tar");
	assert_refused(s, &archive, -EINVAL, "\"..\"");
	char escaped[128];
	snprintf(escaped, sizeof(escaped), "%s/escaped", s->dir);
	assert_int_equal(access(escaped, F_OK), -1);
	assert_null(image_store_layer_path(s->store, a.diff_id));
	buf_free(&archive);
	image_free(&a);
}

static void link_out_of_the_archive_is_refused(void **state)
{
	if (geteuid() != 0)
		skip();
	struct sandbox *s = *state;
	struct image a;
	make_image(&a, ARCHIVE_FILTER_NONE, "amd64", "etc/a", "a", NULL);
	struct buf archive = docker_save_archive(&a, &a, "../../etc/passwd");
	assert_refused(s, &archive, -EINVAL, "link out of the archive");
	buf_free(&archive);
	image_free(&a);
}

static void wrong_platform_is_refused(void **state)
{
	if (geteuid() != 0)
		skip();
	struct sandbox *s = *state;
	struct image a;
	make_image(&a, ARCHIVE_FILTER_NONE, "s390x", "etc/a", "a", NULL);
	struct buf archive = docker_save_archive(&a, &a, "../aaa/layer.tar");
	assert_refused(s, &archive, -ENOEXEC, "linux/amd64");
	buf_free(&archive);
	image_free(&a);
}

static void missing_layer_is_refused(void **state)
{
	if (geteuid() != 0)
		skip();
	struct sandbox *s = *state;
	struct image a;
	make_image(&a, ARCHIVE_FILTER_NONE, "amd64", "etc/a", "a", NULL);
	struct buf archive = docker_save_archive(&a, &a, "../nowhere/layer.tar");
	assert_refused(s, &archive, -ENOENT, "nowhere/layer.tar");
	/* Refused while planning: nothing was written. */
	char *config = image_store_blob_path(s->store, a.config_digest);
	assert_null(config);
	buf_free(&archive);
	image_free(&a);
}

static void diff_ids_must_match_layers(void **state)
{
	if (geteuid() != 0)
		skip();
	struct sandbox *s = *state;
	struct image a;
	make_image(&a, ARCHIVE_FILTER_NONE, "amd64", "etc/a", "a", NULL);
	struct buf manifest = {0};
	char config_name[80];
	snprintf(config_name, sizeof(config_name), "%.64s.json", hex(a.config_digest));
	json_into(&manifest, json_pack("[{s:s, s:[s], s:[s, s]}]", "Config", config_name,
				       "RepoTags", "x:1", "Layers", "l/layer.tar", "l/layer.tar"));
	const struct member members[] = {file("l/layer.tar", &a.layer_tar),
					 file(config_name, &a.config),
					 file("manifest.json", &manifest)};
	struct buf archive = tar_of(ARCHIVE_FILTER_NONE, members, 3);
	assert_refused(s, &archive, -EINVAL, "diff_ids");
	buf_free(&archive);
	buf_free(&manifest);
	image_free(&a);
}

static void layer_not_matching_its_diff_id_is_refused(void **state)
{
	if (geteuid() != 0)
		skip();
	struct sandbox *s = *state;
	struct image a, other;
	make_image(&a, ARCHIVE_FILTER_GZIP, "amd64", "etc/a", "a", NULL);
	make_image(&other, ARCHIVE_FILTER_GZIP, "amd64", "etc/a", "other", NULL);
	/* The config of `a` with the layer of `other`: the blob is intact, the diffID is not. */
	buf_free(&a.layer);
	buf_append(&a.layer, other.layer.data, other.layer.len);
	memcpy(a.layer_digest, other.layer_digest, sizeof(a.layer_digest));
	buf_reset(&a.manifest);
	json_into(&a.manifest,
		  json_pack("{s:i, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2,
			    "config", "mediaType", "application/vnd.oci.image.config.v1+json",
			    "digest", a.config_digest, "size", (json_int_t)a.config.len, "layers",
			    "mediaType", OCI_LAYER_GZIP, "digest", a.layer_digest, "size",
			    (json_int_t)a.layer.len));
	digest_of(&a.manifest, a.manifest_digest);
	struct buf archive = oci_archive(&a, &other, ARCHIVE_FILTER_NONE, false);
	assert_refused(s, &archive, -EILSEQ, "expected");
	assert_null(image_store_layer_path(s->store, a.diff_id));
	buf_free(&archive);
	image_free(&a);
	image_free(&other);
}

static void unknown_archive_is_refused(void **state)
{
	if (geteuid() != 0)
		skip();
	struct sandbox *s = *state;
	const struct member members[] = {text("hello.txt", "not an image")};
	struct buf archive = tar_of(ARCHIVE_FILTER_NONE, members, 1);
	assert_refused(s, &archive, -EINVAL, "neither");
	buf_free(&archive);
	struct buf junk = {0};
	buf_puts(&junk, "definitely not a tar");
	assert_refused(s, &junk, -EILSEQ, "Unrecognized archive format");
	buf_free(&junk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(docker_save_is_imported, setup, teardown),
	    cmocka_unit_test_setup_teardown(oci_layout_gives_the_amd64_image, setup, teardown),
	    cmocka_unit_test_setup_teardown(tampered_blob_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(hostile_layer_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(link_out_of_the_archive_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(wrong_platform_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(missing_layer_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(diff_ids_must_match_layers, setup, teardown),
	    cmocka_unit_test_setup_teardown(layer_not_matching_its_diff_id_is_refused, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(unknown_archive_is_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
