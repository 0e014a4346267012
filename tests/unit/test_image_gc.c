/* Image garbage collection: the policy's checks, the order of removal, and real passes over a
 * store on a 16 MiB tmpfs mounted in this test's own mount namespace (so nothing outlives the
 * process). The real passes need root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "lib/fsutil.h"
#include "runtime/image_gc.h"
#include "runtime/image_import.h"
#include "runtime/image_store.h"

/* --- the policy and the order ------------------------------------------------------------ */

static void policy_is_checked(void **state)
{
	(void)state;
	struct ck_error err = {0};
	struct image_gc_policy policy = IMAGE_GC_POLICY_DEFAULT;
	assert_int_equal(image_gc_policy_check(&policy, &err), 0);
	policy.low_percent = 85;
	assert_int_equal(image_gc_policy_check(&policy, &err), -EINVAL);
	assert_non_null(strstr(err.message, "imageGCLowThresholdPercent"));
	policy = (struct image_gc_policy)IMAGE_GC_POLICY_DEFAULT;
	policy.high_percent = 101;
	assert_int_equal(image_gc_policy_check(&policy, &err), -EINVAL);
	policy = (struct image_gc_policy)IMAGE_GC_POLICY_DEFAULT;
	policy.min_age_seconds = -1;
	assert_int_equal(image_gc_policy_check(&policy, &err), -EINVAL);
}

static void candidates_are_least_recently_used_first(void **state)
{
	(void)state;
	struct image_record r[5] = {
	    {.id = "sha256:a", .created = 100, .last_used = 500}, /* used recently */
	    {.id = "sha256:b", .created = 100, .last_used = 200},
	    {.id = "sha256:c", .created = 150, .last_used = 0},  /* never used: counts from 150 */
	    {.id = "sha256:d", .created = 950, .last_used = 0},  /* too young */
	    {.id = "sha256:e", .created = 50, .last_used = 100}, /* in use */
	};
	struct image_record *records[5] = {&r[0], &r[1], &r[2], &r[3], &r[4]};
	const char *in_use[] = {"sha256:e", NULL};
	const struct image_record *order[5];
	struct image_gc_policy policy = IMAGE_GC_POLICY_DEFAULT;
	size_t n = image_gc_candidates(records, 5, in_use, &policy, 1000, order);
	assert_int_equal(n, 3);
	assert_string_equal(order[0]->id, "sha256:c");
	assert_string_equal(order[1]->id, "sha256:b");
	assert_string_equal(order[2]->id, "sha256:a");
	policy.min_age_seconds = 0;
	assert_int_equal(image_gc_candidates(records, 5, NULL, &policy, 1000, order), 5);
	assert_string_equal(order[0]->id, "sha256:e");
	assert_string_equal(order[4]->id, "sha256:d");
}

/* --- a store on a small file system ------------------------------------------------------ */

#define IMAGES 4
#define LAYER_BYTES (1536 * 1024)

struct fixture {
	char dir[64];
	char store_root[96];
	struct image_store *store;
	char ids[IMAGES][IMAGE_DIGEST_LENGTH + 1];
};

static void write_member(struct archive *a, const char *name, const void *data, size_t len)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

/* A `docker save` archive of one image whose layer holds LAYER_BYTES of `fill`. */
static void write_image_archive(const char *path, char fill, char id[IMAGE_DIGEST_LENGTH + 1])
{
	size_t layer_cap = LAYER_BYTES + 64 * 1024, layer_len = 0;
	char *layer = malloc(layer_cap), *content = malloc(LAYER_BYTES);
	assert_non_null(layer);
	assert_non_null(content);
	memset(content, fill, LAYER_BYTES);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_memory(a, layer, layer_cap, &layer_len), ARCHIVE_OK);
	write_member(a, "data", content, LAYER_BYTES);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	free(content);

	char diff_id[IMAGE_DIGEST_LENGTH + 1], tag[32];
	assert_int_equal(image_digest_of(layer, layer_len, diff_id, NULL), 0);
	snprintf(tag, sizeof(tag), "fill:%c", fill);
	json_t *doc = json_pack("{s:s, s:s, s:{s:s, s:[s]}}", "architecture", "amd64", "os",
				"linux", "rootfs", "type", "layers", "diff_ids", diff_id);
	char *config = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	assert_int_equal(image_digest_of(config, strlen(config), id, NULL), 0);
	doc = json_pack("[{s:s, s:[s], s:[s]}]", "Config", "config.json", "RepoTags", tag, "Layers",
			"layer.tar");
	char *manifest = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	write_member(a, "layer.tar", layer, layer_len);
	write_member(a, "config.json", config, strlen(config));
	write_member(a, "manifest.json", manifest, strlen(manifest));
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	free(layer);
	free(config);
	free(manifest);
}

static int setup_store(void **state)
{
	if (geteuid() != 0) {
		*state = NULL;
		return 0;
	}
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	/* Mounts made from here on vanish with the process, whatever happens to the test. */
	assert_int_equal(unshare(CLONE_NEWNS), 0);
	assert_int_equal(mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL), 0);
	snprintf(f->dir, sizeof(f->dir), "/tmp/ckube-gc-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(mount("tmpfs", f->dir, "tmpfs", 0, "size=16m"), 0);
	snprintf(f->store_root, sizeof(f->store_root), "%s/images", f->dir);
	struct ck_error err = {0};
	if (image_store_open(f->store_root, &f->store, &err) < 0)
		fail_msg("%s", err.message);
	char archive[128];
	snprintf(archive, sizeof(archive), "%s/archive.tar", f->dir);
	for (int i = 0; i < IMAGES; i++) {
		struct image_record **records;
		size_t count;
		write_image_archive(archive, (char)('a' + i), f->ids[i]);
		if (image_import(f->store, archive, &records, &count, &err) < 0)
			fail_msg("%s", err.message);
		image_record_free(records[0]);
		free(records);
	}
	assert_int_equal(unlink(archive), 0);
	*state = f;
	return 0;
}

static int teardown_store(void **state)
{
	struct fixture *f = *state;
	if (!f)
		return 0;
	image_store_close(f->store);
	assert_int_equal(umount(f->dir), 0);
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

static int usage_now(const struct fixture *f)
{
	struct statvfs st;
	assert_int_equal(statvfs(f->dir, &st), 0);
	return 100 - (int)(st.f_bavail * 100 / st.f_blocks);
}

static bool has_image(const struct fixture *f, const char *id)
{
	struct image_record *record;
	if (image_store_find(f->store, id, &record, NULL) < 0)
		return false;
	image_record_free(record);
	return true;
}

static void nothing_happens_below_the_high_threshold(void **state)
{
	struct fixture *f = *state;
	if (!f)
		skip();
	struct image_gc_policy policy = {
	    .high_percent = usage_now(f) + 1, .low_percent = 1, .min_age_seconds = 0};
	struct image_gc_report report;
	struct ck_error err = {0};
	assert_int_equal(image_gc_run(f->store, &policy, NULL, &report, &err), 0);
	assert_int_equal(report.removed, 0);
	image_gc_report_clear(&report);
	for (int i = 0; i < IMAGES; i++)
		assert_true(has_image(f, f->ids[i]));
}

/* What no image refers to goes on every pass, whatever the usage. */
static void content_no_image_uses_is_swept_first(void **state)
{
	struct fixture *f = *state;
	if (!f)
		skip();
	char orphan[IMAGE_DIGEST_LENGTH + 1];
	static char data[LAYER_BYTES];
	struct blob_writer *w;
	struct ck_error err = {0};
	memset(data, 'o', sizeof(data));
	assert_int_equal(image_digest_of(data, sizeof(data), orphan, NULL), 0);
	assert_int_equal(image_store_blob_begin(f->store, orphan, sizeof(data), &w, &err), 0);
	assert_int_equal(blob_writer_write(w, data, sizeof(data), &err), 0);
	assert_int_equal(blob_writer_commit(w, &err), 0);
	struct image_gc_policy policy = {.high_percent = 100, .low_percent = 1};
	struct image_gc_report report;
	assert_int_equal(image_gc_run(f->store, &policy, NULL, &report, &err), 0);
	assert_int_equal(report.removed, 0);
	assert_true(report.usage_after < report.usage_before);
	assert_true(report.freed_bytes >= (int64_t)sizeof(data));
	image_gc_report_clear(&report);
	char *path = image_store_blob_path(f->store, orphan);
	assert_null(path);
	for (int i = 0; i < IMAGES; i++)
		assert_true(has_image(f, f->ids[i]));
}

static void removes_down_to_the_low_threshold_sparing_images_in_use(void **state)
{
	struct fixture *f = *state;
	if (!f)
		skip();
	int usage = usage_now(f);
	/* Each image is about a fifth of the file system (its layer blob and unpacked copy):
	 * ten points below takes one image; the one in use is never it. */
	struct image_gc_policy policy = {
	    .high_percent = usage, .low_percent = usage - 10, .min_age_seconds = 0};
	const char *in_use[] = {f->ids[0], f->ids[1], f->ids[2], NULL};
	struct image_gc_report report;
	struct ck_error err = {0};
	if (image_gc_run(f->store, &policy, in_use, &report, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(report.usage_before, usage);
	assert_true(report.usage_after <= policy.low_percent);
	assert_int_equal(report.removed, 1);
	assert_string_equal(report.removed_images[0]->id, f->ids[3]);
	assert_string_equal(report.removed_images[0]->names[0], "docker.io/library/fill:d");
	/* Its layer blob and the unpacked layer, at least. */
	assert_true(report.freed_bytes >= 2 * LAYER_BYTES);
	image_gc_report_clear(&report);
	assert_false(has_image(f, f->ids[3]));
	for (int i = 0; i < 3; i++)
		assert_true(has_image(f, f->ids[i]));
}

static void reports_when_nothing_more_may_go(void **state)
{
	struct fixture *f = *state;
	if (!f)
		skip();
	struct image_gc_policy policy = {.high_percent = 1, .low_percent = 0, .min_age_seconds = 0};
	const char *in_use[] = {f->ids[0], NULL};
	struct image_gc_report report;
	struct ck_error err = {0};
	assert_int_equal(image_gc_run(f->store, &policy, in_use, &report, &err), -ENOSPC);
	print_message("    %s\n", err.message);
	assert_non_null(strstr(err.message, "low threshold"));
	assert_int_equal(report.removed, IMAGES - 1);
	assert_true(report.freed_bytes > 0);
	image_gc_report_clear(&report);
	assert_true(has_image(f, f->ids[0]));
	/* Images younger than the minimum age stay too. */
	policy.min_age_seconds = 3600;
	assert_int_equal(image_gc_run(f->store, &policy, NULL, &report, &err), -ENOSPC);
	assert_int_equal(report.removed, 0);
	image_gc_report_clear(&report);
	assert_true(has_image(f, f->ids[0]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(policy_is_checked),
	    cmocka_unit_test(candidates_are_least_recently_used_first),
	    cmocka_unit_test_setup_teardown(nothing_happens_below_the_high_threshold, setup_store,
					    teardown_store),
	    cmocka_unit_test_setup_teardown(content_no_image_uses_is_swept_first, setup_store,
					    teardown_store),
	    cmocka_unit_test_setup_teardown(removes_down_to_the_low_threshold_sparing_images_in_use,
					    setup_store, teardown_store),
	    cmocka_unit_test_setup_teardown(reports_when_nothing_more_may_go, setup_store,
					    teardown_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
