/* A container's environment by the kubelet's rules: Service variables (pkg/kubelet/envvars
 * FromServices over the Services getServiceEnvVarMap picks), envFrom, env with fieldRef,
 * resourceFieldRef (pkg/api/v1/resource ExtractContainerResourceValue over the limits
 * defaultPodLimitsForDownwardAPI fills in), configMapKeyRef and secretKeyRef, and $(VAR)
 * expansion in makeEnvironmentVariables' order. */
#include "kubelet/container_env.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/strmap.h"

static char *copy_or_abort(const char *s)
{
	char *copy = strdup(s);
	if (!copy)
		abort();
	return copy;
}

/* --- variables by name -------------------------------------------------------------------- */

/* Setting a name again replaces the value in the place of the first definition, as a Go map
 * assignment keeps one entry per name. */
struct env_list {
	struct env_var *vars;
	size_t count, cap;
};

/* The index of `name` at or after `from`; -1 when it is not there. */
static ssize_t env_list_find(const struct env_list *list, size_t from, const char *name)
{
	for (size_t i = from; i < list->count; i++) {
		if (strcmp(list->vars[i].name, name) == 0)
			return (ssize_t)i;
	}
	return -1;
}

/* Sets `name` among the entries from `from` on; takes `value`. */
static void env_list_set(struct env_list *list, size_t from, const char *name, char *value)
{
	ssize_t at = env_list_find(list, from, name);
	if (at >= 0) {
		free(list->vars[at].value);
		list->vars[at].value = value;
		return;
	}
	if (list->count == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 32;
		struct env_var *grown = realloc(list->vars, cap * sizeof(*grown));
		if (!grown)
			abort();
		list->vars = grown;
		list->cap = cap;
	}
	list->vars[list->count++] = (struct env_var){copy_or_abort(name), value};
}

static void env_list_clear(struct env_list *list)
{
	env_vars_free(list->vars, list->count);
	*list = (struct env_list){0};
}

/* --- one build ---------------------------------------------------------------------------- */

struct env_build {
	const struct env_context *ctx;
	const struct container_spec *container;
	/* What $(VAR) sees: the Service variables first, then from service_end on the
	 * container's own, which env_expand (looking from the end) finds first. */
	struct env_list scope;
	size_t service_end;
	struct strmap *objects; /* "ConfigMap/name" and "Secret/name": fetched objects */
};

static void object_release(void *object)
{
	json_decref(object);
}

static const char *kind_of(bool secret)
{
	return secret ? "Secret" : "ConfigMap";
}

/* The ConfigMap or Secret `name`: 0 with *out borrowed from the build, NULL when it does not
 * exist. An object found missing is remembered as JSON null, so that it too is asked for once
 * and every reference to it in one container sees the same answer. */
static int fetch_object(struct env_build *b, bool secret, const char *name, const json_t **out,
			struct ck_error *err)
{
	_cleanup_buf_ struct buf key = {0};
	buf_printf(&key, "%s/%s", kind_of(secret), name);
	json_t *object = strmap_get(b->objects, key.data);
	if (!object) {
		if (b->ctx->lookup) {
			int r =
			    b->ctx->lookup(b->ctx->lookup_ctx, kind_of(secret), name, &object, err);
			if (r < 0)
				return r;
		}
		if (!object)
			object = json_null();
		strmap_put(b->objects, key.data, object);
	}
	*out = json_is_null(object) ? NULL : object;
	return 0;
}

/* The text of the API's NotFound error, which the kubelet shows as it is. */
static int not_found(struct ck_error *err, bool secret, const char *name)
{
	return ck_error_set(err, ENOENT, "%s \"%s\" not found", secret ? "secret" : "configmap",
			    name);
}

/* A Secret value is base64 in the object. A NUL byte would cut the C string short, so such a
 * value is refused rather than passed on shortened. */
static int decode_secret_value(const struct env_build *b, const char *name, const char *key,
			       const json_t *encoded, char **out, struct ck_error *err)
{
	_cleanup_buf_ struct buf decoded = {0};
	const char *ns = b->ctx->pod->namespace;
	if (base64_decode(json_string_value(encoded), json_string_length(encoded), &decoded, err) <
	    0)
		return ck_error_prefix(err, "secret %s/%s key %s", ns, name, key);
	if (decoded.len && memchr(decoded.data, '\0', decoded.len))
		return ck_error_set(err, EINVAL,
				    "secret %s/%s key %s: the value contains a NUL byte", ns, name,
				    key);
	*out = buf_steal(&decoded);
	return 0;
}

/* The value of one data entry (a JSON string) as text. */
static int data_text(const struct env_build *b, bool secret, const char *name, const char *key,
		     const json_t *data, char **out, struct ck_error *err)
{
	if (secret)
		return decode_secret_value(b, name, key, data, out, err);
	*out = copy_or_abort(json_string_value(data));
	return 0;
}

static void set_container_var(struct env_build *b, const char *name, char *value)
{
	env_list_set(&b->scope, b->service_end, name, value);
}

/* --- Service variables -------------------------------------------------------------------- */

/* The parts of a Service the variables use; false for one without them all. */
struct service_view {
	const char *namespace, *name, *cluster_ip;
	const json_t *ports;
};

static bool port_usable(const json_t *port)
{
	const json_t *name = json_object_get(port, "name");
	const json_t *protocol = json_object_get(port, "protocol");
	return json_is_integer(json_object_get(port, "port")) && (!name || json_is_string(name)) &&
	       (!protocol || json_is_string(protocol));
}

/* A cluster IP of "None" (headless) or none at all gives no variables (IsServiceIPSet). */
static bool service_view(const json_t *service, struct service_view *s)
{
	s->namespace = json_path_string(service, "metadata.namespace");
	s->name = json_path_string(service, "metadata.name");
	s->cluster_ip = json_path_string(service, "spec.clusterIP");
	s->ports = json_path(service, "spec.ports");
	if (!s->namespace || !s->name || !s->cluster_ip || !*s->cluster_ip ||
	    strcmp(s->cluster_ip, "None") == 0 || json_array_size(s->ports) == 0)
		return false;
	for (size_t i = 0; i < json_array_size(s->ports); i++) {
		if (!port_usable(json_array_get(s->ports, i)))
			return false;
	}
	return true;
}

static bool is_master_service(const struct service_view *s)
{
	return strcmp(s->namespace, "default") == 0 && strcmp(s->name, "kubernetes") == 0;
}

static bool in_own_namespace(const struct pod_spec *pod, const struct service_view *s)
{
	return pod->enable_service_links && strcmp(s->namespace, pod->namespace) == 0;
}

/* The kubelet keys the Services it picks by name, and a `kubernetes` Service of the pod's own
 * namespace takes the place of the default namespace's. */
static bool master_shadowed(const struct env_context *ctx)
{
	size_t i;
	const json_t *service;
	json_array_foreach ((json_t *)ctx->services, i, service) {
		struct service_view s;
		if (service_view(service, &s) && !is_master_service(&s) &&
		    in_own_namespace(ctx->pod, &s) && strcmp(s.name, "kubernetes") == 0)
			return true;
	}
	return false;
}

/* Service and port names as variable names: upper case, '-' as '_' (makeEnvVariableName). */
static void append_env_name(struct buf *out, const char *name)
{
	for (; *name; name++)
		buf_putc(out, *name == '-' ? '_' : (char)toupper((unsigned char)*name));
}

__attribute__((format(printf, 3, 4))) static void
set_service_var(struct env_list *list, const char *value, const char *fmt, ...)
{
	_cleanup_buf_ struct buf name = {0};
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&name, fmt, ap);
	va_end(ap);
	env_list_set(list, 0, name.data, copy_or_abort(value));
}

/* The Docker link variables of one port: FOO_PORT_80_TCP=tcp://10.0.0.1:80 and its _PROTO,
 * _PORT and _ADDR, and FOO_PORT for the first port. */
static void add_link_vars(struct env_list *list, const char *prefix, const struct service_view *s,
			  size_t index)
{
	const json_t *port = json_array_get(s->ports, index);
	const char *protocol = json_string_value(json_object_get(port, "protocol"));
	char number[24], upper[16] = "", lower[16] = "";
	snprintf(number, sizeof(number), "%lld",
		 (long long)json_integer_value(json_object_get(port, "port")));
	if (!protocol || !*protocol)
		protocol = "TCP";
	for (size_t i = 0; protocol[i] && i + 1 < sizeof(upper); i++) {
		upper[i] = (char)toupper((unsigned char)protocol[i]);
		lower[i] = (char)tolower((unsigned char)protocol[i]);
	}
	_cleanup_buf_ struct buf url = {0};
	/* net.JoinHostPort: an IPv6 address goes in brackets. */
	if (strchr(s->cluster_ip, ':'))
		buf_printf(&url, "%s://[%s]:%s", lower, s->cluster_ip, number);
	else
		buf_printf(&url, "%s://%s:%s", lower, s->cluster_ip, number);
	if (index == 0)
		set_service_var(list, url.data, "%s_PORT", prefix);
	set_service_var(list, url.data, "%s_PORT_%s_%s", prefix, number, upper);
	set_service_var(list, lower, "%s_PORT_%s_%s_PROTO", prefix, number, upper);
	set_service_var(list, number, "%s_PORT_%s_%s_PORT", prefix, number, upper);
	set_service_var(list, s->cluster_ip, "%s_PORT_%s_%s_ADDR", prefix, number, upper);
}

static void add_service(struct env_list *list, const struct service_view *s)
{
	_cleanup_buf_ struct buf prefix = {0};
	append_env_name(&prefix, s->name);
	set_service_var(list, s->cluster_ip, "%s_SERVICE_HOST", prefix.data);
	char number[24];
	size_t i;
	const json_t *port;
	json_array_foreach ((json_t *)s->ports, i, port) {
		snprintf(number, sizeof(number), "%lld",
			 (long long)json_integer_value(json_object_get(port, "port")));
		/* The first port keeps the name it had before Services had several. */
		if (i == 0)
			set_service_var(list, number, "%s_SERVICE_PORT", prefix.data);
		const char *name = json_string_value(json_object_get(port, "name"));
		if (name && *name) {
			_cleanup_buf_ struct buf port_name = {0};
			append_env_name(&port_name, name);
			set_service_var(list, number, "%s_SERVICE_PORT_%s", prefix.data,
					port_name.data);
		}
	}
	for (i = 0; i < json_array_size(s->ports); i++)
		add_link_vars(list, prefix.data, s, i);
}

static void add_service_vars(struct env_build *b)
{
	const struct env_context *ctx = b->ctx;
	bool shadowed = master_shadowed(ctx);
	size_t i;
	const json_t *service;
	json_array_foreach ((json_t *)ctx->services, i, service) {
		struct service_view s;
		if (!service_view(service, &s))
			continue;
		bool master = is_master_service(&s);
		if ((master && !shadowed) || (!master && in_own_namespace(ctx->pod, &s)))
			add_service(&b->scope, &s);
	}
	b->service_end = b->scope.count;
}

/* --- envFrom ------------------------------------------------------------------------------ */

/* Every key goes in with the prefix. Since Kubernetes 1.30 the kubelet no longer skips keys
 * that are no C identifier ("app.port"): the API server's rules for keys and prefixes are the
 * only check. */
static int add_env_from(struct env_build *b, const struct env_from_spec *from, struct ck_error *err)
{
	const json_t *object;
	int r = fetch_object(b, from->secret, from->name, &object, err);
	if (r < 0)
		return r;
	if (!object)
		return from->optional ? 0 : not_found(err, from->secret, from->name);
	const char *key;
	const json_t *data;
	json_object_foreach ((json_t *)json_object_get(object, "data"), key, data) {
		if (!json_is_string(data))
			continue;
		char *value;
		r = data_text(b, from->secret, from->name, key, data, &value, err);
		if (r < 0)
			return r;
		_cleanup_buf_ struct buf name = {0};
		buf_printf(&name, "%s%s", from->prefix ? from->prefix : "", key);
		set_container_var(b, name.data, value);
	}
	return 0;
}

/* --- env sources -------------------------------------------------------------------------- */

static char *join_ips(const char *const *ips, size_t count)
{
	struct buf out = {0};
	for (size_t i = 0; i < count; i++)
		buf_printf(&out, "%s%s", i ? "," : "", ips[i]);
	return buf_steal(&out);
}

/* "metadata.labels['app']" when `field` is `path` with a subscript: true, with *value the
 * map's value for the key ("" when it has none). */
static bool map_subscript(const char *field, const char *path, const json_t *map,
			  const char **value)
{
	size_t path_len = strlen(path), len = strlen(field);
	if (len < path_len + 4 || strncmp(field, path, path_len) != 0 ||
	    strncmp(field + path_len, "['", 2) != 0 || strcmp(field + len - 2, "']") != 0)
		return false;
	_cleanup_free_ char *key = strndup(field + path_len + 2, len - path_len - 4);
	if (!key)
		abort();
	*value = json_string_value(json_object_get(map, key));
	if (!*value)
		*value = "";
	return true;
}

/* The fields a variable may take from its pod (podFieldSelectorRuntimeValue). */
static int field_value(const struct env_context *ctx, const char *field, char **out,
		       struct ck_error *err)
{
	const struct pod_spec *pod = ctx->pod;
	const char *value = NULL;
	if (map_subscript(field, "metadata.labels", pod->labels, &value) ||
	    map_subscript(field, "metadata.annotations", pod->annotations, &value))
		;
	else if (strcmp(field, "metadata.name") == 0)
		value = pod->name;
	else if (strcmp(field, "metadata.namespace") == 0)
		value = pod->namespace;
	else if (strcmp(field, "metadata.uid") == 0)
		value = pod->uid;
	else if (strcmp(field, "spec.nodeName") == 0)
		value = pod->node_name ? pod->node_name : ctx->node_name;
	else if (strcmp(field, "spec.serviceAccountName") == 0)
		value = pod->service_account;
	else if (strcmp(field, "status.podIP") == 0)
		value = ctx->pod_ip_count ? ctx->pod_ips[0] : "";
	else if (strcmp(field, "status.podIPs") == 0)
		return *out = join_ips(ctx->pod_ips, ctx->pod_ip_count), 0;
	else if (strncmp(field, "status.hostIP", strlen("status.hostIP")) != 0)
		return ck_error_set(err, EINVAL, "unsupported fieldPath: %s", field);
	else if (!ctx->host_ip_count)
		return ck_error_set(err, EINVAL, "host IP unknown; known addresses: []");
	else if (strcmp(field, "status.hostIP") == 0)
		value = ctx->host_ips[0];
	else if (strcmp(field, "status.hostIPs") == 0)
		return *out = join_ips(ctx->host_ips, ctx->host_ip_count), 0;
	else
		return ck_error_set(err, EINVAL, "unsupported fieldPath: %s", field);
	*out = copy_or_abort(value ? value : "");
	return 0;
}

/* The resources a variable may read, each in the unit its divisor divides: millicores for
 * cpu, bytes for the others. */
static const struct {
	const char *name;
	size_t offset;
	bool cpu;
} resource_fields[] = {
    {"limits.cpu", offsetof(struct resources_spec, cpu_limit_milli), true},
    {"limits.memory", offsetof(struct resources_spec, memory_limit), false},
    {"limits.ephemeral-storage", offsetof(struct resources_spec, ephemeral_storage_limit), false},
    {"requests.cpu", offsetof(struct resources_spec, cpu_request_milli), true},
    {"requests.memory", offsetof(struct resources_spec, memory_request), false},
    {"requests.ephemeral-storage", offsetof(struct resources_spec, ephemeral_storage_request),
     false},
};

/* A limit that is unset or zero reads as the node's allocatable (MergeContainerResourceLimits);
 * requests stay as they are. */
static void default_limits(const struct env_context *ctx, struct resources_spec *r)
{
	if (r->cpu_limit_milli <= 0 && ctx->allocatable_cpu_milli >= 0)
		r->cpu_limit_milli = ctx->allocatable_cpu_milli;
	if (r->memory_limit <= 0 && ctx->allocatable_memory >= 0)
		r->memory_limit = ctx->allocatable_memory;
	if (r->ephemeral_storage_limit <= 0 && ctx->allocatable_ephemeral_storage >= 0)
		r->ephemeral_storage_limit = ctx->allocatable_ephemeral_storage;
}

/* The resources resourceFieldRef reads. The kubelet fills in the limits of this container and
 * of the pod's app containers, but finds init containers named in containerName in the pod as
 * written; the same here. */
static int resource_source(const struct env_context *ctx, const struct container_spec *self,
			   const char *name, struct resources_spec *out, struct ck_error *err)
{
	const struct pod_spec *pod = ctx->pod;
	if (!name) {
		*out = self->resources;
		default_limits(ctx, out);
		return 0;
	}
	for (size_t i = 0; i < pod->container_count; i++) {
		if (strcmp(pod->containers[i].name, name) == 0) {
			*out = pod->containers[i].resources;
			default_limits(ctx, out);
			return 0;
		}
	}
	for (size_t i = 0; i < pod->init_container_count; i++) {
		if (strcmp(pod->init_containers[i].name, name) == 0) {
			*out = pod->init_containers[i].resources;
			return 0;
		}
	}
	return ck_error_set(err, EINVAL, "container %s not found", name);
}

/* The amount divided by the divisor (1 when unset), rounded up; "0" for no amount. */
static char *divided(int64_t amount, int64_t divisor)
{
	char text[24] = "0";
	if (amount > 0 && divisor > 0)
		snprintf(text, sizeof(text), "%lld",
			 (long long)(amount / divisor + (amount % divisor != 0)));
	return copy_or_abort(text);
}

static int resource_value(const struct env_context *ctx, const struct container_spec *self,
			  const struct env_spec *e, char **out, struct ck_error *err)
{
	for (size_t i = 0; i < sizeof(resource_fields) / sizeof(resource_fields[0]); i++) {
		if (strcmp(resource_fields[i].name, e->field) != 0)
			continue;
		struct resources_spec resources;
		int r = resource_source(ctx, self, e->container, &resources, err);
		if (r < 0)
			return r;
		int64_t amount =
		    *(const int64_t *)((const char *)&resources + resource_fields[i].offset);
		bool cpu = resource_fields[i].cpu;
		int64_t divisor = cpu ? e->divisor.milli : e->divisor.value;
		if (e->divisor.milli == 0)
			divisor = cpu ? 1000 : 1;
		*out = divided(amount, divisor);
		return 0;
	}
	return ck_error_set(err, EINVAL, "unsupported container resource : %s", e->field);
}

/* configMapKeyRef and secretKeyRef: 1 with *value, 0 when an optional one finds nothing. */
static int key_ref_value(struct env_build *b, const struct env_spec *e, char **value,
			 struct ck_error *err)
{
	bool secret = e->source == ENV_SECRET_KEY;
	const json_t *object;
	int r = fetch_object(b, secret, e->object, &object, err);
	if (r < 0)
		return r;
	if (!object)
		return e->optional ? 0 : not_found(err, secret, e->object);
	const json_t *data = json_object_get(json_object_get(object, "data"), e->key);
	if (!json_is_string(data)) {
		if (e->optional)
			return 0;
		return ck_error_set(err, ENOENT, "couldn't find key %s in %s %s/%s", e->key,
				    kind_of(secret), b->ctx->pod->namespace, e->object);
	}
	r = data_text(b, secret, e->object, e->key, data, value, err);
	return r < 0 ? r : 1;
}

/* The value of one env entry: 1 with *value set, 0 when it is left out. */
static int entry_value(struct env_build *b, const struct env_spec *e, char **value,
		       struct ck_error *err)
{
	int r;
	switch (e->source) {
	case ENV_VALUE:
		*value = env_expand(e->value, b->scope.vars, b->scope.count);
		return 1;
	case ENV_FIELD_REF:
		r = field_value(b->ctx, e->field, value, err);
		return r < 0 ? r : 1;
	case ENV_RESOURCE_FIELD_REF:
		r = resource_value(b->ctx, b->container, e, value, err);
		return r < 0 ? r : 1;
	default:
		return key_ref_value(b, e, value, err);
	}
}

/* --- the whole ---------------------------------------------------------------------------- */

static int build_scope(struct env_build *b, struct ck_error *err)
{
	const struct container_spec *c = b->container;
	add_service_vars(b);
	for (size_t i = 0; i < c->env_from_count; i++) {
		int r = add_env_from(b, &c->env_from[i], err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < c->env_count; i++) {
		char *value = NULL;
		int r = entry_value(b, &c->env[i], &value, err);
		if (r < 0)
			return r;
		if (r > 0)
			set_container_var(b, c->env[i].name, value);
	}
	return 0;
}

/* Moves the container's variables out, then the Service variables they do not replace. */
static void take_result(struct env_build *b, struct env_var **out, size_t *out_count)
{
	struct env_list *scope = &b->scope;
	struct env_var *result = calloc(scope->count ? scope->count : 1, sizeof(*result));
	if (!result)
		abort();
	size_t n = 0;
	for (size_t i = b->service_end; i < scope->count; i++) {
		result[n++] = scope->vars[i];
		scope->vars[i] = (struct env_var){0};
	}
	/* The container's variables are in `result` now: their old places in the scope are
	 * empty. */
	const struct env_list own = {.vars = result, .count = n};
	for (size_t i = 0; i < b->service_end; i++) {
		if (env_list_find(&own, 0, scope->vars[i].name) >= 0)
			continue;
		result[n++] = scope->vars[i];
		scope->vars[i] = (struct env_var){0};
	}
	*out = result;
	*out_count = n;
}

int container_env_build(const struct env_context *ctx, const struct container_spec *container,
			struct env_var **out, size_t *out_count, struct ck_error *err)
{
	struct env_build b = {
	    .ctx = ctx,
	    .container = container,
	    .objects = strmap_new(object_release),
	};
	*out = NULL;
	*out_count = 0;
	int r = build_scope(&b, err);
	if (r >= 0)
		take_result(&b, out, out_count);
	env_list_clear(&b.scope);
	strmap_free(b.objects);
	return r;
}
