/* The image store: verified blobs, the image index shared by processes, names that move,
 * removal that takes exactly what no other image needs, and the housekeeping of what ended
 * processes and failed pulls leave behind. Layers are unpacked by another part; here they are
 * stand-in directories. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/fsutil.h"
#include "runtime/image_store.h"

#define EMPTY_SHA256 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC_SHA256 "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

struct fixture {
	char root[64];
	struct image_store *store;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->root, "/tmp/ckube-image-store-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	strcat(f->root, "/images");
	struct ck_error err = {0};
	assert_int_equal(image_store_open(f->root, &f->store, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	image_store_close(f->store);
	*strrchr(f->root, '/') = '\0';
	fs_remove_tree(AT_FDCWD, f->root, NULL);
	free(f);
	return 0;
}

static size_t entries_in(const char *root, const char *sub)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", root, sub);
	size_t count = 0;
	char command[300];
	snprintf(command, sizeof(command), "ls -A %s | wc -l", path);
	FILE *p = popen(command, "r");
	assert_int_equal(fscanf(p, "%zu", &count), 1);
	pclose(p);
	return count;
}

/* Stores `text` as a blob; its digest goes to `digest`. */
static void add_blob(struct image_store *store, const char *text, char *digest)
{
	struct ck_error err = {0};
	struct blob_writer *w;
	assert_int_equal(image_digest_of(text, strlen(text), digest, &err), 0);
	assert_int_equal(image_store_blob_begin(store, digest, (int64_t)strlen(text), &w, &err), 0);
	assert_int_equal(blob_writer_write(w, text, strlen(text), &err), 0);
	assert_int_equal(blob_writer_commit(w, &err), 0);
}

/* A stand-in for an unpacked layer. */
static void add_layer_dir(struct fixture *f, const char *diff_id)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/layers/sha256/%s", f->root, diff_id + 7);
	assert_int_equal(mkdir(path, 0755), 0);
	strcat(path, "/file");
	int fd = open(path, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	close(fd);
}

/* An image whose blobs and layers are in the store: config and manifest made from `tag`, and
 * one layer per text in `layer_texts` (its diffID is the digest of the text plus "-tar"). */
struct test_image {
	char id[IMAGE_DIGEST_LENGTH + 1];
	char manifest[IMAGE_DIGEST_LENGTH + 1];
	char layer_digests[4][IMAGE_DIGEST_LENGTH + 1];
	char diff_ids[4][IMAGE_DIGEST_LENGTH + 1];
	struct image_layer layers[4];
	char *names[2];
	struct image_record record;
};

static void make_image(struct fixture *f, struct test_image *image, const char *tag,
		       const char *name, const char *const *layer_texts, size_t layer_count,
		       bool with_content)
{
	char text[128];
	struct ck_error err = {0};
	memset(image, 0, sizeof(*image));
	snprintf(text, sizeof(text), "config of %s", tag);
	assert_int_equal(image_digest_of(text, strlen(text), image->id, &err), 0);
	if (with_content)
		add_blob(f->store, text, image->id);
	snprintf(text, sizeof(text), "manifest of %s", tag);
	assert_int_equal(image_digest_of(text, strlen(text), image->manifest, &err), 0);
	if (with_content)
		add_blob(f->store, text, image->manifest);
	for (size_t i = 0; i < layer_count; i++) {
		assert_int_equal(image_digest_of(layer_texts[i], strlen(layer_texts[i]),
						 image->layer_digests[i], &err),
				 0);
		snprintf(text, sizeof(text), "%s-tar", layer_texts[i]);
		assert_int_equal(image_digest_of(text, strlen(text), image->diff_ids[i], &err), 0);
		char *present = image_store_blob_path(f->store, image->layer_digests[i]);
		if (with_content && !present) {
			add_blob(f->store, layer_texts[i], image->layer_digests[i]);
			add_layer_dir(f, image->diff_ids[i]);
		}
		free(present);
		image->layers[i] = (struct image_layer){
		    .digest = image->layer_digests[i],
		    .diff_id = image->diff_ids[i],
		    .media_type = "application/vnd.oci.image.layer.v1.tar+gzip",
		    .size = (int64_t)strlen(layer_texts[i])};
	}
	image->names[0] = (char *)name;
	image->record = (struct image_record){.id = image->id,
					      .manifest_digest = image->manifest,
					      .names = image->names,
					      .name_count = 1,
					      .layers = image->layers,
					      .layer_count = layer_count,
					      .size = 42,
					      .config = json_pack("{s:[s]}", "Cmd", "sh")};
}

static void release_image(struct test_image *image)
{
	json_decref(image->record.config);
}

static char *blob_file(struct fixture *f, const char *digest)
{
	char *path = NULL;
	assert_true(asprintf(&path, "%s/blobs/sha256/%s", f->root, digest + 7) > 0);
	return path;
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static void digests(void **state)
{
	(void)state;
	char out[IMAGE_DIGEST_LENGTH + 1];
	assert_int_equal(image_digest_of("", 0, out, NULL), 0);
	assert_string_equal(out, EMPTY_SHA256);
	assert_int_equal(image_digest_of("abc", 3, out, NULL), 0);
	assert_string_equal(out, ABC_SHA256);
	assert_true(image_digest_valid(ABC_SHA256));
	assert_false(image_digest_valid(NULL));
	assert_false(image_digest_valid(""));
	assert_false(image_digest_valid("sha256:"));
	assert_false(image_digest_valid(ABC_SHA256 "0"));
	assert_false(image_digest_valid(
	    "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
	assert_false(image_digest_valid(
	    "sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	assert_false(image_digest_valid(
	    "sha256:../816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
}

static void blobs_become_visible_only_when_verified(void **state)
{
	struct fixture *f = *state;
	struct ck_error err = {0};
	struct blob_writer *w;
	assert_null(image_store_blob_path(f->store, ABC_SHA256));
	assert_int_equal(errno, ENOENT);
	assert_int_equal(image_store_blob_begin(f->store, ABC_SHA256, 3, &w, &err), 0);
	assert_int_equal(blob_writer_write(w, "a", 1, &err), 0);
	assert_null(image_store_blob_path(f->store, ABC_SHA256));
	assert_int_equal(blob_writer_write(w, "bc", 2, &err), 0);
	assert_int_equal(blob_writer_commit(w, &err), 0);
	char *path = image_store_blob_path(f->store, ABC_SHA256);
	assert_non_null(path);
	char *content = NULL;
	size_t len = 0;
	assert_int_equal(fs_read_file(path, &content, &len, &err), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(content, "abc", 3);
	free(content);
	free(path);
	assert_int_equal(entries_in(f->root, "tmp"), 0);
}

static void wrong_content_is_refused(void **state)
{
	struct fixture *f = *state;
	struct ck_error err = {0};
	struct blob_writer *w;
	/* Other bytes than the digest says. */
	assert_int_equal(image_store_blob_begin(f->store, ABC_SHA256, -1, &w, &err), 0);
	assert_int_equal(blob_writer_write(w, "abd", 3, &err), 0);
	assert_int_equal(blob_writer_commit(w, &err), -EIO);
	assert_non_null(strstr(err.message, "digest mismatch"));
	assert_null(image_store_blob_path(f->store, ABC_SHA256));
	/* More bytes than announced fail at once. */
	assert_int_equal(image_store_blob_begin(f->store, ABC_SHA256, 2, &w, &err), 0);
	assert_int_equal(blob_writer_write(w, "abc", 3, &err), -EFBIG);
	blob_writer_abort(w);
	/* Fewer. */
	assert_int_equal(image_store_blob_begin(f->store, ABC_SHA256, 4, &w, &err), 0);
	assert_int_equal(blob_writer_write(w, "abc", 3, &err), 0);
	assert_int_equal(blob_writer_commit(w, &err), -EIO);
	assert_non_null(strstr(err.message, "3 bytes instead of 4"));
	/* Not a digest at all: nothing is created. */
	assert_int_equal(image_store_blob_begin(f->store, "sha256:../../etc/passwd", 1, &w, &err),
			 -EINVAL);
	assert_null(image_store_blob_path(f->store, "sha256:../../etc/passwd"));
	assert_null(image_store_layer_path(f->store, "sha256:.."));
	assert_int_equal(entries_in(f->root, "tmp"), 0);
	assert_int_equal(entries_in(f->root, "blobs/sha256"), 0);
}

static void images_are_recorded_and_found(void **state)
{
	struct fixture *f = *state;
	struct ck_error err = {0};
	const char *layers[] = {"base layer", "app layer"};
	struct test_image image;
	make_image(f, &image, "1", "docker.io/library/busybox:latest", layers, 2, false);
	/* Without its content an image cannot be recorded. */
	assert_int_equal(image_store_put(f->store, &image.record, &err), -ENOENT);
	assert_non_null(strstr(err.message, "is not in the store"));
	release_image(&image);

	make_image(f, &image, "1", "docker.io/library/busybox:latest", layers, 2, true);
	assert_int_equal(image_store_put(f->store, &image.record, &err), 0);
	const char *lookups[] = {"docker.io/library/busybox:latest", "busybox", "busybox:latest",
				 image.id};
	for (size_t i = 0; i < 4; i++) {
		struct image_record *found = NULL;
		assert_int_equal(image_store_find(f->store, lookups[i], &found, &err), 0);
		assert_string_equal(found->id, image.id);
		assert_string_equal(found->manifest_digest, image.manifest);
		assert_int_equal(found->name_count, 1);
		assert_string_equal(found->names[0], "docker.io/library/busybox:latest");
		assert_int_equal(found->layer_count, 2);
		assert_string_equal(found->layers[1].diff_id, image.diff_ids[1]);
		assert_string_equal(found->layers[0].media_type,
				    "application/vnd.oci.image.layer.v1.tar+gzip");
		assert_int_equal(found->size, 42);
		assert_true(found->created > 0);
		assert_string_equal(
		    json_string_value(json_array_get(json_object_get(found->config, "Cmd"), 0)),
		    "sh");
		image_record_free(found);
	}
	struct image_record *found = NULL;
	assert_int_equal(image_store_find(f->store, "busybox:1", &found, &err), -ENOENT);
	assert_non_null(strstr(err.message, "busybox:1"));
	char *layer = image_store_layer_path(f->store, image.diff_ids[0]);
	assert_non_null(layer);
	free(layer);
	release_image(&image);
}

static void names_move_and_merge(void **state)
{
	struct fixture *f = *state;
	struct ck_error err = {0};
	const char *layers[] = {"shared"};
	struct test_image old, new;
	make_image(f, &old, "old", "docker.io/library/app:latest", layers, 1, true);
	old.names[1] = "docker.io/library/app@sha256:"
		       "1111111111111111111111111111111111111111111111111111111111111111";
	old.record.name_count = 2;
	assert_int_equal(image_store_put(f->store, &old.record, &err), 0);
	make_image(f, &new, "new", "docker.io/library/app:latest", layers, 1, true);
	assert_int_equal(image_store_put(f->store, &new.record, &err), 0);

	/* The tag went to the new image; the old one keeps its digest name. */
	struct image_record *found = NULL;
	assert_int_equal(image_store_find(f->store, "app", &found, &err), 0);
	assert_string_equal(found->id, new.id);
	image_record_free(found);
	assert_int_equal(image_store_find(f->store, old.id, &found, &err), 0);
	assert_int_equal(found->name_count, 1);
	assert_string_equal(found->names[0], old.names[1]);
	int64_t created = found->created;
	image_record_free(found);

	/* The same image again under another name: both names, first creation time kept. */
	old.names[0] = "docker.io/library/app:v1";
	old.record.name_count = 1;
	old.record.created = created + 100;
	assert_int_equal(image_store_put(f->store, &old.record, &err), 0);
	assert_int_equal(image_store_find(f->store, "app:v1", &found, &err), 0);
	assert_int_equal(found->name_count, 2);
	assert_int_equal(found->created, created);
	image_record_free(found);

	struct image_record **all = NULL;
	size_t count = 0;
	assert_int_equal(image_store_list(f->store, &all, &count, &err), 0);
	assert_int_equal(count, 2);
	for (size_t i = 0; i < count; i++)
		image_record_free(all[i]);
	free(all);
	release_image(&old);
	release_image(&new);
}

static void removal_takes_only_unshared_content(void **state)
{
	struct fixture *f = *state;
	struct ck_error err = {0};
	const char *a_layers[] = {"common base", "only in a"};
	const char *b_layers[] = {"common base", "only in b"};
	struct test_image a, b;
	make_image(f, &a, "a", "docker.io/library/a:latest", a_layers, 2, true);
	a.names[1] = "docker.io/library/a:v1";
	a.record.name_count = 2;
	make_image(f, &b, "b", "docker.io/library/b:latest", b_layers, 2, true);
	assert_int_equal(image_store_put(f->store, &a.record, &err), 0);
	assert_int_equal(image_store_put(f->store, &b.record, &err), 0);

	/* One of two names: the image stays. */
	assert_int_equal(image_store_remove(f->store, "a", NULL, &err), 0);
	struct image_record *found = NULL;
	assert_int_equal(image_store_find(f->store, "a:v1", &found, &err), 0);
	image_record_free(found);
	assert_int_equal(image_store_find(f->store, "a:latest", &found, &err), -ENOENT);

	/* The last name: the image and what only it used go; the shared layer stays. */
	assert_int_equal(image_store_remove(f->store, "docker.io/library/a:v1", NULL, &err), 0);
	assert_int_equal(image_store_find(f->store, a.id, &found, &err), -ENOENT);
	char *paths[] = {blob_file(f, a.id), blob_file(f, a.manifest),
			 blob_file(f, a.layer_digests[1]), blob_file(f, a.layer_digests[0])};
	for (size_t i = 0; i < 3; i++)
		assert_false(exists(paths[i]));
	assert_true(exists(paths[3]));
	for (size_t i = 0; i < 4; i++)
		free(paths[i]);
	char *layer = image_store_layer_path(f->store, a.diff_ids[1]);
	assert_null(layer);
	layer = image_store_layer_path(f->store, a.diff_ids[0]);
	assert_non_null(layer);
	free(layer);
	/* Removed layers leave nothing in tmp/ either. */
	assert_int_equal(entries_in(f->root, "tmp"), 0);

	/* An image in use keeps its content, without a name, until it is removed by ID. */
	const char *in_use[] = {b.id, NULL};
	assert_int_equal(image_store_remove(f->store, "b", in_use, &err), 0);
	assert_int_equal(image_store_find(f->store, b.id, &found, &err), 0);
	assert_int_equal(found->name_count, 0);
	image_record_free(found);
	assert_int_equal(image_store_remove(f->store, b.id, NULL, &err), 0);
	assert_int_equal(image_store_find(f->store, b.id, &found, &err), -ENOENT);
	assert_int_equal(entries_in(f->root, "layers/sha256"), 0);
	assert_int_equal(entries_in(f->root, "blobs/sha256"), 0);

	assert_int_equal(image_store_remove(f->store, "nothing", NULL, &err), -ENOENT);
	assert_non_null(strstr(err.message, "nothing"));
	release_image(&a);
	release_image(&b);
}

static void touch_marks_use(void **state)
{
	struct fixture *f = *state;
	struct ck_error err = {0};
	struct test_image image;
	make_image(f, &image, "t", "docker.io/library/t:latest", NULL, 0, true);
	image.record.created = 1000;
	image.record.last_used = 1000;
	assert_int_equal(image_store_put(f->store, &image.record, &err), 0);
	assert_int_equal(image_store_touch(f->store, image.id, &err), 0);
	struct image_record *found = NULL;
	assert_int_equal(image_store_find(f->store, "t", &found, &err), 0);
	assert_int_equal(found->created, 1000);
	assert_true(found->last_used >= (int64_t)time(NULL) - 5);
	image_record_free(found);
	assert_int_equal(image_store_touch(f->store, EMPTY_SHA256, &err), -ENOENT);
	release_image(&image);
}

static void a_damaged_index_is_an_error_not_a_crash(void **state)
{
	struct fixture *f = *state;
	struct ck_error err = {0};
	char path[128];
	snprintf(path, sizeof(path), "%s/index.json", f->root);
	/* A whole file that is not an index: every operation refuses it. */
	const char *damaged_files[] = {"{not json", "[]", "{\"images\": 5}"};
	/* Entries with fields of the wrong types: reading them fails cleanly. */
	const char *damaged_entries[] = {
	    "{\"images\": [{\"id\": 5, \"names\": [\"docker.io/library/busybox:latest\"]}]}",
	    "{\"images\": [{\"id\": \"" EMPTY_SHA256 "\", \"manifestDigest\": \"" EMPTY_SHA256
	    "\", \"names\": [7, \"docker.io/library/busybox:latest\"], \"layers\": []}]}",
	    "{\"images\": [{\"id\": \"" EMPTY_SHA256 "\", \"manifestDigest\": \"" EMPTY_SHA256
	    "\", \"names\": [\"docker.io/library/busybox:latest\"], \"layers\": [{}]}]}",
	};
	for (size_t i = 0; i < 6; i++) {
		const char *text = i < 3 ? damaged_files[i] : damaged_entries[i - 3];
		assert_int_equal(fs_write_file_atomic(path, text, strlen(text), 0600, &err), 0);
		struct image_record *found = NULL;
		assert_int_equal(image_store_find(f->store, "busybox", &found, &err), -EINVAL);
		assert_null(found);
		assert_non_null(strstr(err.message, "index.json"));
		struct image_record **all = NULL;
		size_t count = 0;
		assert_int_equal(image_store_list(f->store, &all, &count, &err), -EINVAL);
		assert_non_null(strstr(err.message, "index.json"));
		if (i < 3) {
			assert_int_equal(image_store_remove(f->store, "busybox", NULL, &err),
					 -EINVAL);
			assert_int_equal(image_store_touch(f->store, EMPTY_SHA256, &err), -EINVAL);
		}
	}
}

/* What a process that ended left in tmp/ goes when the store is next opened; what a live
 * process (here a child writing a blob) is working on stays. */
static void open_removes_what_ended_processes_left_in_tmp(void **state)
{
	struct fixture *f = *state;
	int ready[2], go[2];
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct blob_writer *w;
		char byte;
		int ok = image_store_blob_begin(f->store, ABC_SHA256, 3, &w, NULL) == 0 &&
			 blob_writer_write(w, "a", 1, NULL) == 0;
		ok = ok && write(ready[1], "r", 1) == 1 && read(go[0], &byte, 1) == 1;
		ok = ok && blob_writer_write(w, "bc", 2, NULL) == 0 &&
		     blob_writer_commit(w, NULL) == 0;
		_exit(ok ? 0 : 1);
	}
	char byte;
	assert_int_equal(read(ready[0], &byte, 1), 1);
	char path[256];
	snprintf(path, sizeof(path), "%s/tmp/unpack-gone/.unpack-x-y/etc", f->root);
	assert_int_equal(fs_mkdir_p(path, 0700, NULL), 0);
	snprintf(path, sizeof(path), "%s/tmp/blob-gone", f->root);
	assert_int_equal(fs_write_file_atomic(path, "partial", 7, 0600, NULL), 0);
	snprintf(path, sizeof(path), "%s/tmp/link", f->root);
	assert_int_equal(symlink("/etc", path), 0);
	assert_int_equal(entries_in(f->root, "tmp"), 4);

	struct image_store *again = NULL;
	struct ck_error err = {0};
	assert_int_equal(image_store_open(f->root, &again, &err), 0);
	image_store_close(again);
	assert_int_equal(entries_in(f->root, "tmp"), 1);
	assert_true(exists("/etc/passwd"));
	assert_int_equal(write(go[1], "g", 1), 1);
	int status = 0;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	char *blob = image_store_blob_path(f->store, ABC_SHA256);
	assert_non_null(blob);
	free(blob);
	assert_int_equal(entries_in(f->root, "tmp"), 0);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
}

static void sweeps_take_what_no_image_refers_to(void **state)
{
	struct fixture *f = *state;
	struct ck_error err = {0};
	const char *layers[] = {"kept layer", "replaced layer"};
	struct test_image image;
	make_image(f, &image, "a", "docker.io/library/a:latest", layers, 2, true);
	assert_int_equal(image_store_put(f->store, &image.record, &err), 0);
	/* What a failed pull left: a blob and a layer no record names. */
	char orphan[IMAGE_DIGEST_LENGTH + 1];
	add_blob(f->store, "orphan", orphan);
	add_layer_dir(f, orphan);

	/* Not while a pull or import holds a lease: the orphans could be its work. */
	int lease = image_store_lease(f->store, &err);
	assert_true(lease >= 0);
	assert_int_equal(image_store_sweep(f->store, &err), 0);
	close(lease);
	char *path = blob_file(f, orphan);
	assert_true(exists(path));
	assert_int_equal(image_store_sweep(f->store, &err), 2);
	assert_false(exists(path));
	free(path);
	assert_int_equal(entries_in(f->root, "blobs/sha256"), 4);
	assert_int_equal(entries_in(f->root, "layers/sha256"), 2);
	assert_int_equal(entries_in(f->root, "tmp"), 0);
	assert_int_equal(image_store_sweep(f->store, &err), 0);

	/* The same image again with another manifest and a layer compressed otherwise: what only
	 * the old record used goes. */
	char manifest[IMAGE_DIGEST_LENGTH + 1], layer[IMAGE_DIGEST_LENGTH + 1];
	add_blob(f->store, "other manifest of a", manifest);
	add_blob(f->store, "replaced layer, recompressed", layer);
	struct image_record replacement = image.record;
	struct image_layer replacement_layers[2] = {image.layers[0], image.layers[1]};
	replacement.manifest_digest = manifest;
	replacement_layers[1].digest = layer;
	replacement.layers = replacement_layers;
	assert_int_equal(image_store_put(f->store, &replacement, &err), 0);
	char *old[] = {blob_file(f, image.manifest), blob_file(f, image.layer_digests[1])};
	for (size_t i = 0; i < 2; i++) {
		assert_false(exists(old[i]));
		free(old[i]);
	}
	assert_int_equal(entries_in(f->root, "blobs/sha256"), 4);
	assert_int_equal(entries_in(f->root, "layers/sha256"), 2);

	/* Removing an image sweeps too. */
	add_blob(f->store, "orphan", orphan);
	assert_int_equal(image_store_remove(f->store, "a", NULL, &err), 0);
	assert_int_equal(entries_in(f->root, "blobs/sha256"), 0);
	assert_int_equal(entries_in(f->root, "layers/sha256"), 0);
	assert_int_equal(entries_in(f->root, "tmp"), 0);
	release_image(&image);
}

struct lock_waiter {
	struct image_store *store;
	volatile int acquired;
};

static void *take_lock(void *arg)
{
	struct lock_waiter *waiter = arg;
	int fd = image_store_lock_digest(waiter->store, ABC_SHA256, NULL);
	waiter->acquired = fd >= 0 ? 1 : -1;
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void digest_locks_exclude_threads(void **state)
{
	struct fixture *f = *state;
	struct ck_error err = {0};
	int held = image_store_lock_digest(f->store, ABC_SHA256, &err);
	assert_true(held >= 0);
	struct lock_waiter waiter = {.store = f->store};
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, take_lock, &waiter), 0);
	usleep(200 * 1000);
	assert_int_equal(waiter.acquired, 0);
	close(held);
	pthread_join(thread, NULL);
	assert_int_equal(waiter.acquired, 1);
	assert_int_equal(image_store_lock_digest(f->store, "sha256:nope", &err), -EINVAL);
}

/* Processes adding images at once: the index, under its lock, keeps every one. */
static void concurrent_processes_keep_every_image(void **state)
{
	struct fixture *f = *state;
	enum { WRITERS = 8 };
	const char *layers[] = {"a layer everyone shares"};
	struct test_image images[WRITERS];
	char names[WRITERS][64];
	for (int i = 0; i < WRITERS; i++) {
		char tag[16];
		snprintf(tag, sizeof(tag), "w%d", i);
		snprintf(names[i], sizeof(names[i]), "docker.io/library/w%d:latest", i);
		make_image(f, &images[i], tag, names[i], layers, 1, true);
	}
	pid_t pids[WRITERS];
	for (int i = 0; i < WRITERS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct image_store *store = NULL;
			struct ck_error err = {0};
			int ok = image_store_open(f->root, &store, &err) == 0;
			for (int round = 0; ok && round < 5; round++)
				ok = image_store_put(store, &images[i].record, &err) == 0;
			_exit(ok ? 0 : 1);
		}
	}
	for (int i = 0; i < WRITERS; i++) {
		int status = 0;
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	struct ck_error err = {0};
	struct image_record **all = NULL;
	size_t count = 0;
	assert_int_equal(image_store_list(f->store, &all, &count, &err), 0);
	assert_int_equal(count, WRITERS);
	for (size_t i = 0; i < count; i++)
		image_record_free(all[i]);
	free(all);
	for (int i = 0; i < WRITERS; i++)
		release_image(&images[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(digests),
	    cmocka_unit_test_setup_teardown(blobs_become_visible_only_when_verified, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(wrong_content_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(images_are_recorded_and_found, setup, teardown),
	    cmocka_unit_test_setup_teardown(names_move_and_merge, setup, teardown),
	    cmocka_unit_test_setup_teardown(removal_takes_only_unshared_content, setup, teardown),
	    cmocka_unit_test_setup_teardown(touch_marks_use, setup, teardown),
	    cmocka_unit_test_setup_teardown(a_damaged_index_is_an_error_not_a_crash, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(open_removes_what_ended_processes_left_in_tmp, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(sweeps_take_what_no_image_refers_to, setup, teardown),
	    cmocka_unit_test_setup_teardown(digest_locks_exclude_threads, setup, teardown),
	    cmocka_unit_test_setup_teardown(concurrent_processes_keep_every_image, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
