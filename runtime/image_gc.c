/* Freeing the image file system: measure, sweep, order the candidates, remove until low
 * enough. */
#include "runtime/image_gc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "lib/log.h"

int image_gc_policy_check(const struct image_gc_policy *policy, struct ck_error *err)
{
	if (policy->high_percent < 0 || policy->high_percent > 100)
		return ck_error_set(err, EINVAL,
				    "imageGCHighThresholdPercent (%d) must be between 0 and 100",
				    policy->high_percent);
	if (policy->low_percent < 0 || policy->low_percent >= policy->high_percent)
		return ck_error_set(
		    err, EINVAL,
		    "imageGCLowThresholdPercent (%d) must be at least 0 and less than "
		    "imageGCHighThresholdPercent (%d)",
		    policy->low_percent, policy->high_percent);
	if (policy->min_age_seconds < 0)
		return ck_error_set(err, EINVAL, "imageMinimumGCAge must not be negative");
	return 0;
}

static bool listed(const char *id, const char *const *ids)
{
	for (; ids && *ids; ids++)
		if (strcmp(*ids, id) == 0)
			return true;
	return false;
}

/* An image never used by a container counts as used when it was stored. */
static int64_t last_use(const struct image_record *record)
{
	return record->last_used > record->created ? record->last_used : record->created;
}

static int least_recently_used_first(const void *a, const void *b)
{
	const struct image_record *x = *(const struct image_record *const *)a;
	const struct image_record *y = *(const struct image_record *const *)b;
	if (last_use(x) != last_use(y))
		return last_use(x) < last_use(y) ? -1 : 1;
	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(x->id, y->id);
}

size_t image_gc_candidates(struct image_record *const *records, size_t count,
			   const char *const *in_use, const struct image_gc_policy *policy,
			   time_t now, const struct image_record **candidates)
{
	size_t n = 0;
	for (size_t i = 0; i < count; i++) {
		const struct image_record *record = records[i];
		if (listed(record->id, in_use) || now - record->created < policy->min_age_seconds)
			continue;
		candidates[n++] = record;
	}
	qsort(candidates, n, sizeof(*candidates), least_recently_used_first);
	return n;
}

/* As the kubelet counts it: 100 - available * 100 / capacity, with the space left to
 * unprivileged writers as available (in bytes to *available, when not NULL). */
static int measure(const char *path, int *percent, int64_t *available, struct ck_error *err)
{
	struct statvfs st;
	if (statvfs(path, &st) < 0)
		return ck_error_errno(err, errno, "statvfs %s", path);
	if (st.f_blocks == 0)
		return ck_error_set(err, EINVAL, "statvfs %s: a file system without blocks", path);
	*percent = 100 - (int)((unsigned long long)st.f_bavail * 100 / st.f_blocks);
	if (available)
		*available = (int64_t)st.f_bavail * (int64_t)st.f_frsize;
	return 0;
}

/* Moves the record `gone` (one of `records`) to the report. */
static void report_removed(struct image_gc_report *report, struct image_record **records,
			   size_t count, const struct image_record *gone)
{
	for (size_t i = 0; i < count; i++) {
		if (records[i] == gone) {
			report->removed_images[report->removed++] = records[i];
			records[i] = NULL;
			return;
		}
	}
}

static int remove_candidates(struct image_store *store, const struct image_gc_policy *policy,
			     const char *const *in_use, struct image_gc_report *report,
			     struct ck_error *err)
{
	const char *root = image_store_root(store);
	struct image_record **records = NULL;
	size_t count = 0;
	int r = image_store_list(store, &records, &count, err);
	if (r < 0)
		return r;
	const struct image_record **candidates = calloc(count + 1, sizeof(*candidates));
	report->removed_images = calloc(count + 1, sizeof(*report->removed_images));
	if (!candidates || !report->removed_images)
		r = ck_error_set(err, ENOMEM, "out of memory");
	size_t n = r == 0
		       ? image_gc_candidates(records, count, in_use, policy, time(NULL), candidates)
		       : 0;
	for (size_t i = 0; r == 0 && i < n && report->usage_after > policy->low_percent; i++) {
		/* By ID: every name goes, and the blobs and layers no other image needs. */
		r = image_store_remove(store, candidates[i]->id, in_use, err);
		if (r == -ENOENT) { /* removed meanwhile by someone else */
			r = 0;
			continue;
		}
		if (r == 0) {
			log_info("image garbage collection: removed %s", candidates[i]->id);
			report_removed(report, records, count, candidates[i]);
			r = measure(root, &report->usage_after, NULL, err);
		}
	}
	for (size_t i = 0; i < count; i++)
		image_record_free(records[i]);
	free(records);
	free(candidates);
	if (r == 0 && report->usage_after > policy->low_percent)
		r = ck_error_set(err, ENOSPC,
				 "usage still %d%% after removing %zu images, above the low "
				 "threshold of %d%%, and no other image may go",
				 report->usage_after, report->removed, policy->low_percent);
	return r;
}

int image_gc_run(struct image_store *store, const struct image_gc_policy *policy,
		 const char *const *in_use, struct image_gc_report *report, struct ck_error *err)
{
	const char *root = image_store_root(store);
	int64_t available_before = 0, available_after = 0;
	*report = (struct image_gc_report){0};
	int r = image_gc_policy_check(policy, err);
	if (r == 0)
		r = measure(root, &report->usage_before, &available_before, err);
	if (r < 0)
		return ck_error_prefix(err, "image garbage collection");
	r = image_store_sweep(store, err);
	if (r >= 0)
		r = measure(root, &report->usage_after, NULL, err);
	if (r == 0 && policy->high_percent < 100 && report->usage_before >= policy->high_percent) {
		log_info("image garbage collection: usage %d%% reached the high threshold of %d%%",
			 report->usage_before, policy->high_percent);
		r = remove_candidates(store, policy, in_use, report, err);
	}
	int measured = measure(root, &report->usage_after, &available_after, r < 0 ? NULL : err);
	if (measured == 0 && available_after > available_before)
		report->freed_bytes = available_after - available_before;
	if (r == 0)
		r = measured;
	return r < 0 ? ck_error_prefix(err, "image garbage collection") : 0;
}

void image_gc_report_clear(struct image_gc_report *report)
{
	for (size_t i = 0; i < report->removed; i++)
		image_record_free(report->removed_images[i]);
	free(report->removed_images);
	*report = (struct image_gc_report){0};
}
