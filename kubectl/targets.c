#include "kubectl/targets.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"

void targets_free(struct targets *t)
{
	for (size_t i = 0; i < t->count; i++)
		arg_strings_free(&t->items[i].names);
	free(t->items);
	*t = (struct targets){0};
}

static struct target *add_target(struct targets *t, const struct resource *r)
{
	struct target *grown = realloc(t->items, (t->count + 1) * sizeof(*grown));
	if (!grown)
		abort();
	t->items = grown;
	t->items[t->count] = (struct target){.resource = *r};
	return &t->items[t->count++];
}

static bool same_resource(const struct resource *a, const struct resource *b)
{
	return strcmp(a->group, b->group) == 0 && strcmp(a->plural, b->plural) == 0;
}

int targets_resolve(struct kubectl *k, const char *verb, const struct arg_strings *args,
		    struct targets *t, struct ck_error *err)
{
	bool slash_form = false;
	for (size_t i = 0; i < args->count; i++)
		slash_form |= strchr(args->items[i], '/') != NULL;
	struct resource r;
	int ret;
	if (args->count == 0)
		return 0;
	if (slash_form) {
		for (size_t i = 0; i < args->count; i++) {
			const char *arg = args->items[i];
			const char *slash = strchr(arg, '/');
			if (!slash)
				return ck_error_set(
				    err, EINVAL,
				    "there is no need to specify a resource type as a "
				    "separate argument when passing arguments in "
				    "resource/name form (e.g. 'kubectl %s "
				    "resource/<resource_name>' instead of 'kubectl %s "
				    "resource resource/<resource_name>'",
				    verb, verb);
			_cleanup_free_ char *type = strndup(arg, (size_t)(slash - arg));
			if ((ret = discovery_by_name(k, type, &r, err)) < 0)
				return ret;
			struct target *last = t->count ? &t->items[t->count - 1] : NULL;
			if (!last || !same_resource(&last->resource, &r))
				last = add_target(t, &r);
			arg_strings_add(&last->names, slash + 1);
		}
		return 0;
	}
	_cleanup_free_ char *types = strdup(args->items[0]);
	char *saveptr = NULL;
	for (char *type = strtok_r(types, ",", &saveptr); type;
	     type = strtok_r(NULL, ",", &saveptr)) {
		_cleanup_free_ struct resource *resources = NULL;
		size_t count = 1;
		ret = discovery_by_name(k, type, &r, err);
		if (ret == -ENOENT)
			ret = discovery_by_category(k, type, &resources, &count, err);
		if (ret < 0)
			return ret;
		for (size_t j = 0; j < count; j++) {
			struct target *target = add_target(t, resources ? &resources[j] : &r);
			for (size_t i = 1; i < args->count; i++)
				arg_strings_add(&target->names, args->items[i]);
		}
	}
	return 0;
}
