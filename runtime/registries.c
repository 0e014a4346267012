#include "runtime/registries.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/strmap.h"
#include "lib/yaml.h"

#define WILDCARD "*"
#define DOCKER_HUB "docker.io"
#define DOCKER_HUB_ENDPOINT "https://registry-1.docker.io"
/* An operator's file, but still bounded: a handful of mirrors is the real use. */
#define MAX_ENDPOINTS_PER_MIRROR 64

struct url_list {
	char **urls;
	size_t count;
};

struct endpoint_list {
	struct registry_endpoint *items;
	size_t count;
};

struct registries {
	struct strmap *mirrors;  /* registry name -> struct url_list */
	struct strmap *configs;  /* endpoint host -> struct registry_endpoint without a URL: the
				    settings of one configs entry, copied into each endpoint they
				    apply to */
	struct strmap *resolved; /* registry name -> struct endpoint_list, built on first use */
	pthread_mutex_t lock;    /* guards `resolved` */
};

static void url_list_free(void *value)
{
	struct url_list *list = value;
	for (size_t i = 0; i < list->count; i++)
		free(list->urls[i]);
	free(list->urls);
	free(list);
}

void registry_endpoint_clear(struct registry_endpoint *endpoint)
{
	free(endpoint->url);
	free(endpoint->username);
	free(endpoint->password);
	free(endpoint->ca_file);
	free(endpoint->cert_file);
	free(endpoint->key_file);
	*endpoint = (struct registry_endpoint){0};
}

static char *dup_or_null(const char *text, bool *failed)
{
	if (!text)
		return NULL;
	char *copy = strdup(text);
	if (!copy)
		*failed = true;
	return copy;
}

int registry_endpoint_copy(const struct registry_endpoint *endpoint, const char *url,
			   struct registry_endpoint *out)
{
	bool failed = false;
	*out = (struct registry_endpoint){
	    .url = dup_or_null(url, &failed),
	    .username = dup_or_null(endpoint->username, &failed),
	    .password = dup_or_null(endpoint->password, &failed),
	    .ca_file = dup_or_null(endpoint->ca_file, &failed),
	    .cert_file = dup_or_null(endpoint->cert_file, &failed),
	    .key_file = dup_or_null(endpoint->key_file, &failed),
	    .insecure_tls = endpoint->insecure_tls,
	};
	if (failed)
		registry_endpoint_clear(out);
	return failed ? -ENOMEM : 0;
}

static void endpoint_config_free(void *value)
{
	registry_endpoint_clear(value);
	free(value);
}

static void endpoint_list_free(void *value)
{
	struct endpoint_list *list = value;
	for (size_t i = 0; i < list->count; i++)
		registry_endpoint_clear(&list->items[i]);
	free(list->items);
	free(list);
}

void registries_free(struct registries *registries)
{
	if (!registries)
		return;
	strmap_free(registries->mirrors);
	strmap_free(registries->configs);
	strmap_free(registries->resolved);
	pthread_mutex_destroy(&registries->lock);
	free(registries);
}

/* "https://host:port/path" -> "host:port"; NULL for anything but an http(s) URL with a host
 * and no credentials in it (those belong under configs). */
static char *url_host(const char *url)
{
	const char *rest;
	if (strncmp(url, "http://", 7) == 0)
		rest = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		rest = url + 8;
	else
		return NULL;
	size_t len = strcspn(rest, "/?#");
	if (len == 0 || memchr(rest, '@', len) || rest[len] == '?' || rest[len] == '#')
		return NULL;
	return strndup(rest, len);
}

static int string_setting(const json_t *obj, const char *key, char **out, const char *where,
			  struct ck_error *err)
{
	const json_t *value = json_object_get(obj, key);
	if (!value || json_is_null(value))
		return 0;
	if (!json_is_string(value))
		return ck_error_set(err, EINVAL, "%s.%s: must be a string", where, key);
	*out = strdup(json_string_value(value));
	return *out ? 0 : ck_error_set(err, ENOMEM, "%s.%s: out of memory", where, key);
}

static int load_mirror(struct registries *registries, const char *name, const json_t *mirror,
		       struct ck_error *err)
{
	if (!json_is_object(mirror))
		return ck_error_set(err, EINVAL, "mirrors.%s: must be a mapping", name);
	const json_t *endpoints = json_object_get(mirror, "endpoint");
	if (endpoints && !json_is_array(endpoints))
		return ck_error_set(err, EINVAL, "mirrors.%s.endpoint: must be a list of URLs",
				    name);
	if (json_array_size(endpoints) > MAX_ENDPOINTS_PER_MIRROR)
		return ck_error_set(err, EINVAL, "mirrors.%s.endpoint: more than %d endpoints",
				    name, MAX_ENDPOINTS_PER_MIRROR);
	if (json_object_get(mirror, "rewrite"))
		log_warn("registries: mirrors.%s.rewrite is not supported; ignored", name);
	struct url_list *list = calloc(1, sizeof(*list));
	if (!list)
		return ck_error_set(err, ENOMEM, "mirrors.%s: out of memory", name);
	strmap_put(registries->mirrors, name, list);
	list->urls = calloc(json_array_size(endpoints) + 1, sizeof(char *));
	if (!list->urls)
		return ck_error_set(err, ENOMEM, "mirrors.%s: out of memory", name);
	size_t i;
	const json_t *url;
	json_array_foreach (endpoints, i, url) {
		const char *text = json_string_value(url);
		_cleanup_free_ char *host = text ? url_host(text) : NULL;
		if (!host)
			return ck_error_set(
			    err, EINVAL, "mirrors.%s.endpoint[%zu]: not an http:// or https:// URL",
			    name, i);
		size_t len = strlen(text);
		while (len && text[len - 1] == '/')
			len--;
		list->urls[list->count] = strndup(text, len);
		if (!list->urls[list->count])
			return ck_error_set(err, ENOMEM, "mirrors.%s: out of memory", name);
		list->count++;
	}
	return 0;
}

/* auth: base64 of "user:password", the form Docker's config.json uses. */
static int decode_auth(const char *encoded, struct registry_endpoint *config, const char *where,
		       struct ck_error *err)
{
	struct buf decoded _cleanup_buf_ = {0};
	if (base64_decode(encoded, strlen(encoded), &decoded, err) < 0)
		return ck_error_prefix(err, "%s.auth.auth", where);
	char *colon = decoded.data ? memchr(decoded.data, ':', decoded.len) : NULL;
	if (!colon || memchr(decoded.data, '\0', decoded.len))
		return ck_error_set(err, EINVAL, "%s.auth.auth: not base64 of \"user:password\"",
				    where);
	free(config->username);
	free(config->password);
	config->username = strndup(decoded.data, (size_t)(colon - decoded.data));
	config->password = strdup(colon + 1);
	if (!config->username || !config->password)
		return ck_error_set(err, ENOMEM, "%s.auth: out of memory", where);
	return 0;
}

static int load_config(struct registries *registries, const char *host, const json_t *entry,
		       struct ck_error *err)
{
	_cleanup_free_ char *where = NULL;
	if (asprintf(&where, "configs.%s", host) < 0)
		return ck_error_set(err, ENOMEM, "configs: out of memory");
	if (!json_is_object(entry))
		return ck_error_set(err, EINVAL, "%s: must be a mapping", where);
	struct registry_endpoint *config = calloc(1, sizeof(*config));
	if (!config)
		return ck_error_set(err, ENOMEM, "%s: out of memory", where);
	/* Keys may be written as URLs; endpoints are matched by host. */
	char *key_host = url_host(host);
	strmap_put(registries->configs, key_host ? key_host : host, config);
	free(key_host);

	const json_t *auth = json_object_get(entry, "auth");
	const json_t *tls = json_object_get(entry, "tls");
	if (auth && !json_is_object(auth))
		return ck_error_set(err, EINVAL, "%s.auth: must be a mapping", where);
	if (tls && !json_is_object(tls))
		return ck_error_set(err, EINVAL, "%s.tls: must be a mapping", where);
	_cleanup_free_ char *auth_where = NULL, *tls_where = NULL, *encoded = NULL;
	if (asprintf(&auth_where, "%s.auth", where) < 0 ||
	    asprintf(&tls_where, "%s.tls", where) < 0)
		return ck_error_set(err, ENOMEM, "%s: out of memory", where);
	int ret = 0;
	if (auth) {
		if ((ret = string_setting(auth, "username", &config->username, auth_where, err)) ||
		    (ret = string_setting(auth, "password", &config->password, auth_where, err)) ||
		    (ret = string_setting(auth, "auth", &encoded, auth_where, err)))
			return ret;
		if (encoded && (ret = decode_auth(encoded, config, where, err)) < 0)
			return ret;
		if (json_object_get(auth, "identitytoken"))
			log_warn("registries: %s.identitytoken is not supported; ignored",
				 auth_where);
	}
	if (tls) {
		if ((ret = string_setting(tls, "ca_file", &config->ca_file, tls_where, err)) ||
		    (ret = string_setting(tls, "cert_file", &config->cert_file, tls_where, err)) ||
		    (ret = string_setting(tls, "key_file", &config->key_file, tls_where, err)))
			return ret;
		const json_t *insecure = json_object_get(tls, "insecure_skip_verify");
		if (insecure && !json_is_boolean(insecure))
			return ck_error_set(
			    err, EINVAL, "%s.insecure_skip_verify: must be a boolean", tls_where);
		config->insecure_tls = json_is_true(insecure);
		if (!config->cert_file != !config->key_file)
			return ck_error_set(err, EINVAL, "%s: cert_file and key_file go together",
					    tls_where);
	}
	return 0;
}

static int load_document(struct registries *registries, const json_t *doc, struct ck_error *err)
{
	if (!json_is_object(doc))
		return ck_error_set(err, EINVAL, "must be a mapping with mirrors and configs");
	const json_t *mirrors = json_object_get(doc, "mirrors");
	const json_t *configs = json_object_get(doc, "configs");
	if (mirrors && !json_is_null(mirrors) && !json_is_object(mirrors))
		return ck_error_set(err, EINVAL, "mirrors: must be a mapping");
	if (configs && !json_is_null(configs) && !json_is_object(configs))
		return ck_error_set(err, EINVAL, "configs: must be a mapping");
	const char *key;
	const json_t *value;
	int ret;
	json_object_foreach ((json_t *)mirrors, key, value) {
		if ((ret = load_mirror(registries, key, value, err)) < 0)
			return ret;
	}
	json_object_foreach ((json_t *)configs, key, value) {
		if ((ret = load_config(registries, key, value, err)) < 0)
			return ret;
	}
	return 0;
}

static int read_settings(struct registries *registries, const char *path, struct ck_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int ret = fs_read_file(path, &text, &len, err);
	if (ret == -ENOENT)
		return 0;
	if (ret < 0)
		return ret;
	_cleanup_json_ json_t *docs = NULL;
	if ((ret = yaml_parse_documents(text, len, &docs, err)) < 0)
		return ck_error_prefix(err, "registries %s", path);
	if (json_array_size(docs) > 1)
		return ck_error_set(err, EINVAL, "registries %s: more than one document", path);
	if (json_array_size(docs) == 1 &&
	    (ret = load_document(registries, json_array_get(docs, 0), err)) < 0)
		return ck_error_prefix(err, "registries %s", path);
	return 0;
}

int registries_load(const char *path, struct registries **out, struct ck_error *err)
{
	struct registries *registries = calloc(1, sizeof(*registries));
	if (!registries)
		return ck_error_set(err, ENOMEM, "registries: out of memory");
	registries->mirrors = strmap_new(url_list_free);
	registries->configs = strmap_new(endpoint_config_free);
	registries->resolved = strmap_new(endpoint_list_free);
	pthread_mutex_init(&registries->lock, NULL);
	int ret = path ? read_settings(registries, path, err) : 0;
	if (ret < 0) {
		registries_free(registries);
		return ret;
	}
	*out = registries;
	return 0;
}

/* Fills `endpoint` for `url`, with the config of its host, else of `fallback_key` (the
 * registry's own name, for its default endpoint), else the wildcard config. */
static int endpoint_fill(struct registries *registries, const char *url, const char *fallback_key,
			 struct registry_endpoint *endpoint)
{
	static const struct registry_endpoint no_config;
	_cleanup_free_ char *host = url_host(url);
	const struct registry_endpoint *config =
	    host ? strmap_get(registries->configs, host) : NULL;
	if (!config && fallback_key)
		config = strmap_get(registries->configs, fallback_key);
	if (!config)
		config = strmap_get(registries->configs, WILDCARD);
	return registry_endpoint_copy(config ? config : &no_config, url, endpoint);
}

static struct endpoint_list *resolve(struct registries *registries, const char *registry)
{
	const struct url_list *mirror = strmap_get(registries->mirrors, registry);
	if (!mirror)
		mirror = strmap_get(registries->mirrors, WILDCARD);
	size_t mirror_count = mirror ? mirror->count : 0;
	_cleanup_free_ char *default_url = NULL;
	if (strcmp(registry, DOCKER_HUB) == 0)
		default_url = strdup(DOCKER_HUB_ENDPOINT);
	else if (asprintf(&default_url, "https://%s", registry) < 0)
		default_url = NULL;
	struct endpoint_list *list = calloc(1, sizeof(*list));
	if (list)
		list->items = calloc(mirror_count + 1, sizeof(*list->items));
	if (!default_url || !list || !list->items)
		goto fail;
	bool default_listed = false;
	for (size_t i = 0; i < mirror_count; i++) {
		const char *url = mirror->urls[i];
		bool is_default = strcmp(url, default_url) == 0;
		default_listed |= is_default;
		if (endpoint_fill(registries, url, is_default ? registry : NULL,
				  &list->items[list->count++]) < 0)
			goto fail;
	}
	if (!default_listed &&
	    endpoint_fill(registries, default_url, registry, &list->items[list->count++]) < 0)
		goto fail;
	return list;
fail:
	if (list)
		endpoint_list_free(list);
	return NULL;
}

const struct registry_endpoint *registries_endpoints(struct registries *registries,
						     const char *registry, size_t *count)
{
	pthread_mutex_lock(&registries->lock);
	struct endpoint_list *list = strmap_get(registries->resolved, registry);
	if (!list) {
		list = resolve(registries, registry);
		if (list)
			strmap_put(registries->resolved, registry, list);
	}
	pthread_mutex_unlock(&registries->lock);
	*count = list ? list->count : 0;
	return list ? list->items : NULL;
}
