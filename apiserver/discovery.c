#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "apiserver/discovery.h"
#include "apiserver/resources.h"

static json_t *string_array(const char *const *items)
{
	json_t *array = json_array();
	for (size_t i = 0; items && items[i]; i++)
		json_array_append_new(array, json_string(items[i]));
	return array;
}

json_t *discovery_api_versions(const char *server_address)
{
	return json_pack("{s:s, s:[s], s:[{s:s, s:s}]}", "kind", "APIVersions", "versions", "v1",
			 "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0", "serverAddress",
			 server_address);
}

/* The named groups, each once, in table order. */
static size_t named_groups(const char **groups, size_t max)
{
	size_t count, n = 0;
	const struct api_resource *resources = api_resources(&count);
	for (size_t i = 0; i < count; i++) {
		const char *group = resources[i].group;
		if (!group[0])
			continue;
		bool seen = false;
		for (size_t j = 0; j < n; j++)
			seen = seen || strcmp(groups[j], group) == 0;
		if (!seen && n < max)
			groups[n++] = group;
	}
	return n;
}

/* The one version each group serves: every group here has exactly one. */
static const struct api_resource *first_of_group(const char *group)
{
	size_t count;
	const struct api_resource *resources = api_resources(&count);
	for (size_t i = 0; i < count; i++)
		if (strcmp(resources[i].group, group) == 0)
			return &resources[i];
	return NULL;
}

static json_t *group_document(const char *group)
{
	const struct api_resource *r = first_of_group(group);
	json_t *version =
	    json_pack("{s:s, s:s}", "groupVersion", r->api_version, "version", r->version);
	/* The version object appears twice: one reference is taken, the creation reference given.
	 */
	return json_pack("{s:s, s:[O], s:o}", "name", group, "versions", version,
			 "preferredVersion", version);
}

json_t *discovery_group_list(void)
{
	const char *groups[16];
	size_t n = named_groups(groups, 16);
	json_t *list =
	    json_pack("{s:s, s:s, s:[]}", "kind", "APIGroupList", "apiVersion", "v1", "groups");
	for (size_t i = 0; i < n; i++) {
		json_t *doc = group_document(groups[i]);
		json_array_append_new(json_object_get(list, "groups"), doc);
	}
	return list;
}

json_t *discovery_group(const char *group)
{
	if (!group[0] || !first_of_group(group))
		return NULL;
	json_t *doc = group_document(group);
	json_object_set_new(doc, "kind", json_string("APIGroup"));
	json_object_set_new(doc, "apiVersion", json_string("v1"));
	return doc;
}

json_t *discovery_resource_list(const char *group, const char *version)
{
	size_t count;
	const struct api_resource *resources = api_resources(&count);
	json_t *items = json_array();
	const char *group_version = NULL;
	for (size_t i = 0; i < count; i++) {
		const struct api_resource *r = &resources[i];
		if (strcmp(r->group, group) != 0 || strcmp(r->version, version) != 0)
			continue;
		group_version = r->api_version;
		json_t *item =
		    json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", r->plural, "singularName",
			      r->singular, "namespaced", r->namespaced, "kind", r->kind, "verbs",
			      string_array(api_resource_verbs_of(r)));
		if (r->short_names)
			json_object_set_new(item, "shortNames", string_array(r->short_names));
		if (r->in_category_all)
			json_object_set_new(item, "categories", json_pack("[s]", "all"));
		json_array_append_new(items, item);
		for (const struct subresource *s = r->subresources; s && s->name; s++) {
			char name[128];
			snprintf(name, sizeof(name), "%s/%s", r->plural, s->name);
			json_array_append_new(items, json_pack("{s:s, s:s, s:b, s:s, s:o}", "name",
							       name, "singularName", "",
							       "namespaced", r->namespaced, "kind",
							       s->kind ? s->kind : r->kind, "verbs",
							       string_array(s->verbs)));
		}
	}
	if (!group_version) {
		json_decref(items);
		return NULL;
	}
	return json_pack("{s:s, s:s, s:s, s:o}", "kind", "APIResourceList", "apiVersion", "v1",
			 "groupVersion", group_version, "resources", items);
}

static json_t *response_kind(const char *group, const char *version, const char *kind)
{
	return json_pack("{s:s, s:s, s:s}", "group", group, "version", version, "kind", kind);
}

static json_t *aggregated_resource(const struct api_resource *r)
{
	json_t *item = json_pack("{s:s, s:o, s:s, s:s, s:o}", "resource", r->plural, "responseKind",
				 response_kind(r->group, r->version, r->kind), "scope",
				 r->namespaced ? "Namespaced" : "Cluster", "singularResource",
				 r->singular, "verbs", string_array(api_resource_verbs_of(r)));
	if (r->short_names)
		json_object_set_new(item, "shortNames", string_array(r->short_names));
	if (r->in_category_all)
		json_object_set_new(item, "categories", json_pack("[s]", "all"));
	json_t *subresources = json_array();
	for (const struct subresource *s = r->subresources; s && s->name; s++)
		json_array_append_new(
		    subresources,
		    json_pack("{s:s, s:o, s:o}", "subresource", s->name, "responseKind",
			      response_kind(s->group, s->version, s->kind ? s->kind : r->kind),
			      "verbs", string_array(s->verbs)));
	json_object_set_new(item, "subresources", subresources);
	return item;
}

static json_t *aggregated_group(const char *group)
{
	size_t count;
	const struct api_resource *resources = api_resources(&count);
	json_t *items = json_array();
	const char *version = "v1";
	for (size_t i = 0; i < count; i++) {
		if (strcmp(resources[i].group, group) != 0)
			continue;
		version = resources[i].version;
		json_array_append_new(items, aggregated_resource(&resources[i]));
	}
	json_t *metadata = json_pack("{s:n}", "creationTimestamp");
	if (group[0])
		json_object_set_new(metadata, "name", json_string(group));
	return json_pack("{s:o, s:[{s:s, s:o, s:s}]}", "metadata", metadata, "versions", "version",
			 version, "resources", items, "freshness", "Current");
}

json_t *discovery_aggregated(bool core, const char *api_version)
{
	json_t *list = json_pack("{s:s, s:s, s:{}, s:[]}", "kind", "APIGroupDiscoveryList",
				 "apiVersion", api_version, "metadata", "items");
	json_t *items = json_object_get(list, "items");
	if (core) {
		json_array_append_new(items, aggregated_group(""));
		return list;
	}
	const char *groups[16];
	size_t n = named_groups(groups, 16);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(items, aggregated_group(groups[i]));
	return list;
}
