/* Pods: defaults as the API server and its admission plugins set them, validation of what users
 * get wrong most, the update rules (a pod's spec is immutable but for images and a few fields),
 * graceful deletion, and the columns of `kubectl get pods`. */
#include <stdio.h>
#include <string.h>

#include "apiserver/filter.h"
#include "apiserver/kind_pod_volumes.h"
#include "apiserver/kinds.h"
#include "apiserver/status.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/quantity.h"
#include "lib/validation.h"

#define DEFAULT_GRACE_SECONDS 30
/* The DefaultTolerationSeconds admission plugin lets pods ride out a short node outage. */
#define DEFAULT_TOLERATION_SECONDS 300

/* In the order Kubernetes validates them, which decides where a name shared by two lists is
 * reported and the order of the messages. */
static const char *const container_lists[] = {"containers", "initContainers",
					      "ephemeralContainers"};

/* --- defaults ------------------------------------------------------------------------------ */

/* "Always" for images without a tag or tagged latest, else "IfNotPresent" (digests too). */
static const char *default_pull_policy(const char *image)
{
	if (!image)
		return "IfNotPresent";
	if (strchr(image, '@'))
		return "IfNotPresent";
	const char *slash = strrchr(image, '/');
	const char *last = slash ? slash + 1 : image;
	const char *colon = strchr(last, ':');
	if (!colon || strcmp(colon + 1, "latest") == 0)
		return "Always";
	return "IfNotPresent";
}

static void default_probe(json_t *probe)
{
	if (!json_is_object(probe))
		return;
	kind_default_integer(probe, "timeoutSeconds", 1);
	kind_default_integer(probe, "periodSeconds", 10);
	kind_default_integer(probe, "successThreshold", 1);
	kind_default_integer(probe, "failureThreshold", 3);
	json_t *http = json_object_get(probe, "httpGet");
	if (json_is_object(http)) {
		kind_default_string(http, "path", "/");
		kind_default_string(http, "scheme", "HTTP");
	}
}

static void default_container(json_t *container)
{
	if (!json_is_object(container))
		return;
	kind_default_string(
	    container, "imagePullPolicy",
	    default_pull_policy(json_string_value(json_object_get(container, "image"))));
	kind_default_string(container, "terminationMessagePath", "/dev/termination-log");
	kind_default_string(container, "terminationMessagePolicy", "File");
	json_t *resources = json_object_ensure(container, "resources");
	/* Limits without requests mean requests equal to the limits. */
	json_t *limits = json_object_get(resources, "limits");
	if (json_is_object(limits) && json_object_size(limits)) {
		json_t *requests = json_object_ensure(resources, "requests");
		const char *name;
		json_t *value;
		json_object_foreach (limits, name, value) {
			if (!json_object_get(requests, name))
				json_object_set(requests, name, value);
		}
	}
	size_t i;
	json_t *port;
	json_array_foreach (json_object_get(container, "ports"), i, port)
		if (json_is_object(port))
			kind_default_string(port, "protocol", "TCP");
	json_t *env;
	json_array_foreach (json_object_get(container, "env"), i, env) {
		json_t *field_ref = json_path(env, "valueFrom.fieldRef");
		if (json_is_object(field_ref))
			kind_default_string(field_ref, "apiVersion", "v1");
	}
	default_probe(json_object_get(container, "livenessProbe"));
	default_probe(json_object_get(container, "readinessProbe"));
	default_probe(json_object_get(container, "startupProbe"));
}

static void add_default_toleration(json_t *spec, const char *key)
{
	json_t *tolerations = json_object_get(spec, "tolerations");
	if (!json_is_array(tolerations)) {
		tolerations = json_array();
		json_object_set_new(spec, "tolerations", tolerations);
	}
	size_t i;
	json_t *toleration;
	json_array_foreach (tolerations, i, toleration) {
		const char *effect = json_string_value(json_object_get(toleration, "effect"));
		const char *existing = json_string_value(json_object_get(toleration, "key"));
		if ((!existing || strcmp(existing, key) == 0) &&
		    (!effect || !strcmp(effect, "NoExecute")))
			return;
	}
	json_array_append_new(tolerations,
			      json_pack("{s:s, s:s, s:s, s:i}", "key", key, "operator", "Exists",
					"effect", "NoExecute", "tolerationSeconds",
					DEFAULT_TOLERATION_SECONDS));
}

/* Requests and limits decide the QoS class: all equal for cpu and memory in every container is
 * Guaranteed, none at all is BestEffort, anything else Burstable. */
static const char *qos_class(const json_t *spec)
{
	bool any = false, guaranteed = true;
	for (size_t l = 0; l < 2; l++) {
		size_t i;
		json_t *container;
		json_array_foreach (json_object_get(spec, container_lists[l]), i, container) {
			json_t *requests = json_path(container, "resources.requests");
			json_t *limits = json_path(container, "resources.limits");
			if (json_object_size(requests) || json_object_size(limits))
				any = true;
			static const char *const compute[] = {"cpu", "memory"};
			for (size_t r = 0; r < 2; r++) {
				struct quantity limit, request;
				if (quantity_from_json(json_object_get(limits, compute[r]), &limit,
						       NULL) < 0 ||
				    quantity_from_json(json_object_get(requests, compute[r]),
						       &request, NULL) < 0 ||
				    limit.milli != request.milli)
					guaranteed = false;
			}
		}
	}
	if (!any)
		return "BestEffort";
	return guaranteed ? "Guaranteed" : "Burstable";
}

static void pod_set_defaults(json_t *pod)
{
	json_t *spec = json_object_ensure(pod, "spec");
	kind_default_string(spec, "restartPolicy", "Always");
	kind_default_integer(spec, "terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS);
	kind_default_string(spec, "dnsPolicy", "ClusterFirst");
	kind_default_string(spec, "schedulerName", "default-scheduler");
	if (!json_object_get(spec, "securityContext"))
		json_object_set_new(spec, "securityContext", json_object());
	if (!json_object_get(spec, "enableServiceLinks"))
		json_object_set_new(spec, "enableServiceLinks", json_true());
	kind_default_integer(spec, "priority", 0);
	for (size_t l = 0; l < 3; l++) {
		size_t i;
		json_t *container;
		json_array_foreach (json_object_get(spec, container_lists[l]), i, container)
			default_container(container);
	}
	size_t i;
	json_t *volume;
	json_array_foreach (json_object_get(spec, "volumes"), i, volume)
		pod_volume_set_defaults(volume);
	add_default_toleration(spec, "node.kubernetes.io/not-ready");
	add_default_toleration(spec, "node.kubernetes.io/unreachable");
	json_t *status = json_object_ensure(pod, "status");
	kind_default_string(status, "phase", "Pending");
	json_object_set_new(status, "qosClass", json_string(qos_class(spec)));
}

static void pod_prepare_create(json_t *pod)
{
	/* A new pod starts with a clean status; only the scheduler and the kubelet write it. */
	json_object_set_new(pod, "status", json_object());
}

/* --- validation ---------------------------------------------------------------------------- */

static void validate_ports(const json_t *ports, const char *base, struct field_errors *errors)
{
	_cleanup_json_ json_t *seen_names = json_object();
	_cleanup_json_ json_t *seen_ports = json_object();
	size_t i;
	json_t *port;
	json_array_foreach (ports, i, port) {
		char field[256];
		json_t *number = json_object_get(port, "containerPort");
		snprintf(field, sizeof(field), "%s[%zu].containerPort", base, i);
		struct validation_messages why = {0};
		if (!number)
			field_error_required(errors, field, NULL);
		else if (!validate_port_number(json_integer_value(number), &why))
			field_error_invalid(errors, field, number, why.text[0]);
		json_t *host_port = json_object_get(port, "hostPort");
		why.count = 0;
		if (host_port && json_integer_value(host_port) != 0 &&
		    !validate_port_number(json_integer_value(host_port), &why)) {
			snprintf(field, sizeof(field), "%s[%zu].hostPort", base, i);
			field_error_invalid(errors, field, host_port, why.text[0]);
		}
		const char *protocol = json_string_value(json_object_get(port, "protocol"));
		static const char *const protocols[] = {"SCTP", "TCP", "UDP", NULL};
		if (protocol && strcmp(protocol, "TCP") && strcmp(protocol, "UDP") &&
		    strcmp(protocol, "SCTP")) {
			snprintf(field, sizeof(field), "%s[%zu].protocol", base, i);
			field_error_not_supported(errors, field, json_object_get(port, "protocol"),
						  protocols);
		}
		const char *name = json_string_value(json_object_get(port, "name"));
		if (name) {
			snprintf(field, sizeof(field), "%s[%zu].name", base, i);
			why.count = 0;
			if (!validate_port_name(name, &why))
				field_error_invalid_messages(errors, field, name, &why);
			else if (json_object_get(seen_names, name))
				field_error_duplicate(errors, field, json_object_get(port, "name"));
			json_object_set_new(seen_names, name, json_true());
		}
		if (number) {
			char key[64];
			snprintf(key, sizeof(key), "%lld/%s", (long long)json_integer_value(number),
				 protocol ? protocol : "TCP");
			if (json_object_get(seen_ports, key)) {
				snprintf(field, sizeof(field), "%s[%zu]", base, i);
				field_error_duplicate(errors, field, port);
			}
			json_object_set_new(seen_ports, key, json_true());
		}
	}
}

static void validate_resources(const json_t *resources, const char *base,
			       struct field_errors *errors)
{
	static const char *const kinds[] = {"limits", "requests"};
	for (size_t k = 0; k < 2; k++) {
		const char *name;
		json_t *value;
		json_object_foreach (json_object_get(resources, kinds[k]), name, value) {
			char field[256];
			snprintf(field, sizeof(field), "%s.%s[%s]", base, kinds[k], name);
			struct quantity q;
			struct ck_error err = {0};
			if (quantity_from_json(value, &q, &err) < 0)
				field_error_invalid(errors, field, value, err.message);
			else if (q.milli < 0)
				field_error_invalid(errors, field, value,
						    "must be greater than or equal to 0");
		}
	}
	const char *name;
	json_t *request;
	json_object_foreach (json_object_get(resources, "requests"), name, request) {
		json_t *limit = json_object_get(json_object_get(resources, "limits"), name);
		struct quantity l, r;
		if (!limit || quantity_from_json(limit, &l, NULL) < 0 ||
		    quantity_from_json(request, &r, NULL) < 0 || r.milli <= l.milli)
			continue;
		char field[256], why[256];
		snprintf(field, sizeof(field), "%s.requests", base);
		snprintf(why, sizeof(why), "must be less than or equal to %s limit of %s", name,
			 json_is_string(limit) ? json_string_value(limit) : "the limit");
		field_error_invalid(errors, field, request, why);
	}
}

static void validate_env(const json_t *env, const char *base, struct field_errors *errors)
{
	size_t i;
	json_t *var;
	json_array_foreach (env, i, var) {
		char field[256];
		snprintf(field, sizeof(field), "%s[%zu].name", base, i);
		const char *name = json_string_value(json_object_get(var, "name"));
		struct validation_messages why = {0};
		if (!name || !*name)
			field_error_required(errors, field, NULL);
		else if (!validate_env_var_name(name, &why))
			field_error_invalid_messages(errors, field, name, &why);
	}
}

static void validate_container(const json_t *container, const char *base, const json_t *mountable,
			       json_t *names, bool image_required, struct field_errors *errors)
{
	char field[256];
	const char *name = json_string_value(json_object_get(container, "name"));
	snprintf(field, sizeof(field), "%s.name", base);
	struct validation_messages why = {0};
	if (!name || !*name) {
		field_error_required(errors, field, NULL);
	} else if (!validate_dns1123_label(name, &why)) {
		field_error_invalid_messages(errors, field, name, &why);
	} else if (json_object_get(names, name)) {
		field_error_duplicate(errors, field, json_object_get(container, "name"));
	}
	if (name)
		json_object_set_new(names, name, json_true());

	const char *image = json_string_value(json_object_get(container, "image"));
	snprintf(field, sizeof(field), "%s.image", base);
	if (image_required && (!image || !*image))
		field_error_required(errors, field, NULL);
	else if (image && strcspn(image, " \t\n") != strlen(image))
		field_error_invalid_string(errors, field, image,
					   "must not have leading or trailing whitespace");

	snprintf(field, sizeof(field), "%s.ports", base);
	validate_ports(json_object_get(container, "ports"), field, errors);
	snprintf(field, sizeof(field), "%s.env", base);
	validate_env(json_object_get(container, "env"), field, errors);
	pod_volume_mounts_validate(container, base, mountable, errors);
	const char *policy = json_string_value(json_object_get(container, "imagePullPolicy"));
	static const char *const policies[] = {"Always", "IfNotPresent", "Never", NULL};
	if (policy && strcmp(policy, "Always") && strcmp(policy, "IfNotPresent") &&
	    strcmp(policy, "Never")) {
		snprintf(field, sizeof(field), "%s.imagePullPolicy", base);
		field_error_not_supported(errors, field,
					  json_object_get(container, "imagePullPolicy"), policies);
	}
	snprintf(field, sizeof(field), "%s.resources", base);
	validate_resources(json_object_get(container, "resources"), field, errors);
}

static void validate_enum(const json_t *spec, const char *key, const char *const *allowed,
			  struct field_errors *errors)
{
	json_t *value = json_object_get(spec, key);
	const char *text = json_string_value(value);
	if (!text)
		return;
	for (size_t i = 0; allowed[i]; i++)
		if (strcmp(text, allowed[i]) == 0)
			return;
	char field[64];
	snprintf(field, sizeof(field), "spec.%s", key);
	field_error_not_supported(errors, field, value, allowed);
}

static void pod_validate(const json_t *pod, struct field_errors *errors)
{
	const json_t *spec = json_object_get(pod, "spec");
	_cleanup_json_ json_t *mountable =
	    pod_volumes_validate(json_object_get(spec, "volumes"), errors);
	if (json_array_size(json_object_get(spec, "containers")) == 0)
		field_error_required(errors, "spec.containers", NULL);
	_cleanup_json_ json_t *names = json_object();
	for (size_t l = 0; l < 3; l++) {
		size_t i;
		json_t *container;
		json_array_foreach (json_object_get(spec, container_lists[l]), i, container) {
			char base[64];
			snprintf(base, sizeof(base), "spec.%s[%zu]", container_lists[l], i);
			validate_container(container, base, mountable, names, true, errors);
		}
	}
	static const char *const restart[] = {"Always", "Never", "OnFailure", NULL};
	static const char *const dns[] = {"ClusterFirst", "ClusterFirstWithHostNet", "Default",
					  "None", NULL};
	validate_enum(spec, "restartPolicy", restart, errors);
	validate_enum(spec, "dnsPolicy", dns, errors);
	json_t *grace = json_object_get(spec, "terminationGracePeriodSeconds");
	if (json_is_integer(grace) && json_integer_value(grace) < 0)
		field_error_invalid(errors, "spec.terminationGracePeriodSeconds", grace,
				    "must be greater than or equal to 0");
	json_t *deadline = json_object_get(spec, "activeDeadlineSeconds");
	if (json_is_integer(deadline) && json_integer_value(deadline) <= 0)
		field_error_invalid(errors, "spec.activeDeadlineSeconds", deadline,
				    "must be greater than or equal to 1");
	const char *key;
	json_t *value;
	json_object_foreach (json_object_get(spec, "nodeSelector"), key, value) {
		struct validation_messages why = {0};
		if (!validate_qualified_name(key, &why))
			field_error_invalid_messages(errors, "spec.nodeSelector", key, &why);
		why.count = 0;
		if (json_is_string(value) && !validate_label_value(json_string_value(value), &why))
			field_error_invalid_messages(errors, "spec.nodeSelector",
						     json_string_value(value), &why);
	}
}

/* A pod's spec may change only in images, activeDeadlineSeconds, tolerations (additions) and
 * terminationGracePeriodSeconds; anything else is refused like Kubernetes does. */
static void pod_validate_update(const json_t *pod, const json_t *old, struct field_errors *errors)
{
	const json_t *spec = json_object_get(pod, "spec");
	_cleanup_json_ json_t *allowed = json_deep_copy(json_object_get(old, "spec"));
	if (!allowed)
		return;
	for (size_t l = 0; l < 3; l++) {
		json_t *old_list = json_object_get(allowed, container_lists[l]);
		json_t *new_list = json_object_get(spec, container_lists[l]);
		size_t i;
		json_t *container;
		json_array_foreach (old_list, i, container) {
			json_t *image = json_object_get(json_array_get(new_list, i), "image");
			if (image)
				json_object_set(container, "image", image);
		}
	}
	static const char *const mutable[] = {"activeDeadlineSeconds", "tolerations",
					      "terminationGracePeriodSeconds"};
	for (size_t i = 0; i < sizeof(mutable) / sizeof(mutable[0]); i++) {
		json_t *value = json_object_get(spec, mutable[i]);
		if (value)
			json_object_set(allowed, mutable[i], value);
		else
			json_object_del(allowed, mutable[i]);
	}
	if (!json_equal(allowed, spec))
		field_error_forbidden(
		    errors, "spec",
		    "pod updates may not change fields other than "
		    "`spec.containers[*].image`,`spec.initContainers[*].image`,"
		    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions "
		    "to existing tolerations),`spec.terminationGracePeriodSeconds` "
		    "(allow it to be set to 1 if it was previously negative)");
}

/* --- deletion ------------------------------------------------------------------------------ */

static long long pod_deletion_grace(const json_t *pod, long long requested)
{
	const char *node = json_path_string(pod, "spec.nodeName");
	const char *phase = json_path_string(pod, "status.phase");
	/* Nothing runs a pod that is unbound or finished, so nothing needs time to stop it. */
	if (!node || !*node)
		return 0;
	if (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")))
		return 0;
	if (requested >= 0)
		return requested;
	json_t *grace = json_path(pod, "spec.terminationGracePeriodSeconds");
	return json_is_integer(grace) ? json_integer_value(grace) : DEFAULT_GRACE_SECONDS;
}

/* --- table and fields ---------------------------------------------------------------------- */

static const struct table_column pod_columns[] = {
    {"Name", "string", "name", "Name must be unique within a namespace.", 0},
    {"Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic.", 0},
    {"Status", "string", "", "The aggregate status of the containers in this pod.", 0},
    {"Restarts", "string", "",
     "The number of times the containers in this pod have been restarted and when the last "
     "container in this pod has restarted.",
     0},
    {"Age", "string", "", "CreationTimestamp", 0},
    {"IP", "string", "", "IP", 1},
    {"Node", "string", "", "Node", 1},
    {"Nominated Node", "string", "", "Nominated Node", 1},
    {"Readiness Gates", "string", "", "Readiness Gates", 1},
};

static bool is_restartable_init(const json_t *spec, const char *name)
{
	json_t *container = kind_find_by(json_object_get(spec, "initContainers"), "name", name);
	const char *policy = json_string_value(json_object_get(container, "restartPolicy"));
	return policy && strcmp(policy, "Always") == 0;
}

static void later_of(const json_t *terminated, char *latest, size_t len)
{
	const char *finished = json_string_value(json_object_get(terminated, "finishedAt"));
	/* RFC 3339 UTC timestamps compare correctly as strings. */
	if (finished && strcmp(finished, latest) > 0)
		snprintf(latest, len, "%s", finished);
}

/* The STATUS column: the phase, refined by container states as kubectl has always shown it. */
static void pod_status_cells(const json_t *pod, time_t now, json_t *cells)
{
	const json_t *spec = json_object_get(pod, "spec");
	const json_t *status = json_object_get(pod, "status");
	const char *phase = json_string_value(json_object_get(status, "phase"));
	char reason[128];
	snprintf(reason, sizeof(reason), "%s", phase ? phase : "");
	const char *status_reason = json_string_value(json_object_get(status, "reason"));
	if (status_reason && *status_reason)
		snprintf(reason, sizeof(reason), "%s", status_reason);
	json_t *scheduled =
	    kind_find_by(json_object_get(status, "conditions"), "type", "PodScheduled");
	const char *scheduled_reason = json_string_value(json_object_get(scheduled, "reason"));
	if (scheduled_reason && strcmp(scheduled_reason, "SchedulingGated") == 0)
		snprintf(reason, sizeof(reason), "SchedulingGated");

	long long restarts = 0, sidecar_restarts = 0;
	int total = (int)json_array_size(json_object_get(spec, "containers")), ready = 0;
	char last_restart[40] = "";
	size_t i;
	json_t *init;
	json_array_foreach (json_object_get(spec, "initContainers"), i, init) {
		const char *policy = json_string_value(json_object_get(init, "restartPolicy"));
		if (policy && !strcmp(policy, "Always"))
			total++;
	}
	bool initializing = false;
	size_t init_count = json_array_size(json_object_get(spec, "initContainers"));
	json_array_foreach (json_object_get(status, "initContainerStatuses"), i, init) {
		const char *name = json_string_value(json_object_get(init, "name"));
		long long count = json_integer_value(json_object_get(init, "restartCount"));
		restarts += count;
		later_of(json_path(init, "lastState.terminated"), last_restart,
			 sizeof(last_restart));
		bool sidecar = name && is_restartable_init(spec, name);
		if (sidecar)
			sidecar_restarts += count;
		json_t *terminated = json_path(init, "state.terminated");
		json_t *waiting_reason = json_path(init, "state.waiting.reason");
		if (terminated && json_integer_value(json_object_get(terminated, "exitCode")) == 0)
			continue;
		if (sidecar && json_is_true(json_object_get(init, "started"))) {
			if (json_is_true(json_object_get(init, "ready")))
				ready++;
			continue;
		}
		initializing = true;
		if (terminated) {
			const char *why = json_string_value(json_object_get(terminated, "reason"));
			long long signal =
			    json_integer_value(json_object_get(terminated, "signal"));
			if (why && *why)
				snprintf(reason, sizeof(reason), "Init:%s", why);
			else if (signal)
				snprintf(reason, sizeof(reason), "Init:Signal:%lld", signal);
			else
				snprintf(reason, sizeof(reason), "Init:ExitCode:%lld",
					 (long long)json_integer_value(
					     json_object_get(terminated, "exitCode")));
		} else if (json_string_value(waiting_reason) &&
			   *json_string_value(waiting_reason) &&
			   strcmp(json_string_value(waiting_reason), "PodInitializing") != 0) {
			snprintf(reason, sizeof(reason), "Init:%s",
				 json_string_value(waiting_reason));
		} else {
			snprintf(reason, sizeof(reason), "Init:%zu/%zu", i, init_count);
		}
		break;
	}
	const char *initialized = kind_condition_status(pod, "Initialized");
	if (!initializing || (initialized && !strcmp(initialized, "True"))) {
		restarts = sidecar_restarts;
		bool running = false;
		const json_t *statuses = json_object_get(status, "containerStatuses");
		for (size_t n = json_array_size(statuses); n-- > 0;) {
			const json_t *cs = json_array_get(statuses, n);
			restarts += json_integer_value(json_object_get(cs, "restartCount"));
			later_of(json_path(cs, "lastState.terminated"), last_restart,
				 sizeof(last_restart));
			const char *waiting = json_path_string(cs, "state.waiting.reason");
			json_t *terminated = json_path(cs, "state.terminated");
			const char *why = json_string_value(json_object_get(terminated, "reason"));
			if (waiting && *waiting) {
				snprintf(reason, sizeof(reason), "%s", waiting);
			} else if (terminated && why && *why) {
				snprintf(reason, sizeof(reason), "%s", why);
			} else if (terminated) {
				long long signal =
				    json_integer_value(json_object_get(terminated, "signal"));
				if (signal)
					snprintf(reason, sizeof(reason), "Signal:%lld", signal);
				else
					snprintf(reason, sizeof(reason), "ExitCode:%lld",
						 (long long)json_integer_value(
						     json_object_get(terminated, "exitCode")));
			} else if (json_is_true(json_object_get(cs, "ready")) &&
				   json_path(cs, "state.running")) {
				running = true;
				ready++;
			}
		}
		if (!strcmp(reason, "Completed") && running) {
			const char *pod_ready = kind_condition_status(pod, "Ready");
			snprintf(reason, sizeof(reason), "%s",
				 pod_ready && !strcmp(pod_ready, "True") ? "Running" : "NotReady");
		}
	}
	if (json_path(pod, "metadata.deletionTimestamp")) {
		if (status_reason && !strcmp(status_reason, "NodeLost"))
			snprintf(reason, sizeof(reason), "Unknown");
		else if (!phase || (strcmp(phase, "Succeeded") && strcmp(phase, "Failed")))
			snprintf(reason, sizeof(reason), "Terminating");
	}

	char ready_text[32];
	snprintf(ready_text, sizeof(ready_text), "%d/%d", ready, total);
	json_array_append_new(cells, json_string(ready_text));
	json_array_append_new(cells, json_string(reason));
	char restarts_text[64];
	if (restarts && *last_restart) {
		_cleanup_json_ json_t *holder = json_pack("{s:s}", "t", last_restart);
		char ago[32];
		kind_age(holder, "t", now, ago, sizeof(ago));
		snprintf(restarts_text, sizeof(restarts_text), "%lld (%s ago)", restarts, ago);
	} else {
		snprintf(restarts_text, sizeof(restarts_text), "%lld", restarts);
	}
	json_array_append_new(cells, json_string(restarts_text));
}

static void pod_table_cells(const json_t *pod, time_t now, json_t *cells)
{
	kind_cell_string(cells, json_path_string(pod, "metadata.name"), "");
	pod_status_cells(pod, now, cells);
	char age[32];
	kind_age(pod, "metadata.creationTimestamp", now, age, sizeof(age));
	kind_cell_string(cells, age, "");
	const char *ip = json_string_value(
	    json_object_get(json_array_get(json_path(pod, "status.podIPs"), 0), "ip"));
	kind_cell_string(cells, ip ? ip : json_path_string(pod, "status.podIP"), "<none>");
	kind_cell_string(cells, json_path_string(pod, "spec.nodeName"), "<none>");
	kind_cell_string(cells, json_path_string(pod, "status.nominatedNodeName"), "<none>");
	const json_t *gates = json_path(pod, "spec.readinessGates");
	if (json_array_size(gates) == 0) {
		kind_cell_string(cells, NULL, "<none>");
		return;
	}
	size_t i, met = 0;
	json_t *gate;
	json_array_foreach (gates, i, gate) {
		const char *type = json_string_value(json_object_get(gate, "conditionType"));
		const char *value = type ? kind_condition_status(pod, type) : NULL;
		if (value && !strcmp(value, "True"))
			met++;
	}
	char text[32];
	snprintf(text, sizeof(text), "%zu/%zu", met, json_array_size(gates));
	kind_cell_string(cells, text, "");
}

static const char *const pod_field_names[] = {"spec.nodeName",
					      "spec.restartPolicy",
					      "spec.schedulerName",
					      "spec.serviceAccountName",
					      "spec.hostNetwork",
					      "status.phase",
					      "status.podIP",
					      "status.podIPs",
					      "status.nominatedNodeName",
					      NULL};

static void pod_selectable_fields(const json_t *pod, struct buf *fields)
{
	for (size_t i = 0; pod_field_names[i]; i++) {
		const char *value = NULL;
		if (strcmp(pod_field_names[i], "spec.hostNetwork") == 0)
			value = json_is_true(json_path(pod, "spec.hostNetwork")) ? "true" : "false";
		else if (strcmp(pod_field_names[i], "status.podIPs") == 0)
			value = json_path_string(pod, "status.podIP");
		else
			value = json_path_string(pod, pod_field_names[i]);
		field_set_add(fields, pod_field_names[i], value ? value : "");
	}
}

const struct kind_strategy pod_strategy = {
    .set_defaults = pod_set_defaults,
    .prepare_create = pod_prepare_create,
    .prepare_update = kind_keep_status,
    .prepare_status_update = kind_keep_spec,
    .validate = pod_validate,
    .validate_update = pod_validate_update,
    .selectable_fields = pod_selectable_fields,
    .field_names = pod_field_names,
    .columns = pod_columns,
    .column_count = sizeof(pod_columns) / sizeof(pod_columns[0]),
    .table_cells = pod_table_cells,
    .deletion_grace = pod_deletion_grace,
};
