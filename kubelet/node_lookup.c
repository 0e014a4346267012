/* Finding a pod's containers from the node's files alone (the log directories and the
 * containers' state directories), so that the node endpoint answers the same before and after
 * an agent restart: see node_routes.h. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kubelet/node_routes.h"
#include "lib/cleanup.h"
#include "lib/validation.h"

bool node_valid_names(const char *namespace, const char *pod, const char *container,
		      const char *uid)
{
	if (!validate_dns1123_label(namespace, NULL) || !validate_dns1123_subdomain(pod, NULL) ||
	    !validate_dns1123_label(container, NULL))
		return false;
	for (const char *c = uid; c && *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-'))
			return false;
	return !uid || *uid;
}

/* Pod names and namespaces have no '_', so the prefix is unambiguous. */
char *node_find_pod_dir(const char *log_dir, const char *namespace, const char *pod,
			const char *uid, const char **uid_out)
{
	_cleanup_free_ char *prefix = NULL;
	char *best = NULL;
	struct timespec best_time = {0};
	DIR *dir = opendir(log_dir);
	struct dirent *entry;

	if (!dir)
		return NULL;
	if (asprintf(&prefix, "%s_%s_", namespace, pod) < 0)
		abort();
	size_t prefix_len = strlen(prefix);
	while ((entry = readdir(dir))) {
		struct stat st;
		if (strncmp(entry->d_name, prefix, prefix_len) != 0 || !entry->d_name[prefix_len])
			continue;
		if (uid && strcmp(entry->d_name + prefix_len, uid) != 0)
			continue;
		if (fstatat(dirfd(dir), entry->d_name, &st, 0) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (best && (st.st_mtim.tv_sec < best_time.tv_sec ||
			     (st.st_mtim.tv_sec == best_time.tv_sec &&
			      st.st_mtim.tv_nsec <= best_time.tv_nsec)))
			continue;
		free(best);
		best = strdup(entry->d_name);
		if (!best)
			abort();
		best_time = st.st_mtim;
	}
	closedir(dir);
	if (best)
		*uid_out = best + prefix_len;
	return best;
}

/* The number `name` starts with, when only `suffix` (or, with `rotated`, a '.' and more)
 * follows it; -1 otherwise. */
static int leading_number(const char *name, const char *suffix, bool rotated)
{
	char *end;
	size_t suffix_len = strlen(suffix);

	if (name[0] < '0' || name[0] > '9')
		return -1;
	errno = 0;
	unsigned long n = strtoul(name, &end, 10);
	if (errno || n > INT32_MAX || strncmp(end, suffix, suffix_len) != 0)
		return -1;
	end += suffix_len;
	if (*end && !(rotated && *end == '.'))
		return -1;
	return (int)n;
}

void node_find_runs(const char *dir_path, int *current, int *previous)
{
	DIR *dir = opendir(dir_path);
	struct dirent *entry;

	*current = *previous = -1;
	if (!dir)
		return;
	while ((entry = readdir(dir))) {
		int n = leading_number(entry->d_name, ".log", true);
		if (n < 0)
			continue;
		if (n > *current) {
			if (*current >= 0)
				*previous = *current;
			*current = n;
		} else if (n < *current && n > *previous) {
			*previous = n;
		}
	}
	closedir(dir);
}

/* A container name may hold '-' but the UID's form is fixed, so "<uid>-<container>-" followed
 * by digits alone names a run of that container and no other. */
int node_find_latest_run(const char *run_dir, const char *uid, const char *container)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *prefix = NULL;
	struct dirent *entry;
	int latest = -1;

	if (asprintf(&path, "%s/containers", run_dir) < 0 ||
	    asprintf(&prefix, "%s-%s-", uid, container) < 0)
		abort();
	DIR *dir = opendir(path);
	if (!dir)
		return -1;
	size_t prefix_len = strlen(prefix);
	while ((entry = readdir(dir))) {
		if (strncmp(entry->d_name, prefix, prefix_len) != 0)
			continue;
		int n = leading_number(entry->d_name + prefix_len, "", false);
		if (n > latest)
			latest = n;
	}
	closedir(dir);
	return latest;
}
