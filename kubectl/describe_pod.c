/* kubectl describe pod, section by section in kubectl's order. */
#include <string.h>

#include "kubectl/describe.h"
#include "kubectl/describer.h"
#include "kubectl/timefmt.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/quantity.h"

static void ports_text(const json_t *ports, const char *key, struct buf *out)
{
	size_t i;
	const json_t *port;
	json_array_foreach (ports, i, port)
		buf_printf(out, "%s%lld/%s", i ? ", " : "", field_integer(port, key),
			   field_string(port, "protocol", ""));
}

static void describe_ports(struct describer *d, const json_t *ports, const char *key,
			   const char *one, const char *many)
{
	_cleanup_buf_ struct buf text = {0};
	ports_text(ports, key, &text);
	if (text.data && strchr(text.data, ','))
		describer_write(d, 2, "%s:\t%s\n", many, text.data);
	else
		describer_write(d, 2, "%s:\t%s\n", one, text.len ? text.data : "<none>");
}

static void describe_lines(struct describer *d, const char *title, const json_t *words)
{
	if (json_array_size(words) == 0)
		return;
	describer_write(d, 2, "%s:\n", title);
	size_t i;
	const json_t *word;
	json_array_foreach (words, i, word) {
		const char *text = json_string_value(word) ? json_string_value(word) : "";
		for (;;) {
			size_t len = strcspn(text, "\n");
			describer_write(d, 3, "%.*s\n", (int)len, text);
			if (!text[len])
				break;
			text += len + 1;
		}
	}
}

static void describe_time_line(struct describer *d, int level, const char *title,
			       const char *rfc3339)
{
	_cleanup_buf_ struct buf when = {0};
	describe_time(rfc3339, &when);
	describer_write(d, level, "%s:\t%s\n", title, when.data);
}

static void describe_state(struct describer *d, const char *title, const json_t *state)
{
	const json_t *running = json_object_get(state, "running");
	const json_t *waiting = json_object_get(state, "waiting");
	const json_t *terminated = json_object_get(state, "terminated");
	if (json_is_object(running)) {
		describer_write(d, 2, "%s:\tRunning\n", title);
		describe_time_line(d, 3, "Started", field_string(running, "startedAt", NULL));
	} else if (json_is_object(waiting)) {
		describer_write(d, 2, "%s:\tWaiting\n", title);
		const char *reason = field_string(waiting, "reason", "");
		if (*reason)
			describer_write(d, 3, "Reason:\t%s\n", reason);
	} else if (json_is_object(terminated)) {
		describer_write(d, 2, "%s:\tTerminated\n", title);
		const char *reason = field_string(terminated, "reason", "");
		const char *message = field_string(terminated, "message", "");
		if (*reason)
			describer_write(d, 3, "Reason:\t%s\n", reason);
		if (*message)
			describer_write(d, 3, "Message:\t%s\n", message);
		describer_write(d, 3, "Exit Code:\t%lld\n", field_integer(terminated, "exitCode"));
		if (field_integer(terminated, "signal") > 0)
			describer_write(d, 3, "Signal:\t%lld\n",
					field_integer(terminated, "signal"));
		describe_time_line(d, 3, "Started", field_string(terminated, "startedAt", NULL));
		describe_time_line(d, 3, "Finished", field_string(terminated, "finishedAt", NULL));
	} else {
		describer_write(d, 2, "%s:\tWaiting\n", title);
	}
}

static void describe_container_status(struct describer *d, const json_t *status)
{
	describe_state(d, "State", json_object_get(status, "state"));
	if (json_is_object(json_path(status, "lastState.terminated")))
		describe_state(d, "Last State", json_object_get(status, "lastState"));
	describer_write(d, 2, "Ready:\t%s\n",
			json_is_true(json_object_get(status, "ready")) ? "True" : "False");
	describer_write(d, 2, "Restart Count:\t%lld\n", field_integer(status, "restartCount"));
}

static void describe_resource_list(struct describer *d, int level, const char *title,
				   const json_t *list)
{
	size_t count;
	_cleanup_free_ const char **names = sorted_keys(list, &count);
	if (count > 0)
		describer_write(d, level, "%s:\n", title);
	for (size_t i = 0; i < count; i++) {
		_cleanup_buf_ struct buf value = {0};
		append_value(&value, json_object_get(list, names[i]));
		describer_write(d, level + 1, "%s:\t%s\n", names[i], value.data ? value.data : "");
	}
}

static void describe_resources(struct describer *d, int level, const json_t *resources)
{
	describe_resource_list(d, level, "Limits", json_object_get(resources, "limits"));
	describe_resource_list(d, level, "Requests", json_object_get(resources, "requests"));
}

/* Go's %v of a []string: "[a b c]". */
static void word_list(const json_t *words, struct buf *out)
{
	buf_putc(out, '[');
	size_t i;
	const json_t *word;
	json_array_foreach (words, i, word)
		buf_printf(out, "%s%s", i ? " " : "", json_string_value(word) ?: "");
	buf_putc(out, ']');
}

static void probe_text(const json_t *probe, struct buf *out)
{
	_cleanup_buf_ struct buf attrs = {0}, port = {0};
	buf_printf(&attrs, "delay=%llds timeout=%llds period=%llds #success=%lld #failure=%lld",
		   field_integer(probe, "initialDelaySeconds"),
		   field_integer(probe, "timeoutSeconds"), field_integer(probe, "periodSeconds"),
		   field_integer(probe, "successThreshold"),
		   field_integer(probe, "failureThreshold"));
	const json_t *exec = json_object_get(probe, "exec");
	const json_t *http = json_object_get(probe, "httpGet");
	const json_t *tcp = json_object_get(probe, "tcpSocket");
	const json_t *grpc = json_object_get(probe, "grpc");
	if (json_is_object(exec)) {
		buf_puts(out, "exec ");
		word_list(json_object_get(exec, "command"), out);
		buf_printf(out, " %s", attrs.data);
	} else if (json_is_object(http)) {
		append_value(&port, json_object_get(http, "port"));
		const char *scheme = field_string(http, "scheme", "");
		buf_puts(out, "http-get ");
		for (const char *c = scheme; *c; c++)
			buf_putc(out, (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c));
		buf_printf(out, "%s%s", *scheme ? "://" : "//", field_string(http, "host", ""));
		if (port.len)
			buf_printf(out, ":%s", port.data);
		buf_printf(out, "%s %s", field_string(http, "path", ""), attrs.data);
	} else if (json_is_object(tcp)) {
		append_value(&port, json_object_get(tcp, "port"));
		buf_printf(out, "tcp-socket %s:%s %s", field_string(tcp, "host", ""),
			   port.data ? port.data : "", attrs.data);
	} else if (json_is_object(grpc)) {
		buf_printf(out, "grpc <pod>:%lld %s %s", field_integer(grpc, "port"),
			   field_string(grpc, "service", ""), attrs.data);
	} else {
		buf_printf(out, "unknown %s", attrs.data);
	}
}

static void describe_probes(struct describer *d, const json_t *container)
{
	static const char *const probes[][2] = {{"livenessProbe", "Liveness"},
						{"readinessProbe", "Readiness"},
						{"startupProbe", "Startup"}};
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		const json_t *probe = json_object_get(container, probes[i][0]);
		if (!json_is_object(probe))
			continue;
		_cleanup_buf_ struct buf text = {0};
		probe_text(probe, &text);
		describer_write(d, 2, "%s:\t%s\n", probes[i][1], text.data);
	}
}

static void describe_env_from(struct describer *d, const json_t *env_from)
{
	if (json_array_size(env_from) == 0)
		return;
	describer_write(d, 2, "Environment Variables from:\n");
	size_t i;
	const json_t *source;
	json_array_foreach (env_from, i, source) {
		const json_t *config_map = json_object_get(source, "configMapRef");
		const json_t *secret = json_object_get(source, "secretRef");
		const json_t *ref = json_is_object(config_map) ? config_map : secret;
		const char *from = json_is_object(config_map) ? "ConfigMap"
				   : json_is_object(secret)   ? "Secret"
							      : "";
		const char *prefix = field_string(source, "prefix", "");
		bool optional = json_is_true(json_object_get(ref, "optional"));
		if (*prefix)
			describer_write(d, 3, "%s\t%s with prefix '%s'\tOptional: %s\n",
					field_string(ref, "name", ""), from, prefix,
					optional ? "true" : "false");
		else
			describer_write(d, 3, "%s\t%s\tOptional: %s\n",
					field_string(ref, "name", ""), from,
					optional ? "true" : "false");
	}
}

/* What kubectl shows for a fieldRef: the value it resolves to in this pod. */
static const char *field_ref_value(const json_t *pod, const char *path)
{
	static const char *const known[] = {
	    "metadata.name",           "metadata.namespace", "metadata.uid", "spec.nodeName",
	    "spec.serviceAccountName", "status.podIP",       "status.hostIP"};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(path, known[i]) == 0)
			return field_string(pod, path, "");
	return "";
}

static void describe_env_value_from(struct describer *d, const json_t *pod, const json_t *container,
				    const char *name, const json_t *value_from)
{
	const json_t *field = json_object_get(value_from, "fieldRef");
	const json_t *resource = json_object_get(value_from, "resourceFieldRef");
	const json_t *secret = json_object_get(value_from, "secretKeyRef");
	const json_t *config_map = json_object_get(value_from, "configMapKeyRef");
	if (json_is_object(field)) {
		const char *path = field_string(field, "fieldPath", "");
		describer_write(d, 3, "%s:\t%s (%s:%s)\n", name, field_ref_value(pod, path),
				field_string(field, "apiVersion", ""), path);
	} else if (json_is_object(resource)) {
		/* "limits.cpu" is resources.limits.cpu of this container */
		const char *which = field_string(resource, "resource", "");
		size_t section_len = strcspn(which, ".");
		_cleanup_free_ char *section = strndup(which, section_len);
		const json_t *quantity =
		    json_object_get(json_object_get(json_object_get(container, "resources"),
						    section ? section : ""),
				    which[section_len] ? which + section_len + 1 : "");
		_cleanup_buf_ struct buf value = {0};
		append_value(&value, quantity);
		bool limit =
		    strcmp(which, "limits.cpu") == 0 || strcmp(which, "limits.memory") == 0;
		describer_write(d, 3, "%s:\t%s (%s)\n", name,
				value.len ? value.data
				: limit   ? "node allocatable"
					  : "",
				which);
	} else if (json_is_object(secret) || json_is_object(config_map)) {
		const json_t *ref = json_is_object(secret) ? secret : config_map;
		describer_write(d, 3, "%s:\t<set to the key '%s' %s '%s'>\tOptional: %s\n", name,
				field_string(ref, "key", ""),
				json_is_object(secret) ? "in secret" : "of config map",
				field_string(ref, "name", ""),
				json_is_true(json_object_get(ref, "optional")) ? "true" : "false");
	}
}

static void describe_env(struct describer *d, const json_t *pod, const json_t *container)
{
	const json_t *env = json_object_get(container, "env");
	describer_write(d, 2, "Environment:%s\n", json_array_size(env) ? "" : "\t<none>");
	size_t i;
	const json_t *var;
	json_array_foreach (env, i, var) {
		const char *name = field_string(var, "name", "");
		const json_t *value_from = json_object_get(var, "valueFrom");
		if (json_is_object(value_from)) {
			describe_env_value_from(d, pod, container, name, value_from);
			continue;
		}
		const char *value = field_string(var, "value", "");
		for (bool first = true;; first = false) {
			size_t len = strcspn(value, "\n");
			if (first)
				describer_write(d, 3, "%s:\t%.*s\n", name, (int)len, value);
			else
				describer_write(d, 3, "\t%.*s\n", (int)len, value);
			if (!value[len])
				break;
			value += len + 1;
		}
	}
}

static void describe_mounts(struct describer *d, const json_t *container)
{
	const json_t *mounts = json_object_get(container, "volumeMounts");
	size_t count = json_array_size(mounts);
	describer_write(d, 2, "Mounts:%s\n", count ? "" : "\t<none>");
	_cleanup_free_ const json_t **sorted = sorted_by_field(mounts, "mountPath");
	for (size_t i = 0; i < count; i++) {
		const json_t *mount = sorted[i];
		const char *sub_path = field_string(mount, "subPath", "");
		_cleanup_buf_ struct buf flags = {0};
		buf_puts(&flags, json_is_true(json_object_get(mount, "readOnly")) ? "ro" : "rw");
		if (*sub_path)
			buf_printf(&flags, ",path=\"%s\"", sub_path);
		describer_write(d, 3, "%s from %s (%s)\n", field_string(mount, "mountPath", ""),
				field_string(mount, "name", ""), flags.data);
	}
}

static const json_t *status_of(const json_t *statuses, const char *name)
{
	size_t i;
	const json_t *status;
	json_array_foreach (statuses, i, status) {
		if (strcmp(field_string(status, "name", ""), name) == 0)
			return status;
	}
	return NULL;
}

static void describe_containers(struct describer *d, const json_t *pod, const char *label,
				const json_t *containers, const json_t *statuses)
{
	describer_write(d, 0, "%s:%s\n", label, json_array_size(containers) ? "" : " <none>");
	size_t i;
	const json_t *c;
	json_array_foreach (containers, i, c) {
		const json_t *status = status_of(statuses, field_string(c, "name", ""));
		describer_write(d, 1, "%s:\n", field_string(c, "name", ""));
		if (status)
			describer_write(d, 2, "Container ID:\t%s\n",
					field_string(status, "containerID", ""));
		describer_write(d, 2, "Image:\t%s\n", field_string(c, "image", ""));
		if (status)
			describer_write(d, 2, "Image ID:\t%s\n",
					field_string(status, "imageID", ""));
		describe_ports(d, json_object_get(c, "ports"), "containerPort", "Port", "Ports");
		describe_ports(d, json_object_get(c, "ports"), "hostPort", "Host Port",
			       "Host Ports");
		const char *seccomp = field_string(c, "securityContext.seccompProfile.type", NULL);
		if (seccomp)
			describer_write(d, 2, "SeccompProfile:\t%s\n", seccomp);
		describe_lines(d, "Command", json_object_get(c, "command"));
		describe_lines(d, "Args", json_object_get(c, "args"));
		if (status)
			describe_container_status(d, status);
		describe_resources(d, 2, json_object_get(c, "resources"));
		describe_probes(d, c);
		describe_env_from(d, json_object_get(c, "envFrom"));
		describe_env(d, pod, c);
		describe_mounts(d, c);
	}
}

static void describe_volume(struct describer *d, const json_t *volume)
{
	const json_t *source;
	if ((source = json_object_get(volume, "hostPath"))) {
		describer_write(d, 2,
				"Type:\tHostPath (bare host directory volume)\n    Path:\t%s\n    "
				"HostPathType:\t%s\n",
				field_string(source, "path", ""),
				field_string(source, "type", "<none>"));
	} else if ((source = json_object_get(volume, "emptyDir"))) {
		const char *limit = field_string(source, "sizeLimit", "");
		describer_write(d, 2,
				"Type:\tEmptyDir (a temporary directory that shares a pod's "
				"lifetime)\n    Medium:\t%s\n    SizeLimit:\t%s\n",
				field_string(source, "medium", ""),
				*limit && strcmp(limit, "0") != 0 ? limit : "<unset>");
	} else if ((source = json_object_get(volume, "secret"))) {
		describer_write(
		    d, 2,
		    "Type:\tSecret (a volume populated by a Secret)\n    SecretName:\t%s\n"
		    "    Optional:\t%s\n",
		    field_string(source, "secretName", ""),
		    json_is_true(json_object_get(source, "optional")) ? "true" : "false");
	} else if ((source = json_object_get(volume, "configMap"))) {
		describer_write(
		    d, 2,
		    "Type:\tConfigMap (a volume populated by a ConfigMap)\n    Name:\t%s\n"
		    "    Optional:\t%s\n",
		    field_string(source, "name", ""),
		    json_is_true(json_object_get(source, "optional")) ? "true" : "false");
	} else if ((source = json_object_get(volume, "nfs"))) {
		describer_write(
		    d, 2,
		    "Type:\tNFS (an NFS mount that lasts the lifetime of a pod)\n    "
		    "Server:\t%s\n    Path:\t%s\n    ReadOnly:\t%s\n",
		    field_string(source, "server", ""), field_string(source, "path", ""),
		    json_is_true(json_object_get(source, "readOnly")) ? "true" : "false");
	} else if ((source = json_object_get(volume, "persistentVolumeClaim"))) {
		describer_write(
		    d, 2,
		    "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim "
		    "in the same namespace)\n    ClaimName:\t%s\n    ReadOnly:\t%s\n",
		    field_string(source, "claimName", ""),
		    json_is_true(json_object_get(source, "readOnly")) ? "true" : "false");
	} else if ((source = json_object_get(volume, "downwardAPI"))) {
		describer_write(d, 2,
				"Type:\tDownwardAPI (a volume populated by information about "
				"the pod)\n    Items:\n");
		size_t i;
		const json_t *item;
		json_array_foreach (json_object_get(source, "items"), i, item) {
			const char *field = field_string(item, "fieldRef.fieldPath", NULL);
			const char *resource =
			    field_string(item, "resourceFieldRef.resource", NULL);
			if (field)
				describer_write(d, 3, "%s -> %s\n", field,
						field_string(item, "path", ""));
			if (resource)
				describer_write(d, 3, "%s -> %s\n", resource,
						field_string(item, "path", ""));
		}
	} else {
		describer_write(d, 1, "<unknown>\n");
	}
}

static void describe_volumes(struct describer *d, const json_t *volumes)
{
	if (json_array_size(volumes) == 0) {
		describer_write(d, 0, "Volumes:\t<none>\n");
		return;
	}
	describer_write(d, 0, "Volumes:\n");
	size_t i;
	const json_t *volume;
	json_array_foreach (volumes, i, volume) {
		describer_write(d, 1, "%s:\n", field_string(volume, "name", ""));
		describe_volume(d, volume);
	}
}

static void describe_tolerations(struct describer *d, const json_t *tolerations)
{
	describer_write(d, 0, "Tolerations:\t");
	size_t count = json_array_size(tolerations);
	if (count == 0)
		describer_write(d, 0, "<none>\n");
	_cleanup_free_ const json_t **sorted = sorted_by_field(tolerations, "key");
	for (size_t i = 0; i < count; i++) {
		const json_t *t = sorted[i];
		const char *key = field_string(t, "key", "");
		const char *value = field_string(t, "value", "");
		const char *effect = field_string(t, "effect", "");
		_cleanup_buf_ struct buf line = {0};
		buf_printf(&line, "%s%s", i ? "\t" : "", key);
		if (*value)
			buf_printf(&line, "=%s", value);
		if (*effect)
			buf_printf(&line, ":%s", effect);
		if (strcmp(field_string(t, "operator", ""), "Exists") == 0 && !*value)
			buf_puts(&line, *key || *effect ? " op=Exists" : "op=Exists");
		if (json_is_integer(json_object_get(t, "tolerationSeconds")))
			buf_printf(&line, " for %llds", field_integer(t, "tolerationSeconds"));
		describer_write(d, 0, "%s\n", line.data);
	}
}

static bool same_quantity(const json_t *a, const json_t *b)
{
	struct quantity qa, qb;
	return a && b && quantity_from_json(a, &qa, NULL) == 0 &&
	       quantity_from_json(b, &qb, NULL) == 0 && qa.milli == qb.milli;
}

/* The server's qosClass, or the class kubectl works out from the containers: none asks for
 * anything, or all have cpu and memory limits equal to their requests, or neither. */
static const char *qos_class(const json_t *pod)
{
	const char *stored = field_string(pod, "status.qosClass", NULL);
	if (stored)
		return stored;
	static const char *const needed[] = {"cpu", "memory"};
	bool any = false, guaranteed = true;
	size_t i;
	const json_t *c;
	json_array_foreach (json_path(pod, "spec.containers"), i, c) {
		const json_t *limits = json_path(c, "resources.limits");
		const json_t *requests = json_path(c, "resources.requests");
		any |= json_object_size(limits) > 0 || json_object_size(requests) > 0;
		for (size_t r = 0; r < 2; r++)
			guaranteed &= same_quantity(json_object_get(limits, needed[r]),
						    json_object_get(requests, needed[r]));
	}
	return !any ? "BestEffort" : guaranteed ? "Guaranteed" : "Burstable";
}

static const char *controller_of(const json_t *object, struct buf *out)
{
	size_t i;
	const json_t *owner;
	json_array_foreach (json_path(object, "metadata.ownerReferences"), i, owner) {
		if (json_is_true(json_object_get(owner, "controller"))) {
			buf_printf(out, "%s/%s", field_string(owner, "kind", ""),
				   field_string(owner, "name", ""));
			return out->data;
		}
	}
	return NULL;
}

static void describe_conditions(struct describer *d, const json_t *pod)
{
	const json_t *gates = json_path(pod, "spec.readinessGates");
	const json_t *conditions = json_path(pod, "status.conditions");
	size_t i, j;
	const json_t *item, *condition;
	if (json_array_size(gates) > 0) {
		describer_write(d, 0, "Readiness Gates:\n  Type\tStatus\n");
		json_array_foreach (gates, i, item) {
			const char *type = field_string(item, "conditionType", "");
			const char *status = "<none>";
			json_array_foreach (conditions, j, condition) {
				if (strcmp(field_string(condition, "type", ""), type) == 0) {
					status = field_string(condition, "status", "");
					break;
				}
			}
			describer_write(d, 1, "%s \t%s \n", type, status);
		}
	}
	if (json_array_size(conditions) == 0)
		return;
	describer_write(d, 0, "Conditions:\n  Type\tStatus\n");
	json_array_foreach (conditions, i, condition)
		describer_write(d, 1, "%s \t%s \n", field_string(condition, "type", ""),
				field_string(condition, "status", ""));
}

static void describe_pod_header(struct describer *d, const json_t *pod)
{
	const json_t *spec = json_object_get(pod, "spec");
	describer_write(d, 0, "Name:\t%s\n", field_string(pod, "metadata.name", ""));
	describer_write(d, 0, "Namespace:\t%s\n", field_string(pod, "metadata.namespace", ""));
	if (json_is_integer(json_object_get(spec, "priority")))
		describer_write(d, 0, "Priority:\t%lld\n", field_integer(spec, "priority"));
	if (*field_string(spec, "priorityClassName", ""))
		describer_write(d, 0, "Priority Class Name:\t%s\n",
				field_string(spec, "priorityClassName", ""));
	if (*field_string(spec, "runtimeClassName", ""))
		describer_write(d, 0, "Runtime Class Name:\t%s\n",
				field_string(spec, "runtimeClassName", ""));
	if (*field_string(spec, "serviceAccountName", ""))
		describer_write(d, 0, "Service Account:\t%s\n",
				field_string(spec, "serviceAccountName", ""));
	const char *node = field_string(spec, "nodeName", "");
	if (*node)
		describer_write(d, 0, "Node:\t%s/%s\n", node,
				field_string(pod, "status.hostIP", ""));
	else
		describer_write(d, 0, "Node:\t<none>\n");
	const char *start = field_string(pod, "status.startTime", NULL);
	if (start)
		describe_time_line(d, 0, "Start Time", start);
	describe_labels(d, "Labels", json_path(pod, "metadata.labels"));
	describe_annotations(d, json_path(pod, "metadata.annotations"));
}

static void describe_pod_status(struct describer *d, const json_t *pod)
{
	const char *phase = field_string(pod, "status.phase", "");
	const char *deleted = field_string(pod, "metadata.deletionTimestamp", NULL);
	if (deleted && strcmp(phase, "Failed") != 0 && strcmp(phase, "Succeeded") != 0) {
		_cleanup_buf_ struct buf lasts = {0};
		time_format_age(deleted, d->now, &lasts);
		describer_write(d, 0, "Status:\tTerminating (lasts %s)\n", lasts.data);
		describer_write(d, 0, "Termination Grace Period:\t%llds\n",
				field_integer(pod, "metadata.deletionGracePeriodSeconds"));
	} else {
		describer_write(d, 0, "Status:\t%s\n", phase);
	}
	if (*field_string(pod, "status.reason", ""))
		describer_write(d, 0, "Reason:\t%s\n", field_string(pod, "status.reason", ""));
	if (*field_string(pod, "status.message", ""))
		describer_write(d, 0, "Message:\t%s\n", field_string(pod, "status.message", ""));
	const char *seccomp = field_string(pod, "spec.securityContext.seccompProfile.type", NULL);
	if (seccomp)
		describer_write(d, 0, "SeccompProfile:\t%s\n", seccomp);
	describer_write(d, 0, "IP:\t%s\n", field_string(pod, "status.podIP", ""));
	const json_t *ips = json_path(pod, "status.podIPs");
	if (json_array_size(ips) == 0) {
		describer_write(d, 0, "IPs:\t<none>\n");
	} else {
		describer_write(d, 0, "IPs:\n");
		size_t i;
		const json_t *ip;
		json_array_foreach (ips, i, ip)
			describer_write(d, 1, "IP:\t%s\n", field_string(ip, "ip", ""));
	}
	_cleanup_buf_ struct buf controller = {0};
	if (controller_of(pod, &controller))
		describer_write(d, 0, "Controlled By:\t%s\n", controller.data);
	if (*field_string(pod, "status.nominatedNodeName", ""))
		describer_write(d, 0, "NominatedNodeName:\t%s\n",
				field_string(pod, "status.nominatedNodeName", ""));
	const json_t *pod_resources = json_path(pod, "spec.resources");
	if (json_is_object(pod_resources)) {
		describer_write(d, 0, "Resources:\n");
		describe_resources(d, 1, pod_resources);
	}
}

void describe_pod(const json_t *pod, const json_t *events, time_t now, struct buf *out)
{
	struct describer d;
	describer_init(&d, now);
	describe_pod_header(&d, pod);
	describe_pod_status(&d, pod);
	const json_t *init = json_path(pod, "spec.initContainers");
	if (json_array_size(init) > 0)
		describe_containers(&d, pod, "Init Containers", init,
				    json_path(pod, "status.initContainerStatuses"));
	describe_containers(&d, pod, "Containers", json_path(pod, "spec.containers"),
			    json_path(pod, "status.containerStatuses"));
	describe_conditions(&d, pod);
	describe_volumes(&d, json_path(pod, "spec.volumes"));
	describer_write(&d, 0, "QoS Class:\t%s\n", qos_class(pod));
	describe_labels(&d, "Node-Selectors", json_path(pod, "spec.nodeSelector"));
	describe_tolerations(&d, json_path(pod, "spec.tolerations"));
	describe_events(&d, events);
	describer_finish(&d, out);
}
