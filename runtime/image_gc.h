/* Image garbage collection, the kubelet's way: when the image file system's usage reaches the
 * high threshold, images no container uses are removed, least recently used first, until usage
 * is down to the low threshold. Images stored less than the minimum age ago are kept, so an
 * image pulled for a pod about to start is not collected before the pod uses it. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/error.h"
#include "runtime/image_store.h"

struct image_gc_policy {
	int high_percent;        /* kubelet imageGCHighThresholdPercent; 100 turns collection off */
	int low_percent;         /* imageGCLowThresholdPercent */
	int64_t min_age_seconds; /* imageMinimumGCAge */
};

/* The kubelet's defaults: 85 %, 80 %, 2 minutes. */
#define IMAGE_GC_POLICY_DEFAULT                                               \
	{                                                                     \
		.high_percent = 85, .low_percent = 80, .min_age_seconds = 120 \
	}

/* -EINVAL unless 0 <= low < high <= 100 and the age is not negative, with the kubelet's words. */
int image_gc_policy_check(const struct image_gc_policy *policy, struct ck_error *err);

/* The images a collection may remove, in the order it removes them: not in `in_use` (image
 * IDs, NULL-terminated, or NULL), stored at least the minimum age before `now`, least
 * recently used first (then oldest first). `candidates` gets pointers into `records`. */
size_t image_gc_candidates(struct image_record *const *records, size_t count,
			   const char *const *in_use, const struct image_gc_policy *policy,
			   time_t now, const struct image_record **candidates);

struct image_gc_report {
	int usage_before; /* percent of the image file system in use */
	int usage_after;
	size_t removed;                       /* images removed */
	struct image_record **removed_images; /* their records, in the order they went */
	int64_t freed_bytes; /* what the file system gained meanwhile, the sweep's share included */
};

/* One collection pass over the store's file system (the agent runs it periodically, `ckube
 * image gc` on demand): content no image refers to is swept first (image_store_sweep), then
 * images are removed as the policy says. -ENOSPC when usage stays above the low threshold with
 * nothing left to remove; the removals made stand and are in the report, which the caller
 * clears in any case. */
int image_gc_run(struct image_store *store, const struct image_gc_policy *policy,
		 const char *const *in_use, struct image_gc_report *report, struct ck_error *err);
void image_gc_report_clear(struct image_gc_report *report);
