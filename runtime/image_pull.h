/* Pulling an image into the store over the OCI distribution API (libcurl): the manifest (for a
 * list or index, the linux/amd64 entry), the config and the layers, each verified against its
 * digest, then the layers unpacked. Concurrent pulls of the same image, from threads of one
 * process or from several processes, share one download. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/error.h"
#include "runtime/image_store.h"
#include "runtime/registries.h"

struct pull_progress {
	/* Called as bytes of a blob arrive (done of total; total -1 when unknown); once with done
	 * == total for a blob the store already has. */
	void (*update)(void *ctx, const char *digest, int64_t done, int64_t total);
	void *ctx;
};

/* Pulls `reference` (as a user writes it) unless the store has it already and `always` is
 * false (imagePullPolicy IfNotPresent). On success *out is the stored record, named by the
 * normalized reference and, for a tag, also by "name@<digest the tag resolved to>"; otherwise
 * *out is NULL. Errors say what failed in a form the agent maps to Kubernetes reasons: -EINVAL
 * only for a bad reference (InvalidImageName), any other failure ErrImagePull, with the
 * registry's answer in the message ("pull docker.io/library/nope:latest: manifest latest:
 * manifest unknown"); when several endpoints were tried, each one's answer, by URL. */
int image_pull(struct image_store *store, struct registries *registries, const char *reference,
	       bool always, const struct pull_progress *progress, struct image_record **out,
	       struct ck_error *err);

/* A progress reporter for terminals: one line per blob (config and layers), rewritten as bytes
 * arrive; when `out` is not a terminal, a line as each blob starts and one as it ends. Safe to
 * call from several threads. Aborts when out of memory, like the buffers in lib/. */
void pull_progress_terminal(struct pull_progress *progress, FILE *out);
/* Releases what pull_progress_terminal set up. */
void pull_progress_terminal_done(struct pull_progress *progress);
