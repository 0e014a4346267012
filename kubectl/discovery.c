#include "kubectl/discovery.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kubectl/api.h"
#include "kubectl/status.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"

/* The cache maps a groupVersion to {"group", "version", "resources"} (null when the server
 * does not serve it) and "" to the APIGroupList. */
static json_t *cache_of(struct kubectl *k)
{
	if (!k->discovery)
		k->discovery = json_object();
	return k->discovery;
}

static void remember_resource_list(struct kubectl *k, const char *group_version,
				   const json_t *resources)
{
	const char *slash = strchr(group_version, '/');
	_cleanup_free_ char *group =
	    slash ? strndup(group_version, (size_t)(slash - group_version)) : strdup("");
	json_t *entry = json_pack("{s:s, s:s, s:O}", "group", group ? group : "", "version",
				  slash ? slash + 1 : group_version, "resources", resources);
	json_object_set_new(cache_of(k), group_version, entry ? entry : json_null());
}

void discovery_remember(struct kubectl *k, json_t *document)
{
	const char *kind = json_string_value(json_object_get(document, "kind"));
	const char *group_version = json_string_value(json_object_get(document, "groupVersion"));
	const json_t *resources = json_object_get(document, "resources");
	if (kind && strcmp(kind, "APIGroupList") == 0)
		json_object_set(cache_of(k), "", document);
	else if (group_version && *group_version && json_is_array(resources))
		remember_resource_list(k, group_version, resources);
}

/* Fetches a discovery document; a 404 means the server has no such API (*document NULL). */
static int fetch(struct kubectl *k, const char *path, json_t **document, struct ck_error *err)
{
	struct api_request request = {.method = "GET", .path = path};
	int ret = api_call(k, &request, document, err);
	if (ret == -KUBECTL_SERVER_ERROR && status_code(*document) == 404) {
		json_decref(*document);
		*document = NULL;
		return 0;
	}
	return ret;
}

/* "group/version" made of the characters API group and version names allow: anything else
 * (from a hostile manifest) must not end up in a request path. */
static bool is_group_version(const char *text)
{
	const char *slash = strchr(text, '/');
	if (!slash || slash == text || !slash[1] || strchr(slash + 1, '/'))
		return false;
	for (const char *p = text; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '/')
			return false;
	return true;
}

/* The cache entry for a group version, fetched on first use; NULL when the server has none. */
static int group_version_entry(struct kubectl *k, const char *group_version, const json_t **entry,
			       struct ck_error *err)
{
	json_t *cached = json_object_get(cache_of(k), group_version);
	if (!cached) {
		bool core = strcmp(group_version, "v1") == 0;
		if (!core && !is_group_version(group_version)) {
			json_object_set_new(cache_of(k), group_version, json_null());
			*entry = NULL;
			return 0;
		}
		_cleanup_buf_ struct buf path = {0};
		buf_printf(&path, "%s/%s", core ? "/api" : "/apis", core ? "v1" : group_version);
		_cleanup_json_ json_t *document = NULL;
		int ret = fetch(k, path.data, &document, err);
		if (ret < 0)
			return ret;
		discovery_remember(k, document);
		/* A missing or mislabelled document means the server has no such API. */
		if (!json_object_get(cache_of(k), group_version))
			json_object_set_new(cache_of(k), group_version, json_null());
		cached = json_object_get(cache_of(k), group_version);
	}
	*entry = json_is_object(cached) ? cached : NULL;
	return 0;
}

static const json_t *group_list(struct kubectl *k, struct ck_error *err, int *ret)
{
	json_t *cached = json_object_get(cache_of(k), "");
	*ret = 0;
	if (cached)
		return cached;
	_cleanup_json_ json_t *document = NULL;
	*ret = fetch(k, "/apis", &document, err);
	if (*ret < 0)
		return NULL;
	discovery_remember(k, document);
	if (!json_object_get(cache_of(k), ""))
		json_object_set_new(cache_of(k), "", json_object());
	return json_object_get(cache_of(k), "");
}

static bool fill(const json_t *entry, const json_t *item, struct resource *out)
{
	const char *name = json_string_value(json_object_get(item, "name"));
	const char *kind = json_string_value(json_object_get(item, "kind"));
	if (!name || !kind || strchr(name, '/'))
		return false;
	const char *singular = json_string_value(json_object_get(item, "singularName"));
	*out = (struct resource){
	    .group = json_string_value(json_object_get(entry, "group")),
	    .version = json_string_value(json_object_get(entry, "version")),
	    .kind = kind,
	    .plural = name,
	    .singular = singular && *singular ? singular : NULL,
	    .namespaced = json_is_true(json_object_get(item, "namespaced")),
	};
	return out->group && out->version;
}

int discovery_by_kind(struct kubectl *k, const char *api_version, const char *kind,
		      struct resource *out, struct ck_error *err)
{
	const json_t *entry;
	int ret = group_version_entry(k, api_version, &entry, err);
	if (ret < 0)
		return ret;
	size_t i;
	const json_t *item;
	json_array_foreach (json_object_get(entry, "resources"), i, item) {
		const char *item_kind = json_string_value(json_object_get(item, "kind"));
		if (item_kind && strcmp(item_kind, kind) == 0 && fill(entry, item, out))
			return 0;
	}
	return ck_error_set(err, ENOENT, "no matches for kind \"%s\" in version \"%s\"", kind,
			    api_version);
}

static bool names_match(const json_t *item, const char *name)
{
	static const char *const keys[] = {"name", "singularName", "kind"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *value = json_string_value(json_object_get(item, keys[i]));
		if (value && *value && strcasecmp(value, name) == 0)
			return true;
	}
	size_t j;
	const json_t *short_name;
	json_array_foreach (json_object_get(item, "shortNames"), j, short_name) {
		const char *value = json_string_value(short_name);
		if (value && strcasecmp(value, name) == 0)
			return true;
	}
	return false;
}

/* Calls `visit` with every resource of a group version entry until it returns true. */
typedef bool (*resource_visitor)(void *ctx, const json_t *entry, const json_t *item);

static bool visit_entry(const json_t *entry, resource_visitor visit, void *ctx)
{
	size_t i;
	const json_t *item;
	json_array_foreach (json_object_get(entry, "resources"), i, item) {
		if (visit(ctx, entry, item))
			return true;
	}
	return false;
}

/* Visits the core group first, then each group's preferred version, as kubectl's mapper
 * does; `only_group` limits the walk to one group ("" for the core group). Returns 0 when a
 * visit said stop, -ENOENT when none did. */
static int walk(struct kubectl *k, const char *only_group, resource_visitor visit, void *ctx,
		struct ck_error *err)
{
	const json_t *entry;
	int ret;
	bool core_only = only_group && !*only_group;
	if (!only_group || core_only) {
		if ((ret = group_version_entry(k, "v1", &entry, err)) < 0)
			return ret;
		if (entry && visit_entry(entry, visit, ctx))
			return 0;
		if (core_only)
			return -ENOENT;
	}
	const json_t *groups = group_list(k, err, &ret);
	if (ret < 0)
		return ret;
	size_t i;
	const json_t *group;
	json_array_foreach (json_object_get(groups, "groups"), i, group) {
		const char *group_name = json_string_value(json_object_get(group, "name"));
		const char *preferred = json_path_string(group, "preferredVersion.groupVersion");
		if (!group_name || !preferred ||
		    (only_group && strcmp(group_name, only_group) != 0))
			continue;
		if ((ret = group_version_entry(k, preferred, &entry, err)) < 0)
			return ret;
		if (entry && visit_entry(entry, visit, ctx))
			return 0;
	}
	return -ENOENT;
}

struct name_search {
	const char *name;
	struct resource *out;
};

static bool match_name(void *ctx, const json_t *entry, const json_t *item)
{
	struct name_search *search = ctx;
	return names_match(item, search->name) && fill(entry, item, search->out);
}

struct category_search {
	const char *category;
	struct resource *found;
	size_t count;
};

static bool match_category(void *ctx, const json_t *entry, const json_t *item)
{
	struct category_search *search = ctx;
	struct resource r;
	size_t i;
	const json_t *category;
	json_array_foreach (json_object_get(item, "categories"), i, category) {
		const char *value = json_string_value(category);
		if (!value || strcmp(value, search->category) != 0 || !fill(entry, item, &r))
			continue;
		struct resource *grown =
		    realloc(search->found, (search->count + 1) * sizeof(*grown));
		if (!grown)
			abort();
		search->found = grown;
		search->found[search->count++] = r;
		break;
	}
	return false;
}

int discovery_by_category(struct kubectl *k, const char *category, struct resource **out,
			  size_t *count, struct ck_error *err)
{
	struct category_search search = {.category = category};
	int ret = walk(k, NULL, match_category, &search, err);
	if (ret != -ENOENT) {
		free(search.found);
		return ret;
	}
	if (search.count == 0)
		return ck_error_set(err, ENOENT, "the server doesn't have a resource type \"%s\"",
				    category);
	*out = search.found;
	*count = search.count;
	return 0;
}

int discovery_by_name(struct kubectl *k, const char *name, struct resource *out,
		      struct ck_error *err)
{
	const char *dot = strchr(name, '.');
	_cleanup_free_ char *bare = dot ? strndup(name, (size_t)(dot - name)) : strdup(name);
	if (!bare)
		return ck_error_set(err, ENOMEM, "resource type \"%s\"", name);
	struct name_search search = {.name = bare, .out = out};
	int ret = walk(k, dot ? dot + 1 : NULL, match_name, &search, err);
	if (ret == -ENOENT)
		return ck_error_set(err, ENOENT, "the server doesn't have a resource type \"%s\"",
				    name);
	return ret;
}

void resource_path(const struct resource *r, const char *namespace, const char *name,
		   struct buf *path)
{
	if (*r->group)
		buf_printf(path, "/apis/%s/%s", r->group, r->version);
	else
		buf_printf(path, "/api/%s", r->version);
	if (r->namespaced && namespace) {
		_cleanup_free_ char *escaped = http_escape(namespace);
		buf_printf(path, "/namespaces/%s", escaped);
	}
	buf_printf(path, "/%s", r->plural);
	if (name) {
		_cleanup_free_ char *escaped = http_escape(name);
		buf_printf(path, "/%s", escaped);
	}
}

void resource_type_name(const struct resource *r, struct buf *out)
{
	for (const char *p = r->kind; *p; p++)
		buf_putc(out, (char)tolower((unsigned char)*p));
	if (*r->group)
		buf_printf(out, ".%s", r->group);
}
