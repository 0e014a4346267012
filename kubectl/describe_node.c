/* kubectl describe node. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kubectl/describe.h"
#include "kubectl/describer.h"
#include "kubectl/timefmt.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/quantity.h"

#define ROLE_LABEL_PREFIX "node-role.kubernetes.io/"
#define ROLE_LABEL "kubernetes.io/role"

/* What a pod asks for and is limited to, in millicores and bytes, as kubectl adds it up: the
 * sum over its containers, or an init container's when that is larger. */
struct usage {
	int64_t cpu_milli;
	int64_t memory;
	int64_t ephemeral;
};

struct pod_usage {
	struct usage requests;
	struct usage limits;
};

static void read_usage(const json_t *list, struct usage *out)
{
	struct quantity q;
	*out = (struct usage){0};
	if (quantity_from_json(json_object_get(list, "cpu"), &q, NULL) == 0)
		out->cpu_milli = q.milli;
	if (quantity_from_json(json_object_get(list, "memory"), &q, NULL) == 0)
		out->memory = q.value;
	if (quantity_from_json(json_object_get(list, "ephemeral-storage"), &q, NULL) == 0)
		out->ephemeral = q.value;
}

static void add_usage(struct usage *sum, const struct usage *more)
{
	sum->cpu_milli += more->cpu_milli;
	sum->memory += more->memory;
	sum->ephemeral += more->ephemeral;
}

static void max_usage(struct usage *sum, const struct usage *other)
{
	if (other->cpu_milli > sum->cpu_milli)
		sum->cpu_milli = other->cpu_milli;
	if (other->memory > sum->memory)
		sum->memory = other->memory;
	if (other->ephemeral > sum->ephemeral)
		sum->ephemeral = other->ephemeral;
}

static void pod_usage(const json_t *pod, struct pod_usage *out)
{
	*out = (struct pod_usage){0};
	struct usage u;
	size_t i;
	const json_t *c;
	json_array_foreach (json_path(pod, "spec.containers"), i, c) {
		read_usage(json_path(c, "resources.requests"), &u);
		add_usage(&out->requests, &u);
		read_usage(json_path(c, "resources.limits"), &u);
		add_usage(&out->limits, &u);
	}
	json_array_foreach (json_path(pod, "spec.initContainers"), i, c) {
		read_usage(json_path(c, "resources.requests"), &u);
		max_usage(&out->requests, &u);
		read_usage(json_path(c, "resources.limits"), &u);
		max_usage(&out->limits, &u);
	}
}

static long long percent(int64_t part, int64_t whole)
{
	return whole ? (long long)((double)part / (double)whole * 100) : 0;
}

static void describe_roles(struct describer *d, const json_t *labels)
{
	size_t count;
	_cleanup_free_ const char **keys = sorted_keys(labels, &count);
	_cleanup_buf_ struct buf roles = {0};
	for (size_t i = 0; i < count; i++) {
		const char *role = NULL;
		if (strncmp(keys[i], ROLE_LABEL_PREFIX, strlen(ROLE_LABEL_PREFIX)) == 0)
			role = keys[i] + strlen(ROLE_LABEL_PREFIX);
		else if (strcmp(keys[i], ROLE_LABEL) == 0)
			role = json_string_value(json_object_get(labels, keys[i]));
		if (role && *role)
			buf_printf(&roles, "%s%s", roles.len ? "," : "", role);
	}
	describer_write(d, 0, "Roles:\t%s\n", roles.len ? roles.data : "<none>");
}

/* kubectl orders taints by effect, then key. */
static int compare_taints(const json_t *a, const json_t *b)
{
	int by_effect = strcmp(field_string(a, "effect", ""), field_string(b, "effect", ""));
	return by_effect ? by_effect
			 : strcmp(field_string(a, "key", ""), field_string(b, "key", ""));
}

static void describe_taints(struct describer *d, const json_t *taints)
{
	describer_write(d, 0, "Taints:\t");
	size_t count = json_array_size(taints);
	if (count == 0) {
		describer_write(d, 0, "<none>\n");
		return;
	}
	_cleanup_free_ const json_t **sorted = calloc(count, sizeof(*sorted));
	if (!sorted)
		abort();
	for (size_t i = 0; i < count; i++) {
		const json_t *taint = json_array_get(taints, i);
		size_t j = i;
		for (; j > 0 && compare_taints(sorted[j - 1], taint) > 0; j--)
			sorted[j] = sorted[j - 1];
		sorted[j] = taint;
	}
	for (size_t i = 0; i < count; i++) {
		const char *value = field_string(sorted[i], "value", "");
		describer_write(d, 0, "%s%s%s%s:%s\n", i ? "\t" : "",
				field_string(sorted[i], "key", ""), *value ? "=" : "", value,
				field_string(sorted[i], "effect", ""));
	}
}

static void describe_lease(struct describer *d, const json_t *lease, const char *lease_error)
{
	if (!lease) {
		describer_write(d, 0, "Lease:\tFailed to get lease: %s\n",
				lease_error ? lease_error : "");
		return;
	}
	describer_write(d, 0, "Lease:\n");
	describer_write(d, 1, "HolderIdentity:\t%s\n",
			field_string(lease, "spec.holderIdentity", "<unset>"));
	static const char *const times[][2] = {{"spec.acquireTime", "AcquireTime"},
					       {"spec.renewTime", "RenewTime"}};
	for (size_t i = 0; i < 2; i++) {
		const char *when = field_string(lease, times[i][0], NULL);
		_cleanup_buf_ struct buf text = {0};
		if (when)
			describe_time(when, &text);
		describer_write(d, 1, "%s:\t%s\n", times[i][1], when ? text.data : "<unset>");
	}
}

static void describe_conditions(struct describer *d, const json_t *conditions)
{
	if (json_array_size(conditions) == 0)
		return;
	describer_write(d, 0,
			"Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\t"
			"Reason\tMessage\n");
	describer_write(d, 1,
			"----\t------\t-----------------\t------------------\t------\t"
			"-------\n");
	size_t i;
	const json_t *c;
	json_array_foreach (conditions, i, c) {
		_cleanup_buf_ struct buf heartbeat = {0}, transition = {0};
		describe_time(field_string(c, "lastHeartbeatTime", NULL), &heartbeat);
		describe_time(field_string(c, "lastTransitionTime", NULL), &transition);
		describer_write(d, 1, "%s \t%s \t%s \t%s \t%s \t%s\n", field_string(c, "type", ""),
				field_string(c, "status", ""), heartbeat.data, transition.data,
				field_string(c, "reason", ""), field_string(c, "message", ""));
	}
}

static void describe_resource_list(struct describer *d, const char *title, const json_t *list)
{
	size_t count;
	_cleanup_free_ const char **names = sorted_keys(list, &count);
	if (count == 0)
		return;
	describer_write(d, 0, "%s:\n", title);
	for (size_t i = 0; i < count; i++) {
		_cleanup_buf_ struct buf value = {0};
		append_value(&value, json_object_get(list, names[i]));
		describer_write(d, 0, "  %s:\t%s\n", names[i], value.data ? value.data : "");
	}
}

static void describe_system_info(struct describer *d, const json_t *info)
{
	static const char *const fields[][2] = {
	    {"machineID", "Machine ID"},
	    {"systemUUID", "System UUID"},
	    {"bootID", "Boot ID"},
	    {"kernelVersion", "Kernel Version"},
	    {"osImage", "OS Image"},
	    {"operatingSystem", "Operating System"},
	    {"architecture", "Architecture"},
	    {"containerRuntimeVersion", "Container Runtime Version"},
	    {"kubeletVersion", "Kubelet Version"},
	    {"kubeProxyVersion", "Kube-Proxy Version"},
	};
	describer_write(d, 0, "System Info:\n");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		describer_write(d, 0, "  %s:\t%s\n", fields[i][1],
				field_string(info, fields[i][0], ""));
}

static void describe_pods(struct describer *d, const json_t *pods, const struct usage *allocatable)
{
	const json_t *items = json_object_get(pods, "items");
	describer_write(d, 0, "Non-terminated Pods:\t(%zu in total)\n", json_array_size(items));
	describer_write(d, 1,
			"Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory "
			"Limits\tAge\n");
	describer_write(d, 1,
			"---------\t----\t\t------------\t----------\t---------------\t-------"
			"------\t---\n");
	struct pod_usage total = {0};
	size_t i;
	const json_t *pod;
	json_array_foreach (items, i, pod) {
		struct pod_usage u;
		pod_usage(pod, &u);
		add_usage(&total.requests, &u.requests);
		add_usage(&total.limits, &u.limits);
		char cpu_req[QUANTITY_TEXT_SIZE], cpu_lim[QUANTITY_TEXT_SIZE];
		char mem_req[QUANTITY_TEXT_SIZE], mem_lim[QUANTITY_TEXT_SIZE];
		_cleanup_buf_ struct buf age = {0};
		time_format_age(field_string(pod, "metadata.creationTimestamp", NULL), d->now,
				&age);
		describer_write(
		    d, 1, "%s\t%s\t\t%s (%lld%%)\t%s (%lld%%)\t%s (%lld%%)\t%s (%lld%%)\t%s\n",
		    field_string(pod, "metadata.namespace", ""),
		    field_string(pod, "metadata.name", ""),
		    quantity_format_cpu(u.requests.cpu_milli, cpu_req),
		    percent(u.requests.cpu_milli, allocatable->cpu_milli),
		    quantity_format_cpu(u.limits.cpu_milli, cpu_lim),
		    percent(u.limits.cpu_milli, allocatable->cpu_milli),
		    quantity_format_memory(u.requests.memory, mem_req),
		    percent(u.requests.memory, allocatable->memory),
		    quantity_format_memory(u.limits.memory, mem_lim),
		    percent(u.limits.memory, allocatable->memory), age.data);
	}
	describer_write(d, 0,
			"Allocated resources:\n  (Total limits may be over 100 percent, i.e., "
			"overcommitted.)\n");
	describer_write(d, 1, "Resource\tRequests\tLimits\n");
	describer_write(d, 1, "--------\t--------\t------\n");
	char req[QUANTITY_TEXT_SIZE], lim[QUANTITY_TEXT_SIZE];
	describer_write(d, 1, "cpu\t%s (%lld%%)\t%s (%lld%%)\n",
			quantity_format_cpu(total.requests.cpu_milli, req),
			percent(total.requests.cpu_milli, allocatable->cpu_milli),
			quantity_format_cpu(total.limits.cpu_milli, lim),
			percent(total.limits.cpu_milli, allocatable->cpu_milli));
	describer_write(d, 1, "memory\t%s (%lld%%)\t%s (%lld%%)\n",
			quantity_format_memory(total.requests.memory, req),
			percent(total.requests.memory, allocatable->memory),
			quantity_format_memory(total.limits.memory, lim),
			percent(total.limits.memory, allocatable->memory));
	describer_write(d, 1, "ephemeral-storage\t%s (%lld%%)\t%s (%lld%%)\n",
			quantity_format_memory(total.requests.ephemeral, req),
			percent(total.requests.ephemeral, allocatable->ephemeral),
			quantity_format_memory(total.limits.ephemeral, lim),
			percent(total.limits.ephemeral, allocatable->ephemeral));
}

void describe_node(const json_t *node, const json_t *pods, const json_t *lease,
		   const char *lease_error, const json_t *events, time_t now, struct buf *out)
{
	const json_t *spec = json_object_get(node, "spec");
	const json_t *status = json_object_get(node, "status");
	struct describer d;
	describer_init(&d, now);
	describer_write(&d, 0, "Name:\t%s\n", field_string(node, "metadata.name", ""));
	describe_roles(&d, json_path(node, "metadata.labels"));
	describe_labels(&d, "Labels", json_path(node, "metadata.labels"));
	describe_annotations(&d, json_path(node, "metadata.annotations"));
	_cleanup_buf_ struct buf created = {0};
	describe_time(field_string(node, "metadata.creationTimestamp", NULL), &created);
	describer_write(&d, 0, "CreationTimestamp:\t%s\n", created.data);
	describe_taints(&d, json_object_get(spec, "taints"));
	describer_write(&d, 0, "Unschedulable:\t%s\n",
			json_is_true(json_object_get(spec, "unschedulable")) ? "true" : "false");
	describe_lease(&d, lease, lease_error);
	describe_conditions(&d, json_object_get(status, "conditions"));
	describer_write(&d, 0, "Addresses:\n");
	size_t i;
	const json_t *address;
	json_array_foreach (json_object_get(status, "addresses"), i, address)
		describer_write(&d, 1, "%s:\t%s\n", field_string(address, "type", ""),
				field_string(address, "address", ""));
	describe_resource_list(&d, "Capacity", json_object_get(status, "capacity"));
	describe_resource_list(&d, "Allocatable", json_object_get(status, "allocatable"));
	describe_system_info(&d, json_object_get(status, "nodeInfo"));
	if (*field_string(spec, "podCIDR", ""))
		describer_write(&d, 0, "PodCIDR:\t%s\n", field_string(spec, "podCIDR", ""));
	if (json_array_size(json_object_get(spec, "podCIDRs")) > 0) {
		_cleanup_buf_ struct buf cidrs = {0};
		const json_t *cidr;
		json_array_foreach (json_object_get(spec, "podCIDRs"), i, cidr)
			buf_printf(&cidrs, "%s%s", i ? "," : "", json_string_value(cidr) ?: "");
		describer_write(&d, 0, "PodCIDRs:\t%s\n", cidrs.data);
	}
	if (*field_string(spec, "providerID", ""))
		describer_write(&d, 0, "ProviderID:\t%s\n", field_string(spec, "providerID", ""));
	const json_t *allocatable = json_object_get(status, "allocatable");
	struct usage available;
	read_usage(json_object_size(allocatable) ? allocatable
						 : json_object_get(status, "capacity"),
		   &available);
	describe_pods(&d, pods, &available);
	describe_events(&d, events);
	describer_finish(&d, out);
}
