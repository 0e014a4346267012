/* Controller names and enabling controllers for the cgroups below a directory. */
#include <errno.h>
#include <string.h>

#include "cgroup/cgroup_internal.h"
#include "lib/cleanup.h"
#include "lib/log.h"

static const struct {
	enum cgroup_controller bit;
	const char *name;
} controllers[] = {
    {CGROUP_CPU, "cpu"}, {CGROUP_MEMORY, "memory"}, {CGROUP_PIDS, "pids"},
    {CGROUP_IO, "io"},   {CGROUP_CPUSET, "cpuset"}, {CGROUP_HUGETLB, "hugetlb"},
};
#define CONTROLLER_COUNT (sizeof(controllers) / sizeof(controllers[0]))

const char *cgroup_controller_name(enum cgroup_controller controller)
{
	for (size_t i = 0; i < CONTROLLER_COUNT; i++)
		if (controllers[i].bit == controller)
			return controllers[i].name;
	return "unknown";
}

unsigned cgroup_controllers_parse(const char *text)
{
	unsigned bits = 0;
	const char *word = text;
	while (*word) {
		size_t len = strcspn(word, " \t\n");
		for (size_t i = 0; len && i < CONTROLLER_COUNT; i++)
			if (strlen(controllers[i].name) == len &&
			    strncmp(word, controllers[i].name, len) == 0)
				bits |= controllers[i].bit;
		word += len;
		word += strspn(word, " \t\n");
	}
	return bits;
}

void cgroup_controllers_describe(unsigned bits, struct buf *out)
{
	size_t total = (size_t)__builtin_popcount(bits), written = 0;
	for (size_t i = 0; i < CONTROLLER_COUNT; i++) {
		if (!(bits & controllers[i].bit))
			continue;
		if (written)
			buf_puts(out, written + 1 == total ? " and " : ", ");
		buf_puts(out, controllers[i].name);
		written++;
	}
}

static int read_controllers(int dirfd, const char *file, unsigned *bits, struct ck_error *err)
{
	_cleanup_free_ char *text = NULL;
	int rc = cgroup_read_file(dirfd, file, &text, err);
	if (rc < 0)
		return rc;
	*bits = cgroup_controllers_parse(text);
	return 0;
}

int cgroup_enable_controllers(int dirfd, unsigned wanted, unsigned *enabled, struct ck_error *err)
{
	unsigned offered, active;
	int rc = read_controllers(dirfd, "cgroup.controllers", &offered, err);
	if (rc == 0)
		rc = read_controllers(dirfd, "cgroup.subtree_control", &active, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < CONTROLLER_COUNT; i++) {
		unsigned bit = controllers[i].bit;
		if (!(wanted & offered & bit) || (active & bit))
			continue;
		char change[16] = "+";
		strcat(change, controllers[i].name);
		struct ck_error refused = {0};
		if (cgroup_write_file(dirfd, "cgroup.subtree_control", change, &refused) < 0)
			log_warn("cgroup: %s limits will not be enforced: %s", controllers[i].name,
				 refused.message);
		else
			active |= bit;
	}
	*enabled = active;
	return 0;
}
