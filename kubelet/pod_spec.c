/* A Pod object read into struct pod_spec: the fields the agent acts on, with the defaults of
 * Kubernetes' pkg/apis/core/v1/defaults.go for what a pod from a manifest file may lack, probe
 * ports resolved as the kubelet's prober resolves them (pkg/probe ResolveContainerPort), and the
 * QoS class of pkg/apis/core/v1/helper/qos. */
#include "kubelet/pod_spec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/strconv.h"
#include "runtime/image_ref.h"
#include "runtime/process_spec.h"

#define DEFAULT_GRACE_SECONDS 30
#define DEFAULT_TERMINATION_MESSAGE_PATH "/dev/termination-log"
/* The kubelet cuts a longer hostname to what a DNS label may hold. */
#define HOSTNAME_MAX 63
/* Room for the deepest field path, "spec.initContainers[12].readinessProbe.httpGet.port". */
#define PATH_SIZE 256

static char *copy_or_abort(const char *s)
{
	char *copy = strdup(s);
	if (!copy)
		abort();
	return copy;
}

/* An array of `count` zeroed items, NULL for none. */
static void *alloc_items(size_t count, size_t size)
{
	if (!count)
		return NULL;
	void *items = calloc(count, size);
	if (!items)
		abort();
	return items;
}

/* --- reading fields ----------------------------------------------------------------------- */

/* Keeps the first failure, so that a parser can read field after field and check once at the
 * end; every read after a failure does nothing. */
struct reader {
	struct ck_error *err;
	int status; /* 0, or the negative errno of the first failure */
};

__attribute__((format(printf, 2, 3))) static void reader_fail(struct reader *rd, const char *fmt,
							      ...)
{
	if (rd->status < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	rd->status = ck_error_setv(rd->err, EINVAL, fmt, ap);
	va_end(ap);
}

/* `path` names the object holding `key`: NULL for the Pod itself. */
static void fail_field(struct reader *rd, const char *path, const char *key, const char *what)
{
	if (path)
		reader_fail(rd, "%s.%s: %s", path, key, what);
	else
		reader_fail(rd, "%s: %s", key, what);
}

static void child_path(char out[PATH_SIZE], const char *path, const char *key)
{
	snprintf(out, PATH_SIZE, "%s%s%s", path ? path : "", path ? "." : "", key);
}

static void item_path(char out[PATH_SIZE], const char *path, const char *key, size_t index)
{
	snprintf(out, PATH_SIZE, "%s.%s[%zu]", path, key, index);
}

static const char *type_problem(json_type type)
{
	switch (type) {
	case JSON_OBJECT:
		return "not an object";
	case JSON_ARRAY:
		return "not an array";
	case JSON_STRING:
		return "not a string";
	case JSON_INTEGER:
		return "not a number";
	default:
		return "not a boolean";
	}
}

static bool has_type(const json_t *value, json_type type)
{
	if (type == JSON_TRUE)
		return json_is_boolean(value);
	return json_typeof(value) == type;
}

/* obj[key] when it has the JSON type `type` (JSON_TRUE stands for either boolean); NULL when it
 * is missing or null, which Kubernetes reads alike; NULL and a failure for another type. `obj`
 * may be NULL (an absent parent). */
static const json_t *member(struct reader *rd, const json_t *obj, const char *path, const char *key,
			    json_type type)
{
	const json_t *value = json_object_get(obj, key);
	if (rd->status < 0 || !value || json_is_null(value))
		return NULL;
	if (has_type(value, type))
		return value;
	fail_field(rd, path, key, type_problem(type));
	return NULL;
}

static void require(struct reader *rd, const json_t *obj, const char *path, const char *key)
{
	const json_t *value = json_object_get(obj, key);
	if (!value || json_is_null(value) ||
	    (json_is_string(value) && json_string_length(value) == 0))
		fail_field(rd, path, key, "required");
}

/* A Go struct cannot tell an empty string from a missing one: both are NULL here. */
static const char *read_string_ref(struct reader *rd, const json_t *obj, const char *path,
				   const char *key)
{
	const json_t *value = member(rd, obj, path, key, JSON_STRING);
	return value && json_string_length(value) ? json_string_value(value) : NULL;
}

static char *read_string(struct reader *rd, const json_t *obj, const char *path, const char *key)
{
	const char *value = read_string_ref(rd, obj, path, key);
	return value ? copy_or_abort(value) : NULL;
}

static char *read_string_or(struct reader *rd, const json_t *obj, const char *path, const char *key,
			    const char *unset)
{
	char *value = read_string(rd, obj, path, key);
	return value ? value : copy_or_abort(unset);
}

static int64_t read_int64(struct reader *rd, const json_t *obj, const char *path, const char *key,
			  int64_t unset)
{
	const json_t *value = member(rd, obj, path, key, JSON_INTEGER);
	return value ? json_integer_value(value) : unset;
}

/* The API's int32 fields. */
static int read_int(struct reader *rd, const json_t *obj, const char *path, const char *key,
		    int unset)
{
	int64_t value = read_int64(rd, obj, path, key, unset);
	if (value < INT32_MIN || value > INT32_MAX) {
		fail_field(rd, path, key, "out of range");
		return unset;
	}
	return (int)value;
}

/* Kubernetes defaults a counter that is 0 as well as one that is missing. */
static int read_positive_int(struct reader *rd, const json_t *obj, const char *path,
			     const char *key, int unset)
{
	int value = read_int(rd, obj, path, key, unset);
	return value ? value : unset;
}

static bool read_bool(struct reader *rd, const json_t *obj, const char *path, const char *key,
		      bool unset)
{
	const json_t *value = member(rd, obj, path, key, JSON_TRUE);
	return value ? json_is_true(value) : unset;
}

/* -1 unset, 0 false, 1 true. */
static int read_tristate(struct reader *rd, const json_t *obj, const char *path, const char *key)
{
	const json_t *value = member(rd, obj, path, key, JSON_TRUE);
	return value ? json_is_true(value) : -1;
}

/* NULL-terminated; NULL when unset. */
static char **read_strv(struct reader *rd, const json_t *obj, const char *path, const char *key)
{
	const json_t *array = member(rd, obj, path, key, JSON_ARRAY);
	if (!array)
		return NULL;
	char **strv = calloc(json_array_size(array) + 1, sizeof(*strv));
	if (!strv)
		abort();
	for (size_t i = 0; i < json_array_size(array); i++) {
		const json_t *item = json_array_get(array, i);
		if (!json_is_string(item)) {
			reader_fail(rd, "%s.%s[%zu]: not a string", path, key, i);
			break;
		}
		strv[i] = copy_or_abort(json_string_value(item));
	}
	return strv;
}

/* A JSON value kept as is: a new reference, or NULL when unset. */
static json_t *read_json(struct reader *rd, const json_t *obj, const char *path, const char *key,
			 json_type type)
{
	return json_incref((json_t *)member(rd, obj, path, key, type));
}

/* The object at index `i` of `list`, whose path is `path`. */
static const json_t *item_object(struct reader *rd, const json_t *list, size_t i, const char *path)
{
	const json_t *item = json_array_get(list, i);
	if (rd->status < 0 || json_is_object(item))
		return item;
	reader_fail(rd, "%s: not an object", path);
	return NULL;
}

/* A quantity; false when unset. */
static bool read_quantity(struct reader *rd, const json_t *obj, const char *path, const char *key,
			  struct quantity *out)
{
	const json_t *value = json_object_get(obj, key);
	*out = (struct quantity){0};
	if (rd->status < 0 || !value)
		return false;
	struct ck_error why = {0};
	if (quantity_from_json(value, out, &why) < 0) {
		fail_field(rd, path, key, why.message);
		return false;
	}
	return true;
}

struct enum_name {
	const char *name;
	int value;
};

/* The value a name stands for; `unset` when the field is missing or empty, a failure for a name
 * not in the table. */
static int read_enum(struct reader *rd, const json_t *obj, const char *path, const char *key,
		     const struct enum_name *names, size_t count, int unset)
{
	const char *text = read_string_ref(rd, obj, path, key);
	if (!text)
		return unset;
	for (size_t i = 0; i < count; i++) {
		if (strcmp(names[i].name, text) == 0)
			return names[i].value;
	}
	reader_fail(rd, "%s.%s: unsupported value \"%s\"", path, key, text);
	return unset;
}

#define ENUM_COUNT(names) (sizeof(names) / sizeof((names)[0]))

/* --- containers --------------------------------------------------------------------------- */

static const struct enum_name pull_policies[] = {
    {"IfNotPresent", PULL_IF_NOT_PRESENT},
    {"Always", PULL_ALWAYS},
    {"Never", PULL_NEVER},
};

/* Kubernetes' default: Always for an image tagged latest or not tagged at all (a digest alone
 * counts as a tag here), else IfNotPresent; an image that does not parse is IfNotPresent, as
 * its defaulting ignores the parse error. */
static enum pull_policy default_pull_policy(const char *image)
{
	struct image_ref ref;
	if (!image || image_ref_parse(image, &ref, NULL) < 0)
		return PULL_IF_NOT_PRESENT;
	bool latest = ref.tag && strcmp(ref.tag, "latest") == 0;
	image_ref_clear(&ref);
	return latest ? PULL_ALWAYS : PULL_IF_NOT_PRESENT;
}

static void read_security(struct reader *rd, const json_t *owner, const char *path,
			  struct security_spec *s)
{
	*s = (struct security_spec){
	    .run_as_user = -1,
	    .run_as_group = -1,
	    .run_as_non_root = -1,
	    .allow_privilege_escalation = -1,
	};
	const json_t *obj = member(rd, owner, path, "securityContext", JSON_OBJECT);
	if (!obj)
		return;
	char spath[PATH_SIZE], sub[PATH_SIZE];
	child_path(spath, path, "securityContext");
	s->run_as_user = read_int64(rd, obj, spath, "runAsUser", -1);
	s->run_as_group = read_int64(rd, obj, spath, "runAsGroup", -1);
	s->run_as_non_root = read_tristate(rd, obj, spath, "runAsNonRoot");
	s->privileged = read_bool(rd, obj, spath, "privileged", false);
	s->read_only_root = read_bool(rd, obj, spath, "readOnlyRootFilesystem", false);
	s->allow_privilege_escalation = read_tristate(rd, obj, spath, "allowPrivilegeEscalation");
	const char *proc_mount = read_string_ref(rd, obj, spath, "procMount");
	s->proc_unmasked = proc_mount && strcmp(proc_mount, "Unmasked") == 0;

	const json_t *caps = member(rd, obj, spath, "capabilities", JSON_OBJECT);
	child_path(sub, spath, "capabilities");
	s->cap_add = read_strv(rd, caps, sub, "add");
	s->cap_drop = read_strv(rd, caps, sub, "drop");

	const json_t *seccomp = member(rd, obj, spath, "seccompProfile", JSON_OBJECT);
	child_path(sub, spath, "seccompProfile");
	s->seccomp = read_string(rd, seccomp, sub, "type");
	s->seccomp_localhost = read_string(rd, seccomp, sub, "localhostProfile");
}

static void read_resources(struct reader *rd, const json_t *container, const char *path,
			   struct resources_spec *r)
{
	char rpath[PATH_SIZE], lpath[PATH_SIZE], qpath[PATH_SIZE];
	child_path(rpath, path, "resources");
	const json_t *resources = member(rd, container, path, "resources", JSON_OBJECT);
	const json_t *requests = member(rd, resources, rpath, "requests", JSON_OBJECT);
	const json_t *limits = member(rd, resources, rpath, "limits", JSON_OBJECT);
	child_path(qpath, rpath, "requests");
	child_path(lpath, rpath, "limits");

	struct quantity q;
	r->cpu_limit_milli = read_quantity(rd, limits, lpath, "cpu", &q) ? q.milli : -1;
	r->memory_limit = read_quantity(rd, limits, lpath, "memory", &q) ? q.value : -1;
	r->ephemeral_storage_limit =
	    read_quantity(rd, limits, lpath, "ephemeral-storage", &q) ? q.value : -1;
	/* A limit without a request is also the request (SetDefaults_ResourceList). */
	r->cpu_request_milli =
	    read_quantity(rd, requests, qpath, "cpu", &q) ? q.milli : r->cpu_limit_milli;
	r->memory_request =
	    read_quantity(rd, requests, qpath, "memory", &q) ? q.value : r->memory_limit;
	r->ephemeral_storage_request = read_quantity(rd, requests, qpath, "ephemeral-storage", &q)
					   ? q.value
					   : r->ephemeral_storage_limit;
}

static void read_ports(struct reader *rd, const json_t *container, const char *path,
		       struct container_spec *c)
{
	const json_t *list = member(rd, container, path, "ports", JSON_ARRAY);
	c->port_count = json_array_size(list);
	c->ports = alloc_items(c->port_count, sizeof(*c->ports));
	for (size_t i = 0; i < c->port_count; i++) {
		char ppath[PATH_SIZE];
		item_path(ppath, path, "ports", i);
		const json_t *port = item_object(rd, list, i, ppath);
		struct port_spec *p = &c->ports[i];
		p->name = read_string(rd, port, ppath, "name");
		require(rd, port, ppath, "containerPort");
		p->container_port = read_int(rd, port, ppath, "containerPort", 0);
		p->host_port = read_int(rd, port, ppath, "hostPort", 0);
		p->protocol = read_string_or(rd, port, ppath, "protocol", "TCP");
	}
}

static enum container_propagation read_propagation(struct reader *rd, const json_t *mount,
						   const char *path)
{
	const char *text = read_string_ref(rd, mount, path, "mountPropagation");

	if (!text || strcmp(text, "None") == 0)
		return CONTAINER_PROPAGATION_NONE;
	if (strcmp(text, "HostToContainer") == 0)
		return CONTAINER_PROPAGATION_HOST_TO_CONTAINER;
	if (strcmp(text, "Bidirectional") == 0)
		return CONTAINER_PROPAGATION_BIDIRECTIONAL;
	fail_field(rd, path, "mountPropagation", "want None, HostToContainer or Bidirectional");
	return CONTAINER_PROPAGATION_NONE;
}

static void read_mounts(struct reader *rd, const json_t *container, const char *path,
			struct container_spec *c)
{
	const json_t *list = member(rd, container, path, "volumeMounts", JSON_ARRAY);
	c->mount_count = json_array_size(list);
	c->mounts = alloc_items(c->mount_count, sizeof(*c->mounts));
	for (size_t i = 0; i < c->mount_count; i++) {
		char mpath[PATH_SIZE];
		item_path(mpath, path, "volumeMounts", i);
		const json_t *mount = item_object(rd, list, i, mpath);
		struct volume_mount_spec *m = &c->mounts[i];
		require(rd, mount, mpath, "name");
		require(rd, mount, mpath, "mountPath");
		m->name = read_string(rd, mount, mpath, "name");
		m->mount_path = read_string(rd, mount, mpath, "mountPath");
		m->sub_path = read_string(rd, mount, mpath, "subPath");
		m->sub_path_expr = read_string(rd, mount, mpath, "subPathExpr");
		m->read_only = read_bool(rd, mount, mpath, "readOnly", false);
		m->propagation = read_propagation(rd, mount, mpath);
	}
}

static void read_key_ref(struct reader *rd, const json_t *ref, const char *path, struct env_spec *e)
{
	require(rd, ref, path, "name");
	require(rd, ref, path, "key");
	e->object = read_string(rd, ref, path, "name");
	e->key = read_string(rd, ref, path, "key");
	e->optional = read_bool(rd, ref, path, "optional", false);
}

static void read_value_from(struct reader *rd, const json_t *from, const char *path,
			    struct env_spec *e)
{
	char rpath[PATH_SIZE];
	const json_t *ref;
	if ((ref = member(rd, from, path, "fieldRef", JSON_OBJECT))) {
		e->source = ENV_FIELD_REF;
		child_path(rpath, path, "fieldRef");
		require(rd, ref, rpath, "fieldPath");
		e->field = read_string(rd, ref, rpath, "fieldPath");
	} else if ((ref = member(rd, from, path, "resourceFieldRef", JSON_OBJECT))) {
		e->source = ENV_RESOURCE_FIELD_REF;
		child_path(rpath, path, "resourceFieldRef");
		require(rd, ref, rpath, "resource");
		e->field = read_string(rd, ref, rpath, "resource");
		e->container = read_string(rd, ref, rpath, "containerName");
		read_quantity(rd, ref, rpath, "divisor", &e->divisor);
	} else if ((ref = member(rd, from, path, "configMapKeyRef", JSON_OBJECT))) {
		e->source = ENV_CONFIG_MAP_KEY;
		child_path(rpath, path, "configMapKeyRef");
		read_key_ref(rd, ref, rpath, e);
	} else if ((ref = member(rd, from, path, "secretKeyRef", JSON_OBJECT))) {
		e->source = ENV_SECRET_KEY;
		child_path(rpath, path, "secretKeyRef");
		read_key_ref(rd, ref, rpath, e);
	} else {
		reader_fail(rd,
			    "%s: must specify one of: `fieldRef`, `resourceFieldRef`, "
			    "`configMapKeyRef` or `secretKeyRef`",
			    path);
	}
}

static void read_env_entry(struct reader *rd, const json_t *entry, const char *path,
			   struct env_spec *e)
{
	require(rd, entry, path, "name");
	e->name = read_string(rd, entry, path, "name");
	/* As in the kubelet, a value that is not empty wins over valueFrom. */
	const char *value = read_string_ref(rd, entry, path, "value");
	const json_t *from = member(rd, entry, path, "valueFrom", JSON_OBJECT);
	if (value || !from) {
		e->source = ENV_VALUE;
		e->value = copy_or_abort(value ? value : "");
		return;
	}
	char fpath[PATH_SIZE];
	child_path(fpath, path, "valueFrom");
	read_value_from(rd, from, fpath, e);
}

static void read_env(struct reader *rd, const json_t *container, const char *path,
		     struct container_spec *c)
{
	const json_t *list = member(rd, container, path, "env", JSON_ARRAY);
	c->env_count = json_array_size(list);
	c->env = alloc_items(c->env_count, sizeof(*c->env));
	for (size_t i = 0; i < c->env_count; i++) {
		char epath[PATH_SIZE];
		item_path(epath, path, "env", i);
		read_env_entry(rd, item_object(rd, list, i, epath), epath, &c->env[i]);
	}
}

static void read_env_from(struct reader *rd, const json_t *container, const char *path,
			  struct container_spec *c)
{
	const json_t *list = member(rd, container, path, "envFrom", JSON_ARRAY);
	c->env_from_count = json_array_size(list);
	c->env_from = alloc_items(c->env_from_count, sizeof(*c->env_from));
	for (size_t i = 0; i < c->env_from_count; i++) {
		char epath[PATH_SIZE], rpath[PATH_SIZE];
		item_path(epath, path, "envFrom", i);
		const json_t *entry = item_object(rd, list, i, epath);
		struct env_from_spec *f = &c->env_from[i];
		f->prefix = read_string(rd, entry, epath, "prefix");
		const json_t *config_map = member(rd, entry, epath, "configMapRef", JSON_OBJECT);
		const json_t *secret = member(rd, entry, epath, "secretRef", JSON_OBJECT);
		if (!config_map && !secret) {
			reader_fail(rd, "%s: must specify one of: `configMapRef` or `secretRef`",
				    epath);
			return;
		}
		f->secret = !config_map;
		child_path(rpath, epath, f->secret ? "secretRef" : "configMapRef");
		const json_t *ref = f->secret ? secret : config_map;
		require(rd, ref, rpath, "name");
		f->name = read_string(rd, ref, rpath, "name");
		f->optional = read_bool(rd, ref, rpath, "optional", false);
	}
}

/* The port of a probe as the kubelet's prober resolves it: a number, else the container port
 * of that name, else a number written as a string; a name that matches nothing stays 0. */
static void read_probe_port(struct reader *rd, const json_t *handler, const char *path,
			    const struct container_spec *c, struct probe_spec *p)
{
	require(rd, handler, path, "port");
	const json_t *port = json_object_get(handler, "port");
	if (rd->status < 0)
		return;
	if (json_is_integer(port)) {
		p->port = read_int(rd, handler, path, "port", 0);
		return;
	}
	if (!json_is_string(port)) {
		fail_field(rd, path, "port", "not a number or a port name");
		return;
	}
	const char *name = json_string_value(port);
	for (size_t i = 0; i < c->port_count; i++) {
		if (c->ports[i].name && strcmp(c->ports[i].name, name) == 0) {
			p->port = c->ports[i].container_port;
			p->port_name = copy_or_abort(name);
			return;
		}
	}
	int64_t number;
	if (strconv_parse_int(name, 1, 65535, &number, NULL) == 0) {
		p->port = (int)number;
		return;
	}
	p->port = 0;
	p->port_name = copy_or_abort(name);
}

static void read_probe_handler(struct reader *rd, const json_t *probe, const char *path,
			       const struct container_spec *c, bool hook, struct probe_spec *p)
{
	char hpath[PATH_SIZE];
	const json_t *handler;
	if (hook && (handler = member(rd, probe, path, "sleep", JSON_OBJECT))) {
		p->kind = PROBE_SLEEP;
		child_path(hpath, path, "sleep");
		require(rd, handler, hpath, "seconds");
		p->sleep_seconds = read_int(rd, handler, hpath, "seconds", 0);
	} else if ((handler = member(rd, probe, path, "exec", JSON_OBJECT))) {
		p->kind = PROBE_EXEC;
		child_path(hpath, path, "exec");
		p->command = read_strv(rd, handler, hpath, "command");
	} else if ((handler = member(rd, probe, path, "httpGet", JSON_OBJECT))) {
		p->kind = PROBE_HTTP_GET;
		child_path(hpath, path, "httpGet");
		p->http_path = read_string_or(rd, handler, hpath, "path", "/");
		p->http_scheme = read_string_or(rd, handler, hpath, "scheme", "HTTP");
		p->http_host = read_string(rd, handler, hpath, "host");
		p->http_headers = read_json(rd, handler, hpath, "httpHeaders", JSON_ARRAY);
		read_probe_port(rd, handler, hpath, c, p);
	} else if ((handler = member(rd, probe, path, "tcpSocket", JSON_OBJECT))) {
		p->kind = PROBE_TCP_SOCKET;
		child_path(hpath, path, "tcpSocket");
		p->http_host = read_string(rd, handler, hpath, "host");
		read_probe_port(rd, handler, hpath, c, p);
	} else if ((handler = member(rd, probe, path, "grpc", JSON_OBJECT))) {
		p->kind = PROBE_GRPC;
		child_path(hpath, path, "grpc");
		require(rd, handler, hpath, "port");
		p->port = read_int(rd, handler, hpath, "port", 0);
		p->grpc_service = read_string(rd, handler, hpath, "service");
	} else {
		reader_fail(rd, "%s: must specify a handler type", path);
	}
}

static void read_probe(struct reader *rd, const json_t *container, const char *path,
		       const char *key, const struct container_spec *c, struct probe_spec *p)
{
	p->termination_grace_seconds = -1;
	const json_t *probe = member(rd, container, path, key, JSON_OBJECT);
	if (!probe)
		return;
	char ppath[PATH_SIZE];
	child_path(ppath, path, key);
	p->initial_delay_seconds = read_int(rd, probe, ppath, "initialDelaySeconds", 0);
	p->timeout_seconds = read_positive_int(rd, probe, ppath, "timeoutSeconds", 1);
	p->period_seconds = read_positive_int(rd, probe, ppath, "periodSeconds", 10);
	p->success_threshold = read_positive_int(rd, probe, ppath, "successThreshold", 1);
	p->failure_threshold = read_positive_int(rd, probe, ppath, "failureThreshold", 3);
	p->termination_grace_seconds =
	    read_int64(rd, probe, ppath, "terminationGracePeriodSeconds", -1);
	read_probe_handler(rd, probe, ppath, c, false, p);
}

static void read_lifecycle(struct reader *rd, const json_t *container, const char *path,
			   struct container_spec *c)
{
	const json_t *lifecycle = member(rd, container, path, "lifecycle", JSON_OBJECT);
	char lpath[PATH_SIZE];
	child_path(lpath, path, "lifecycle");
	const struct {
		const char *key;
		struct probe_spec *hook;
	} hooks[] = {{"postStart", &c->post_start}, {"preStop", &c->pre_stop}};
	for (size_t i = 0; i < 2; i++) {
		const json_t *handler = member(rd, lifecycle, lpath, hooks[i].key, JSON_OBJECT);
		char hpath[PATH_SIZE];
		if (!handler)
			continue;
		child_path(hpath, lpath, hooks[i].key);
		read_probe_handler(rd, handler, hpath, c, true, hooks[i].hook);
	}
}

static void read_container(struct reader *rd, const json_t *obj, const char *path, bool init,
			   struct container_spec *c)
{
	require(rd, obj, path, "name");
	require(rd, obj, path, "image");
	c->name = read_string(rd, obj, path, "name");
	c->image = read_string(rd, obj, path, "image");
	int pull_policy = read_enum(rd, obj, path, "imagePullPolicy", pull_policies,
				    ENUM_COUNT(pull_policies), -1);
	c->pull_policy =
	    pull_policy < 0 ? default_pull_policy(c->image) : (enum pull_policy)pull_policy;
	c->command = read_strv(rd, obj, path, "command");
	c->args = read_strv(rd, obj, path, "args");
	c->working_dir = read_string(rd, obj, path, "workingDir");
	read_env(rd, obj, path, c);
	read_env_from(rd, obj, path, c);
	read_ports(rd, obj, path, c);
	read_mounts(rd, obj, path, c);
	read_resources(rd, obj, path, &c->resources);
	read_security(rd, obj, path, &c->security);
	/* After the ports, which named probe ports refer to. */
	read_probe(rd, obj, path, "livenessProbe", c, &c->liveness);
	read_probe(rd, obj, path, "readinessProbe", c, &c->readiness);
	read_probe(rd, obj, path, "startupProbe", c, &c->startup);
	read_lifecycle(rd, obj, path, c);
	const char *restart = read_string_ref(rd, obj, path, "restartPolicy");
	c->restart_always = init && restart && strcmp(restart, "Always") == 0;
	c->stdin_open = read_bool(rd, obj, path, "stdin", false);
	c->tty = read_bool(rd, obj, path, "tty", false);
	c->termination_message_path = read_string_or(rd, obj, path, "terminationMessagePath",
						     DEFAULT_TERMINATION_MESSAGE_PATH);
}

static void read_containers(struct reader *rd, const json_t *spec, const char *key, bool init,
			    struct container_spec **out, size_t *count)
{
	const json_t *list = member(rd, spec, "spec", key, JSON_ARRAY);
	*count = json_array_size(list);
	*out = alloc_items(*count, sizeof(**out));
	for (size_t i = 0; i < *count; i++) {
		char path[PATH_SIZE];
		item_path(path, "spec", key, i);
		read_container(rd, item_object(rd, list, i, path), path, init, &(*out)[i]);
	}
}

/* --- the pod ------------------------------------------------------------------------------ */

static const struct enum_name restart_policies[] = {
    {"Always", RESTART_ALWAYS},
    {"OnFailure", RESTART_ON_FAILURE},
    {"Never", RESTART_NEVER},
};

static const struct enum_name qos_classes[] = {
    {"Guaranteed", QOS_GUARANTEED},
    {"Burstable", QOS_BURSTABLE},
    {"BestEffort", QOS_BEST_EFFORT},
};

/* The kubelet's truncatePodHostnameIfNeeded: a name longer than a DNS label is cut, and the cut
 * must not end in '-' or '.'. */
static char *pod_hostname(const char *name, const char *hostname)
{
	const char *chosen = hostname ? hostname : name;
	size_t len = strlen(chosen);
	if (len > HOSTNAME_MAX) {
		len = HOSTNAME_MAX;
		while (len > 0 && (chosen[len - 1] == '-' || chosen[len - 1] == '.'))
			len--;
	}
	char *copy = strndup(chosen, len);
	if (!copy)
		abort();
	return copy;
}

static json_t *read_map(struct reader *rd, const json_t *meta, const char *key)
{
	json_t *map = read_json(rd, meta, "metadata", key, JSON_OBJECT);
	return map ? map : json_object();
}

static void read_metadata(struct reader *rd, const json_t *pod_obj, struct pod_spec *pod)
{
	const json_t *meta = member(rd, pod_obj, NULL, "metadata", JSON_OBJECT);
	require(rd, meta, "metadata", "name");
	pod->name = read_string(rd, meta, "metadata", "name");
	pod->namespace = read_string_or(rd, meta, "metadata", "namespace", "default");
	pod->uid = read_string_or(rd, meta, "metadata", "uid", "");
	pod->resource_version = read_string(rd, meta, "metadata", "resourceVersion");
	pod->labels = read_map(rd, meta, "labels");
	pod->annotations = read_map(rd, meta, "annotations");
	pod->deleting = read_string_ref(rd, meta, "metadata", "deletionTimestamp") != NULL;
	pod->deletion_grace_seconds =
	    read_int64(rd, meta, "metadata", "deletionGracePeriodSeconds", -1);
}

static void read_pod_security(struct reader *rd, const json_t *spec, struct pod_spec *pod)
{
	read_security(rd, spec, "spec", &pod->security);
	const json_t *context = member(rd, spec, "spec", "securityContext", JSON_OBJECT);
	const char *path = "spec.securityContext";
	pod->fs_group = read_int64(rd, context, path, "fsGroup", -1);
	const json_t *groups = member(rd, context, path, "supplementalGroups", JSON_ARRAY);
	pod->supplemental_group_count = json_array_size(groups);
	pod->supplemental_groups =
	    alloc_items(pod->supplemental_group_count, sizeof(*pod->supplemental_groups));
	for (size_t i = 0; i < pod->supplemental_group_count; i++) {
		const json_t *group = json_array_get(groups, i);
		if (!json_is_integer(group)) {
			reader_fail(rd, "%s.supplementalGroups[%zu]: not a number", path, i);
			return;
		}
		pod->supplemental_groups[i] = json_integer_value(group);
	}
}

static void read_spec(struct reader *rd, const json_t *pod_obj, struct pod_spec *pod)
{
	const json_t *spec = member(rd, pod_obj, NULL, "spec", JSON_OBJECT);
	const char *path = "spec";
	pod->node_name = read_string(rd, spec, path, "nodeName");
	pod->restart_policy = read_enum(rd, spec, path, "restartPolicy", restart_policies,
					ENUM_COUNT(restart_policies), RESTART_ALWAYS);
	pod->termination_grace_seconds =
	    read_int64(rd, spec, path, "terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS);
	pod->host_network = read_bool(rd, spec, path, "hostNetwork", false);
	pod->host_pid = read_bool(rd, spec, path, "hostPID", false);
	pod->host_ipc = read_bool(rd, spec, path, "hostIPC", false);
	pod->share_process_namespace = read_bool(rd, spec, path, "shareProcessNamespace", false);
	pod->enable_service_links = read_bool(rd, spec, path, "enableServiceLinks", true);
	pod->subdomain = read_string(rd, spec, path, "subdomain");
	pod->service_account = read_string(rd, spec, path, "serviceAccountName");
	pod->dns_policy = read_string_or(rd, spec, path, "dnsPolicy", "ClusterFirst");
	pod->dns_config = read_json(rd, spec, path, "dnsConfig", JSON_OBJECT);
	pod->host_aliases = read_json(rd, spec, path, "hostAliases", JSON_ARRAY);
	pod->volumes = read_json(rd, spec, path, "volumes", JSON_ARRAY);
	const char *hostname = read_string_ref(rd, spec, path, "hostname");
	if (rd->status == 0)
		pod->hostname = pod_hostname(pod->name, hostname);
	read_pod_security(rd, spec, pod);
	require(rd, spec, path, "containers");
	read_containers(rd, spec, "initContainers", true, &pod->init_containers,
			&pod->init_container_count);
	read_containers(rd, spec, "containers", false, &pod->containers, &pod->container_count);
	if (rd->status == 0 && pod->container_count == 0)
		fail_field(rd, path, "containers", "required");
}

int pod_spec_parse(const json_t *pod_obj, struct pod_spec **out, struct ck_error *err)
{
	*out = NULL;
	if (!json_is_object(pod_obj))
		return ck_error_set(err, EINVAL, "pod: not an object");
	struct pod_spec *pod = calloc(1, sizeof(*pod));
	if (!pod)
		abort();
	struct reader rd = {.err = err};
	pod->object = json_incref((json_t *)pod_obj);
	read_metadata(&rd, pod_obj, pod);
	read_spec(&rd, pod_obj, pod);
	const json_t *status = member(&rd, pod_obj, NULL, "status", JSON_OBJECT);
	int qos =
	    read_enum(&rd, status, "status", "qosClass", qos_classes, ENUM_COUNT(qos_classes), -1);
	if (rd.status < 0) {
		pod_spec_free(pod);
		return rd.status;
	}
	pod->qos = qos < 0 ? pod_qos_class(pod) : (enum qos_class)qos;
	*out = pod;
	return 0;
}

/* --- freeing ------------------------------------------------------------------------------ */

static void security_free(struct security_spec *s)
{
	strv_free(s->cap_add);
	strv_free(s->cap_drop);
	free(s->seccomp);
	free(s->seccomp_localhost);
}

static void probe_free(struct probe_spec *p)
{
	strv_free(p->command);
	free(p->http_path);
	free(p->http_scheme);
	free(p->http_host);
	json_decref(p->http_headers);
	free(p->port_name);
	free(p->grpc_service);
}

static void env_free(struct env_spec *env, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(env[i].name);
		free(env[i].value);
		free(env[i].field);
		free(env[i].container);
		free(env[i].object);
		free(env[i].key);
	}
	free(env);
}

static void container_spec_clear(struct container_spec *c)
{
	free(c->name);
	free(c->image);
	strv_free(c->command);
	strv_free(c->args);
	free(c->working_dir);
	env_free(c->env, c->env_count);
	for (size_t i = 0; i < c->env_from_count; i++) {
		free(c->env_from[i].prefix);
		free(c->env_from[i].name);
	}
	free(c->env_from);
	for (size_t i = 0; i < c->port_count; i++) {
		free(c->ports[i].name);
		free(c->ports[i].protocol);
	}
	free(c->ports);
	for (size_t i = 0; i < c->mount_count; i++) {
		free(c->mounts[i].name);
		free(c->mounts[i].mount_path);
		free(c->mounts[i].sub_path);
		free(c->mounts[i].sub_path_expr);
	}
	free(c->mounts);
	security_free(&c->security);
	probe_free(&c->liveness);
	probe_free(&c->readiness);
	probe_free(&c->startup);
	probe_free(&c->pre_stop);
	probe_free(&c->post_start);
	free(c->termination_message_path);
}

static void containers_free(struct container_spec *list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		container_spec_clear(&list[i]);
	free(list);
}

void pod_spec_free(struct pod_spec *pod)
{
	if (!pod)
		return;
	free(pod->uid);
	free(pod->namespace);
	free(pod->name);
	free(pod->resource_version);
	free(pod->node_name);
	json_decref(pod->labels);
	json_decref(pod->annotations);
	free(pod->hostname);
	free(pod->subdomain);
	free(pod->service_account);
	security_free(&pod->security);
	free(pod->supplemental_groups);
	containers_free(pod->init_containers, pod->init_container_count);
	containers_free(pod->containers, pod->container_count);
	json_decref(pod->volumes);
	json_decref(pod->dns_config);
	json_decref(pod->host_aliases);
	free(pod->dns_policy);
	json_decref(pod->object);
	free(pod);
}

/* --- QoS and security --------------------------------------------------------------------- */

/* Sums that cannot wrap: a sum past int64 stays at its largest value. */
static int64_t add_saturated(int64_t a, int64_t b)
{
	int64_t sum;
	return __builtin_add_overflow(a, b, &sum) ? INT64_MAX : sum;
}

/* The cpu and memory requests and limits above zero of every container, summed. */
struct qos_totals {
	int64_t cpu_request, cpu_limit, memory_request, memory_limit;
	bool any;
	bool every_container_limited; /* both a cpu and a memory limit in each container */
};

static void qos_add(struct qos_totals *t, const struct resources_spec *r)
{
	if (r->cpu_request_milli > 0)
		t->cpu_request = add_saturated(t->cpu_request, r->cpu_request_milli);
	if (r->memory_request > 0)
		t->memory_request = add_saturated(t->memory_request, r->memory_request);
	if (r->cpu_limit_milli > 0)
		t->cpu_limit = add_saturated(t->cpu_limit, r->cpu_limit_milli);
	if (r->memory_limit > 0)
		t->memory_limit = add_saturated(t->memory_limit, r->memory_limit);
	if (r->cpu_request_milli > 0 || r->memory_request > 0 || r->cpu_limit_milli > 0 ||
	    r->memory_limit > 0)
		t->any = true;
	if (r->cpu_limit_milli <= 0 || r->memory_limit <= 0)
		t->every_container_limited = false;
}

enum qos_class pod_qos_class(const struct pod_spec *pod)
{
	struct qos_totals t = {.every_container_limited = true};
	for (size_t i = 0; i < pod->container_count; i++)
		qos_add(&t, &pod->containers[i].resources);
	for (size_t i = 0; i < pod->init_container_count; i++)
		qos_add(&t, &pod->init_containers[i].resources);
	if (!t.any)
		return QOS_BEST_EFFORT;
	/* Every container has both limits, so both sums are there: Guaranteed needs both
	 * requests too, equal to them. */
	if (t.every_container_limited && t.cpu_request == t.cpu_limit &&
	    t.memory_request == t.memory_limit)
		return QOS_GUARANTEED;
	return QOS_BURSTABLE;
}

const char *qos_class_name(enum qos_class qos)
{
	switch (qos) {
	case QOS_GUARANTEED:
		return "Guaranteed";
	case QOS_BURSTABLE:
		return "Burstable";
	default:
		return "BestEffort";
	}
}

void container_security_effective(const struct pod_spec *pod,
				  const struct container_spec *container, struct security_spec *out)
{
	const struct security_spec *defaults = &pod->security;
	*out = container->security;
	if (out->run_as_user < 0)
		out->run_as_user = defaults->run_as_user;
	if (out->run_as_group < 0)
		out->run_as_group = defaults->run_as_group;
	if (out->run_as_non_root < 0)
		out->run_as_non_root = defaults->run_as_non_root;
	if (!out->seccomp) {
		out->seccomp = defaults->seccomp;
		out->seccomp_localhost = defaults->seccomp_localhost;
	}
}
