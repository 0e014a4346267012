/* What the node commands of runtime/ (`ckube run`, `ckube exec`, `ckube rm`, `ckube image`)
 * share: the directories they work in, with the same options and defaults as `ckube server`,
 * and opening the image store. */
#pragma once

#include <getopt.h>
#include <stdbool.h>

#include "lib/error.h"
#include "runtime/image_store.h"

struct runtime_dirs {
	const char *data_dir;    /* images under <data-dir>/images, writable layers */
	const char *run_dir;     /* container state */
	const char *config_dir;  /* registries.yaml */
	const char *cgroup_root; /* below the cgroup2 mount */
};

void runtime_dirs_default(struct runtime_dirs *dirs);

/* getopt_long entries for --data-dir, --run-dir, --config-dir and --cgroup-root, returning
 * base + 0 .. base + 3. */
#define RUNTIME_DIRS_OPTIONS(base)                                 \
	{"data-dir", required_argument, NULL, (base) + 0},         \
	    {"run-dir", required_argument, NULL, (base) + 1},      \
	    {"config-dir", required_argument, NULL, (base) + 2},   \
	{                                                          \
		"cgroup-root", required_argument, NULL, (base) + 3 \
	}
/* Takes option `index` (getopt's value minus base); false when it is not one of them. */
bool runtime_dirs_option(struct runtime_dirs *dirs, int index, const char *value);

/* Compiled seccomp programs kept in <run-dir>/seccomp between commands. */
void runtime_use_seccomp_cache(const struct runtime_dirs *dirs);

int runtime_open_store(const struct runtime_dirs *dirs, struct image_store **out,
		       struct ck_error *err);
static inline void image_store_closep(struct image_store **store)
{
	if (*store)
		image_store_close(*store);
}

/* The image named `reference` from the store, pulled (with progress on stderr) when the store
 * does not have it. -EINVAL for a reference that cannot be parsed. */
int runtime_find_or_pull(const struct runtime_dirs *dirs, struct image_store *store,
			 const char *reference, struct image_record **out, struct ck_error *err);
