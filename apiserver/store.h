/* Durable key/value storage of API objects in SQLite (WAL). Keys look like
 * "pods/default/web" or "nodes/node-1"; values are the objects' JSON text. One global revision
 * counts every write; it is each object's resourceVersion and survives restarts.
 *
 * Reads may come from any thread: each thread reads through its own connection, so a long list
 * never blocks writers. Writes must be serialized by the caller (the registry holds its write
 * lock around read-modify-write sequences). A write returns only after SQLite committed it to the
 * WAL file, so it survives kill -9 of the server.
 *
 * Paged lists (limit + continue) must show one consistent state across their pages, as
 * Kubernetes' do. While such lists are under way the store keeps the versions that writes
 * replace in a history table for a couple of minutes, so later pages can be read as of the
 * first page's revision; when that is no longer possible it answers -ESTALE (410 Expired). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

struct store;

int store_open(const char *path, struct store **out, struct ck_error *err);
void store_close(struct store *store);

/* The revision of the last committed write (0 for an empty store). */
int64_t store_revision(struct store *store);

/* Reads one object. Returns 0, -ENOENT when absent, or another negative errno. The value is
 * malloc'd and NUL-terminated. */
int store_get(struct store *store, const char *key, char **value, int64_t *revision,
	      struct ck_error *err);

struct store_range {
	const char *prefix;      /* every key that starts with this */
	const char *start_after; /* resume after this key (pagination); NULL from the start */
	size_t limit;            /* 0 = no limit */
	int64_t at_revision;     /* 0: the current state; else the state as of this revision */
};

/* Called for each object in key order. Return 0 to go on, 1 to stop (store_list then reports
 * whether keys remain), or a negative errno to stop with that error. */
typedef int (*store_visit_fn)(void *ctx, const char *key, const char *value, size_t value_len,
			      int64_t revision);

/* Visits the keys in `range` from one consistent snapshot. `snapshot_revision` receives the
 * revision of that snapshot, `more` whether keys remain after the limit or the stop, and
 * `remaining` how many remain after a limit (-1 after a stop or in a past state; both may be
 * NULL). A past state that is no longer kept gives -ESTALE. */
int store_list(struct store *store, const struct store_range *range, store_visit_fn visit,
	       void *ctx, int64_t *snapshot_revision, bool *more, int64_t *remaining,
	       struct ck_error *err);

/* Starts (or extends) keeping replaced versions, for paged lists that begin now. Call with the
 * writes serialized (under the registry's write lock). */
void store_keep_history(struct store *store);

/* Writes `value` under `key` as `revision`, which must be store_revision() + 1. */
int store_put(struct store *store, const char *key, const char *value, int64_t revision,
	      struct ck_error *err);
/* Removes `key`, recording the deletion as `revision` (store_revision() + 1). */
int store_delete(struct store *store, const char *key, int64_t revision, struct ck_error *err);
