/* Shared pieces of runtime/'s commands: see cli.h. */
#include "runtime/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/cleanup.h"
#include "runtime/image_pull.h"
#include "runtime/image_ref.h"
#include "runtime/seccomp_profile.h"

void runtime_dirs_default(struct runtime_dirs *dirs)
{
	dirs->data_dir = "/var/lib/ckube";
	dirs->run_dir = "/run/ckube";
	dirs->config_dir = "/etc/ckube";
	dirs->cgroup_root = "ckube";
}

bool runtime_dirs_option(struct runtime_dirs *dirs, int index, const char *value)
{
	const char **fields[] = {&dirs->data_dir, &dirs->run_dir, &dirs->config_dir,
				 &dirs->cgroup_root};

	if (index < 0 || index >= 4)
		return false;
	*fields[index] = value;
	return true;
}

void runtime_use_seccomp_cache(const struct runtime_dirs *dirs)
{
	_cleanup_free_ char *dir = NULL;

	if (asprintf(&dir, "%s/seccomp", dirs->run_dir) >= 0)
		seccomp_profile_cache_dir(dir);
}

int runtime_open_store(const struct runtime_dirs *dirs, struct image_store **out,
		       struct ck_error *err)
{
	_cleanup_free_ char *root = NULL;

	if (asprintf(&root, "%s/images", dirs->data_dir) < 0)
		return ck_error_set(err, ENOMEM, "out of memory");
	return image_store_open(root, out, err);
}

int runtime_find_or_pull(const struct runtime_dirs *dirs, struct image_store *store,
			 const char *reference, struct image_record **out, struct ck_error *err)
{
	_cleanup_free_ char *registries_path = NULL;
	struct registries *registries = NULL;
	struct pull_progress progress;
	struct image_ref ref;
	int r;

	/* The store first: no registry configuration to read for an image that is here. */
	r = image_ref_parse(reference, &ref, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *normalized = image_ref_string(&ref);
	image_ref_clear(&ref);
	if (image_store_find(store, normalized, out, NULL) == 0)
		return 0;
	if (asprintf(&registries_path, "%s/registries.yaml", dirs->config_dir) < 0)
		return ck_error_set(err, ENOMEM, "out of memory");
	r = registries_load(registries_path, &registries, err);
	if (r < 0)
		return r == -EINVAL ? ck_error_set(err, EIO, "%s", err->message) : r;
	pull_progress_terminal(&progress, stderr);
	r = image_pull(store, registries, reference, false, &progress, out, err);
	pull_progress_terminal_done(&progress);
	registries_free(registries);
	return r;
}
