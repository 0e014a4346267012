/* What the files of the image store share: image_store.c (opening, blobs, locks, work entries
 * in tmp/), image_index.c (the records in index.json), image_content.c (removing content no
 * record needs) and layer_unpack.c. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "lib/error.h"
#include "runtime/image_store.h"

struct image_store {
	char *root;
	char *blobs_dir;
	char *layers_dir;
	char *tmp_dir;
	char *locks_dir;
	char *index_path;
	char *index_lock_path;
	char *lease_lock_path;
};

/* "<dir>/<hex of digest><suffix>"; NULL when out of memory. */
char *store_digest_path(const char *dir, const char *digest, const char *suffix);

/* An flock (`operation`: LOCK_EX or LOCK_SH, with LOCK_NB or not) on `path`, created when
 * missing, held until the returned descriptor is closed. */
int store_lock_file(const char *path, int operation, struct ck_error *err);

/* A new entry tmp/<prefix>-XXXXXX for work in progress: an empty file open for writing, or a
 * directory open read-only. It is flocked until the returned descriptor is closed, which keeps
 * the sweep of tmp/ at every opening of the store away from it; its path goes to *path. */
int store_work_entry(struct image_store *store, const char *prefix, bool directory, char **path,
		     struct ck_error *err);

/* The images array of index.json, empty when the store never had an image. Callers that
 * change it hold the index lock. */
int store_index_read(struct image_store *store, json_t **images, struct ck_error *err);

/* After `gone` (NULL for none) left the index, whose entries are now `images`: removes the
 * blobs and layers of `gone` no entry refers to, then, unless a lease is held, every other
 * one no entry refers to. Called with the index lock held. Returns how many went. */
int store_release_content(struct image_store *store, const struct image_record *gone,
			  const json_t *images, struct ck_error *err);
