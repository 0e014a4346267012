#include "kubeconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "buf.h"
#include "cleanup.h"
#include "fsutil.h"
#include "json_util.h"
#include "yaml.h"

static char *relative_to(const char *kubeconfig_path, const char *file)
{
	const char *slash = strrchr(kubeconfig_path, '/');
	char *joined = NULL;
	if (file[0] == '/' || !slash)
		joined = strdup(file);
	else if (asprintf(&joined, "%.*s/%s", (int)(slash - kubeconfig_path), kubeconfig_path,
			  file) < 0)
		joined = NULL;
	return joined;
}

/* The `inner` object of the element of the list `list_key` whose name is `name`, as in
 * clusters: [{name: x, cluster: {...}}]. */
static const json_t *find_named(const json_t *root, const char *list_key, const char *inner,
				const char *name)
{
	size_t i;
	const json_t *entry;
	json_array_foreach (json_object_get(root, list_key), i, entry) {
		const char *entry_name = json_string_value(json_object_get(entry, "name"));
		if (entry_name && strcmp(entry_name, name) == 0) {
			const json_t *value = json_object_get(entry, inner);
			return json_is_object(value) ? value : NULL;
		}
	}
	return NULL;
}

struct source {
	const char *path; /* the kubeconfig, for messages and relative references */
	const json_t *section;
};

static const char *string_field(const struct source *src, const char *key)
{
	const char *value = json_string_value(json_object_get(src->section, key));
	return value && *value ? value : NULL;
}

/* Reads the file named by `file_key`, if the section names one; *content stays NULL if not. */
static int read_referenced_file(const struct source *src, const char *file_key, char **content,
				size_t *len, struct ck_error *err)
{
	const char *file = string_field(src, file_key);
	if (!file)
		return 0;
	_cleanup_free_ char *full = relative_to(src->path, file);
	if (!full)
		return ck_error_set(err, ENOMEM, "kubeconfig %s: %s", src->path, file_key);
	int ret = fs_read_file(full, content, len, err);
	if (ret < 0)
		return ck_error_prefix(err, "kubeconfig %s: %s", src->path, file_key);
	return 0;
}

/* Loads PEM material from `data_key` (base64) or else the file named by `file_key`. */
static int load_material(const struct source *src, const char *data_key, const char *file_key,
			 char **pem, size_t *pem_len, struct ck_error *err)
{
	const char *data = string_field(src, data_key);
	if (!data)
		return read_referenced_file(src, file_key, pem, pem_len, err);
	_cleanup_buf_ struct buf decoded = {0};
	if (base64_decode(data, strlen(data), &decoded, err) < 0)
		return ck_error_prefix(err, "kubeconfig %s: %s", src->path, data_key);
	*pem_len = decoded.len;
	*pem = buf_steal(&decoded);
	return 0;
}

static int load_token(const struct source *src, char **token, struct ck_error *err)
{
	const char *inline_token = string_field(src, "token");
	if (inline_token) {
		*token = strdup(inline_token);
		return *token ? 0 : ck_error_set(err, ENOMEM, "kubeconfig %s: token", src->path);
	}
	size_t len;
	int ret = read_referenced_file(src, "tokenFile", token, &len, err);
	if (ret < 0 || !*token)
		return ret;
	while (len > 0 && strchr(" \t\r\n", (*token)[len - 1]))
		(*token)[--len] = '\0';
	return 0;
}

static int resolve_context(const json_t *root, const char *path, const char *context_name,
			   struct kubeconfig *config, struct ck_error *err)
{
	if (!json_is_object(root))
		return ck_error_set(err, EINVAL, "kubeconfig %s: not a map", path);
	if (!context_name)
		context_name = json_string_value(json_object_get(root, "current-context"));
	if (!context_name || !*context_name)
		return ck_error_set(err, EINVAL, "kubeconfig %s: no current-context is set", path);
	const json_t *context = find_named(root, "contexts", "context", context_name);
	if (!context)
		return ck_error_set(err, ENOENT, "kubeconfig %s: context \"%s\" does not exist",
				    path, context_name);
	struct source ctx = {path, context};
	const char *cluster_name = string_field(&ctx, "cluster");
	const json_t *cluster =
	    cluster_name ? find_named(root, "clusters", "cluster", cluster_name) : NULL;
	if (!cluster)
		return ck_error_set(err, ENOENT,
				    "kubeconfig %s: context \"%s\": cluster \"%s\" does not exist",
				    path, context_name, cluster_name ? cluster_name : "");
	struct source cluster_src = {path, cluster};
	const char *server = string_field(&cluster_src, "server");
	if (!server)
		return ck_error_set(err, EINVAL, "kubeconfig %s: cluster \"%s\" has no server",
				    path, cluster_name);

	const char *user_name = string_field(&ctx, "user");
	const json_t *user = user_name ? find_named(root, "users", "user", user_name) : NULL;
	struct source user_src = {path, user};
	const char *ns = string_field(&ctx, "namespace");

	config->path = strdup(path);
	config->context = strdup(context_name);
	config->server = strdup(server);
	config->namespace = strdup(ns ? ns : "default");
	if (!config->path || !config->context || !config->server || !config->namespace)
		return ck_error_set(err, ENOMEM, "kubeconfig %s", path);
	config->insecure_skip_tls_verify =
	    json_is_true(json_object_get(cluster, "insecure-skip-tls-verify"));
	int ret = load_material(&cluster_src, "certificate-authority-data", "certificate-authority",
				&config->ca_pem, &config->ca_pem_len, err);
	if (ret == 0 && user)
		ret = load_material(&user_src, "client-certificate-data", "client-certificate",
				    &config->client_cert_pem, &config->client_cert_pem_len, err);
	if (ret == 0 && user)
		ret = load_material(&user_src, "client-key-data", "client-key",
				    &config->client_key_pem, &config->client_key_pem_len, err);
	if (ret == 0 && user)
		ret = load_token(&user_src, &config->token, err);
	return ret;
}

int kubeconfig_parse(const char *text, size_t len, const char *path, const char *context_name,
		     struct kubeconfig *config, struct ck_error *err)
{
	*config = (struct kubeconfig){0};
	_cleanup_json_ json_t *docs = NULL;
	int ret = yaml_parse_documents(text, len, &docs, err);
	if (ret < 0)
		return ck_error_prefix(err, "kubeconfig %s", path);
	ret = resolve_context(json_array_get(docs, 0), path, context_name, config, err);
	if (ret < 0)
		kubeconfig_free(config);
	return ret;
}

int kubeconfig_load(const char *path, const char *context_name, struct kubeconfig *config,
		    struct ck_error *err)
{
	*config = (struct kubeconfig){0};
	if (!path)
		return ck_error_set(err, ENOENT,
				    "no kubeconfig: pass --kubeconfig, set KUBECONFIG or create "
				    "~/.kube/config");
	_cleanup_free_ char *text = NULL;
	size_t len;
	int ret = fs_read_file(path, &text, &len, err);
	if (ret < 0)
		return ck_error_prefix(err, "load kubeconfig");
	return kubeconfig_parse(text, len, path, context_name, config, err);
}

char *kubeconfig_path(const char *explicit_path)
{
	if (explicit_path && *explicit_path)
		return strdup(explicit_path);
	const char *list = getenv("KUBECONFIG");
	if (list) {
		/* kubectl merges every file in the list; ckube reads the first one. */
		for (const char *p = list; *p;) {
			size_t n = strcspn(p, ":");
			if (n > 0)
				return strndup(p, n);
			p += p[n] ? n + 1 : n;
		}
	}
	const char *home = getenv("HOME");
	char *path = NULL;
	if (home && *home && asprintf(&path, "%s/.kube/config", home) < 0)
		path = NULL;
	return path;
}

void kubeconfig_free(struct kubeconfig *config)
{
	free(config->path);
	free(config->context);
	free(config->server);
	free(config->namespace);
	free(config->token);
	free(config->ca_pem);
	free(config->client_cert_pem);
	free(config->client_key_pem);
	*config = (struct kubeconfig){0};
}
