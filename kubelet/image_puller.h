/* Image pulls for the sync loop: a few worker threads pull (each image at most once at a time,
 * however many pods wait for it) and post the result back to the loop. Each pull runs as a
 * child process, `ckube image pull` on the node's directories, so that the agent itself never
 * loads the archive libraries, and a hostile layer can crash nothing but that child. */
#pragma once

#include <stdbool.h>

#include "kubelet/loop.h"
#include "lib/error.h"
#include "runtime/cli.h"
#include "runtime/image_store.h"

struct image_puller;

/* `dirs`: the data, config (registries.yaml) and run directories the pulls use. */
int image_puller_start(struct loop *loop, const struct runtime_dirs *dirs, int workers,
		       struct image_puller **out, struct ck_error *err);
void image_puller_stop(struct image_puller *puller);

/* The store, for lookups from the loop (image present? its layers and config). */
struct image_store *image_puller_store(struct image_puller *puller);

/* Called in the loop's thread when the pull ends: the record on success (the callee owns
 * it), or NULL with the error (message with the registry's answer; `invalid` for a reference
 * that cannot be parsed: InvalidImageName). */
typedef void (*image_pulled_fn)(void *ctx, struct image_record *record, bool invalid,
				const struct ck_error *err);

/* Pulls `reference` (always: PullAlways; otherwise only when missing). Several requests for one
 * image while a pull runs all get its result. */
void image_puller_request(struct image_puller *puller, const char *reference, bool always,
			  image_pulled_fn done, void *ctx);
