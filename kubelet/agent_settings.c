/* The node's settings file: see agent_settings.h. */
#include "kubelet/agent_settings.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/yaml.h"

static int read_host_paths(const json_t *list, struct agent_settings *out, struct ck_error *err)
{
	size_t i;
	const json_t *rule;

	if (!list)
		return 0;
	if (!json_is_array(list))
		return ck_error_set(err, EINVAL, "allowedHostPaths: want a list");
	out->allowed_host_paths = calloc(json_array_size(list) + 1, sizeof(struct host_path_rule));
	if (!out->allowed_host_paths)
		abort();
	json_array_foreach (list, i, rule) {
		const char *prefix = json_string_value(json_object_get(rule, "pathPrefix"));
		const json_t *read_only = json_object_get(rule, "readOnly");

		if (!prefix || prefix[0] != '/')
			return ck_error_set(
			    err, EINVAL, "allowedHostPaths[%zu].pathPrefix: want an absolute path",
			    i);
		if (read_only && !json_is_boolean(read_only))
			return ck_error_set(
			    err, EINVAL, "allowedHostPaths[%zu].readOnly: want true or false", i);
		out->allowed_host_paths[i] = (struct host_path_rule){
		    .prefix = strdup(prefix), .read_only = json_is_true(read_only)};
		out->allowed_host_path_count = i + 1;
	}
	return 0;
}

static int read_settings(const json_t *doc, struct agent_settings *out, struct ck_error *err)
{
	static const char *const known[] = {"podPidsLimit", "allowedHostPaths"};
	const json_t *pids = json_object_get(doc, "podPidsLimit");
	const char *key;
	const json_t *value;

	if (!json_is_object(doc))
		return ck_error_set(err, EINVAL, "want a mapping of settings");
	json_object_foreach ((json_t *)doc, key, value) {
		bool ok = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok |= strcmp(key, known[i]) == 0;
		if (!ok)
			return ck_error_set(err, EINVAL, "unknown setting %s", key);
	}
	if (pids && (!json_is_integer(pids) || json_integer_value(pids) == 0 ||
		     json_integer_value(pids) < -1))
		return ck_error_set(err, EINVAL, "podPidsLimit: want a positive number, or -1");
	if (pids)
		out->pod_pids_limit = json_integer_value(pids);
	return read_host_paths(json_object_get(doc, "allowedHostPaths"), out, err);
}

int agent_settings_load(const char *path, struct agent_settings *out, struct ck_error *err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_json_ json_t *docs = NULL;
	size_t len;
	int r;

	*out = (struct agent_settings){.pod_pids_limit = -1};
	r = fs_read_file(path, &text, &len, err);
	if (r == -ENOENT)
		return 0;
	if (r == 0)
		r = yaml_parse_documents(text, len, &docs, err);
	if (r == 0 && json_array_size(docs) > 1)
		r = ck_error_set(err, EINVAL, "one document expected");
	if (r == 0 && json_array_size(docs) == 1 && !json_is_null(json_array_get(docs, 0)))
		r = read_settings(json_array_get(docs, 0), out, err);
	if (r < 0) {
		agent_settings_clear(out);
		return ck_error_prefix(err, "%s", path);
	}
	return 0;
}

void agent_settings_clear(struct agent_settings *settings)
{
	for (size_t i = 0; i < settings->allowed_host_path_count; i++)
		free(settings->allowed_host_paths[i].prefix);
	free(settings->allowed_host_paths);
	*settings = (struct agent_settings){.pod_pids_limit = -1};
}
