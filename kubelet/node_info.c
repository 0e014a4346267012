/* The node's facts, pressure decisions and Node JSON: see node_info.h. */
#include "kubelet/node_info.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>

#include "cgroup/cgroup.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/quantity.h"
#include "lib/strconv.h"
#include "lib/timeutil.h"
#include "lib/version.h"

/* --- Parsing ------------------------------------------------------------------------------ */

/* The line of `text` that starts with `key` and a ':', past the ':'; NULL when none does. */
static const char *keyed_line(const char *text, const char *key)
{
	size_t key_len = strlen(key);
	for (const char *line = text; line && *line;) {
		if (strncmp(line, key, key_len) == 0 && line[key_len] == ':')
			return line + key_len + 1;
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return NULL;
}

/* "MemTotal:  24684096 kB" -> bytes. */
static int meminfo_bytes(const char *text, const char *key, int64_t *out)
{
	const char *value = keyed_line(text, key);
	if (!value)
		return -EINVAL;
	char *end;
	errno = 0;
	long long kib = strtoll(value, &end, 10);
	if (end == value || errno || kib < 0 || kib > INT64_MAX / 1024 || strncmp(end, " kB", 3))
		return -EINVAL;
	*out = kib * 1024;
	return 0;
}

int node_parse_meminfo(const char *text, int64_t *total, int64_t *available)
{
	*total = -1;
	*available = -1;
	if (meminfo_bytes(text, "MemTotal", total) < 0)
		return -EINVAL;
	/* Kernels before 3.14 lack it; such a node simply never reports memory pressure. */
	meminfo_bytes(text, "MemAvailable", available);
	return 0;
}

int node_parse_loadavg_tasks(const char *text, int64_t *tasks)
{
	/* "0.04 0.33 0.51 1/83 10064": runnable/total tasks is the fourth field. */
	int64_t total;
	int used = 0;
	if (sscanf(text, "%*s %*s %*s %*d/%" SCNd64 "%n", &total, &used) < 1 || used == 0 ||
	    total < 0)
		return -EINVAL;
	*tasks = total;
	return 0;
}

/* One os-release value: "double quoted" (with \ escapes), 'single quoted' or bare, up to the
 * end of the line. */
static void unquote_shell(const char *value, char *out, size_t len)
{
	struct buf text = {0};
	char quote = 0;
	for (const char *p = value; *p && *p != '\n'; p++) {
		if (!quote && (*p == '"' || *p == '\'')) {
			quote = *p;
		} else if (quote && *p == quote) {
			quote = 0;
		} else if (quote != '\'' && *p == '\\' && p[1] && p[1] != '\n') {
			buf_putc(&text, *++p);
		} else {
			buf_putc(&text, *p);
		}
	}
	snprintf(out, len, "%s", text.data ? text.data : "");
	buf_free(&text);
}

void node_parse_os_release(const char *text, char *out, size_t len)
{
	static const char key[] = "PRETTY_NAME=";
	for (const char *line = text; line && *line;) {
		if (strncmp(line, key, sizeof(key) - 1) == 0) {
			unquote_shell(line + sizeof(key) - 1, out, len);
			return;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	snprintf(out, len, "Linux");
}

const char *node_go_arch(const char *machine)
{
	static const struct {
		const char *machine;
		const char *go;
	} names[] = {
	    {"x86_64", "amd64"},  {"aarch64", "arm64"},   {"arm64", "arm64"},
	    {"armv6l", "arm"},    {"armv7l", "arm"},      {"armv8l", "arm"},
	    {"i386", "386"},      {"i486", "386"},        {"i586", "386"},
	    {"i686", "386"},      {"ppc64le", "ppc64le"}, {"ppc64", "ppc64"},
	    {"s390x", "s390x"},   {"riscv64", "riscv64"}, {"loongarch64", "loong64"},
	    {"mips64", "mips64"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(machine, names[i].machine) == 0)
			return names[i].go;
	return machine;
}

/* --- Reading the machine ------------------------------------------------------------------ */

/* Keeps the first failure of several independent reads. */
static void keep_first(int *first, struct ck_error *err, int rc, const struct ck_error *cause)
{
	if (rc < 0 && *first == 0) {
		*first = rc;
		if (err)
			*err = *cause;
	}
}

static int read_below(const char *root, const char *file, char **text, struct ck_error *err)
{
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s%s", root, file) < 0)
		return ck_error_set(err, ENOMEM, "%s", file);
	return fs_read_file(path, text, NULL, err);
}

/* The first line of a file, surrounding white space removed. */
static int read_line(const char *root, const char *file, char *out, size_t len,
		     struct ck_error *err)
{
	_cleanup_free_ char *text = NULL;
	*out = '\0';
	int rc = read_below(root, file, &text, err);
	if (rc < 0)
		return rc;
	const char *start = text + strspn(text, " \t\n");
	size_t n = strcspn(start, "\n");
	while (n > 0 && (start[n - 1] == ' ' || start[n - 1] == '\t' || start[n - 1] == '\r'))
		n--;
	snprintf(out, len, "%.*s", (int)n, start);
	return 0;
}

static int read_int(const char *root, const char *file, int64_t *out, struct ck_error *err)
{
	char text[64];
	int rc = read_line(root, file, text, sizeof(text), err);
	if (rc == 0)
		rc = strconv_parse_int(text, 0, INT64_MAX, out, err);
	return rc < 0 ? ck_error_prefix(err, "%s%s", root, file) : 0;
}

static int read_meminfo(const char *root, struct node_facts *out, struct ck_error *err)
{
	_cleanup_free_ char *text = NULL;
	int rc = read_below(root, "/proc/meminfo", &text, err);
	if (rc == 0 && node_parse_meminfo(text, &out->memory_total, &out->memory_available) < 0)
		rc = ck_error_set(err, EINVAL, "%s/proc/meminfo: no MemTotal in kB", root);
	return rc;
}

static int read_tasks(const char *root, struct node_facts *out, struct ck_error *err)
{
	int64_t pid_max, threads_max;
	int rc = read_int(root, "/proc/sys/kernel/pid_max", &pid_max, err);
	if (rc == 0)
		rc = read_int(root, "/proc/sys/kernel/threads-max", &threads_max, err);
	if (rc < 0)
		return rc;
	/* Both limit the number of tasks; whichever is smaller is hit first. */
	out->task_max = pid_max < threads_max ? pid_max : threads_max;
	_cleanup_free_ char *text = NULL;
	rc = read_below(root, "/proc/loadavg", &text, err);
	/* sysinfo(2) would truncate the count above 65535: the kubelet reads loadavg as well. */
	if (rc == 0 && node_parse_loadavg_tasks(text, &out->tasks) < 0)
		rc = ck_error_set(err, EINVAL, "%s/proc/loadavg: no task count", root);
	return rc;
}

static int read_fs(const char *dir, struct node_fs_stats *out, struct ck_error *err)
{
	struct statvfs st;
	if (statvfs(dir, &st) < 0)
		return ck_error_errno(err, errno, "statvfs %s", dir);
	out->capacity = (int64_t)st.f_blocks * (int64_t)st.f_frsize;
	out->available = (int64_t)st.f_bavail * (int64_t)st.f_frsize;
	/* File systems without an inode table (btrfs) report 0 inodes: nothing to run out of. */
	out->inodes = st.f_files ? (int64_t)st.f_files : -1;
	out->inodes_free = st.f_files ? (int64_t)st.f_ffree : -1;
	return 0;
}

static int count_cpus(int64_t *out, struct ck_error *err)
{
	/* The mask must be as large as the kernel's: grow it until the kernel takes it. */
	for (int count = 1024; count <= 1 << 20; count *= 2) {
		size_t size = CPU_ALLOC_SIZE(count);
		cpu_set_t *set = CPU_ALLOC(count);
		if (!set)
			return ck_error_set(err, ENOMEM, "sched_getaffinity");
		int rc = sched_getaffinity(0, size, set);
		int saved = errno;
		if (rc == 0)
			*out = CPU_COUNT_S(size, set);
		CPU_FREE(set);
		if (rc == 0)
			return 0;
		if (saved != EINVAL)
			return ck_error_errno(err, saved, "sched_getaffinity");
	}
	return ck_error_set(err, EINVAL, "sched_getaffinity: more CPUs than ckube can count");
}

int node_facts_read(const char *root, const char *data_dir, const char *image_dir,
		    struct node_facts *out, struct ck_error *err)
{
	static const struct node_fs_stats unknown_fs = {-1, -1, -1, -1};
	*out = (struct node_facts){-1, -1, -1, unknown_fs, unknown_fs, -1, -1};
	struct ck_error cause = {0};
	int first = 0;
	keep_first(&first, err, count_cpus(&out->cpus, &cause), &cause);
	keep_first(&first, err, read_meminfo(root, out, &cause), &cause);
	keep_first(&first, err, read_tasks(root, out, &cause), &cause);
	keep_first(&first, err, read_fs(data_dir, &out->nodefs, &cause), &cause);
	keep_first(&first, err, read_fs(image_dir, &out->imagefs, &cause), &cause);
	return first;
}

int node_system_info_read(const char *root, struct node_system_info *out, struct ck_error *err)
{
	*out = (struct node_system_info){0};
	struct ck_error cause = {0};
	int first = 0;
	keep_first(
	    &first, err,
	    read_line(root, "/etc/machine-id", out->machine_id, sizeof(out->machine_id), &cause),
	    &cause);
	keep_first(&first, err,
		   read_line(root, "/proc/sys/kernel/random/boot_id", out->boot_id,
			     sizeof(out->boot_id), &cause),
		   &cause);
	/* Only machines with DMI (and root) have it, as for the kubelet: empty otherwise. */
	struct ck_error ignored = {0};
	read_line(root, "/sys/class/dmi/id/product_uuid", out->system_uuid,
		  sizeof(out->system_uuid), &ignored);
	_cleanup_free_ char *os_release = NULL;
	if (read_below(root, "/etc/os-release", &os_release, &ignored) < 0)
		read_below(root, "/usr/lib/os-release", &os_release, &ignored);
	node_parse_os_release(os_release ? os_release : "", out->os_image, sizeof(out->os_image));
	struct utsname uts;
	if (uname(&uts) == 0) {
		snprintf(out->kernel_version, sizeof(out->kernel_version), "%s", uts.release);
		snprintf(out->architecture, sizeof(out->architecture), "%s",
			 node_go_arch(uts.machine));
	} else {
		keep_first(&first, err, ck_error_errno(&cause, errno, "uname"), &cause);
	}
	return first;
}

/* --- Pressure ----------------------------------------------------------------------------- */

/* available < percent % of total, for known values. */
static bool below_percent(int64_t available, int64_t total, int percent)
{
	return available >= 0 && total > 0 && available * 100 < total * percent;
}

bool node_memory_pressure(const struct node_facts *facts)
{
	return facts->memory_available >= 0 && facts->memory_available < NODE_MEMORY_AVAILABLE_MIN;
}

bool node_disk_pressure(const struct node_facts *facts)
{
	return below_percent(facts->nodefs.available, facts->nodefs.capacity,
			     NODE_NODEFS_AVAILABLE_PERCENT) ||
	       below_percent(facts->nodefs.inodes_free, facts->nodefs.inodes,
			     NODE_NODEFS_INODES_FREE_PERCENT) ||
	       below_percent(facts->imagefs.available, facts->imagefs.capacity,
			     NODE_IMAGEFS_AVAILABLE_PERCENT);
}

bool node_pid_pressure(const struct node_facts *facts)
{
	if (facts->task_max <= 0 || facts->tasks < 0)
		return false;
	return below_percent(facts->task_max - facts->tasks, facts->task_max,
			     NODE_PID_AVAILABLE_PERCENT);
}

void node_pressure_observe(struct node_pressure *pressure, const struct node_facts *facts,
			   time_t now)
{
	if (node_memory_pressure(facts))
		pressure->memory = now;
	if (node_disk_pressure(facts))
		pressure->disk = now;
	if (node_pid_pressure(facts))
		pressure->pid = now;
}

static bool pressure_active(time_t last_seen, time_t now)
{
	return last_seen != 0 && now - last_seen < NODE_PRESSURE_TRANSITION_SECONDS;
}

void node_unenforced_limits(unsigned available, char *out, size_t len)
{
	static const struct {
		unsigned bit;
		const char *name;
	} limits[] = {{CGROUP_CPU, "cpu"}, {CGROUP_MEMORY, "memory"}, {CGROUP_PIDS, "pids"}};
	struct buf text = {0};
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
		if (!(available & limits[i].bit))
			buf_printf(&text, "%s%s", text.len ? "," : "", limits[i].name);
	snprintf(out, len, "%s", text.data ? text.data : "");
	buf_free(&text);
}

/* --- Conditions --------------------------------------------------------------------------- */

struct condition {
	const char *type;
	bool status;
	const char *reason;
	const char *message;
};

static const char *previous_transition(const json_t *previous, const char *type, const char *status)
{
	size_t i;
	json_t *condition;
	json_array_foreach (previous, i, condition) {
		const char *t = json_string_value(json_object_get(condition, "type"));
		const char *s = json_string_value(json_object_get(condition, "status"));
		if (t && s && !strcmp(t, type) && !strcmp(s, status))
			return json_string_value(json_object_get(condition, "lastTransitionTime"));
	}
	return NULL;
}

static json_t *condition_json(const struct condition *c, const json_t *previous, const char *now)
{
	const char *status = c->status ? "True" : "False";
	const char *since = previous_transition(previous, c->type, status);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", c->type, "status", status,
			 "lastHeartbeatTime", now, "lastTransitionTime", since ? since : now,
			 "reason", c->reason, "message", c->message);
}

/* The kubelet's "missing node capacity for resources: ..." when a required capacity could not
 * be measured; "" when all are there. */
static void missing_capacity(const struct node_facts *facts, char *out, size_t len)
{
	struct buf names = {0};
	if (facts->cpus <= 0)
		buf_puts(&names, "cpu");
	if (facts->memory_total < 0)
		buf_printf(&names, "%smemory", names.len ? ", " : "");
	if (facts->nodefs.capacity < 0)
		buf_printf(&names, "%sephemeral-storage", names.len ? ", " : "");
	if (names.len)
		snprintf(out, len, "missing node capacity for resources: %s", names.data);
	else
		*out = '\0';
	buf_free(&names);
}

json_t *node_conditions(const struct node_description *node, const struct node_facts *facts,
			const struct node_pressure *pressure, const json_t *previous, time_t now)
{
	bool memory = pressure_active(pressure->memory, now);
	bool disk = pressure_active(pressure->disk, now);
	bool pid = pressure_active(pressure->pid, now);
	char not_ready[256];
	missing_capacity(facts, not_ready, sizeof(not_ready));
	const char *missing = node->cgroup_missing;
	const struct condition conditions[] = {
	    {"MemoryPressure", memory,
	     memory ? "KubeletHasInsufficientMemory" : "KubeletHasSufficientMemory",
	     memory ? "kubelet has insufficient memory available"
		    : "kubelet has sufficient memory available"},
	    {"DiskPressure", disk, disk ? "KubeletHasDiskPressure" : "KubeletHasNoDiskPressure",
	     disk ? "kubelet has disk pressure" : "kubelet has no disk pressure"},
	    {"PIDPressure", pid, pid ? "KubeletHasInsufficientPID" : "KubeletHasSufficientPID",
	     pid ? "kubelet has insufficient PID available"
		 : "kubelet has sufficient PID available"},
	    {"Ready", !*not_ready, *not_ready ? "KubeletNotReady" : "KubeletReady",
	     *not_ready ? not_ready : "kubelet is posting ready status"},
	    {"CgroupLimitsEnforced", !missing,
	     missing ? "ControllersMissing" : "ControllersAvailable",
	     missing ? missing : "cpu, memory and pids limits are enforced"},
	};
	char now_text[TIMEUTIL_TEXT_SIZE];
	timeutil_format_rfc3339(now, now_text);
	json_t *out = json_array();
	for (size_t i = 0; i < sizeof(conditions) / sizeof(conditions[0]); i++)
		json_array_append_new(out, condition_json(&conditions[i], previous, now_text));
	return out;
}

/* --- The Node ----------------------------------------------------------------------------- */

static void set_memory_quantity(json_t *resources, const char *name, int64_t bytes)
{
	char text[QUANTITY_TEXT_SIZE];
	if (bytes >= 0)
		json_object_set_new(resources, name,
				    json_string(quantity_format_memory(bytes, text)));
}

/* Capacity and allocatable list resources in the order Go writes a map: sorted by name. */
static json_t *resources_json(const struct node_description *node, const struct node_facts *facts,
			      bool allocatable)
{
	json_t *resources = json_object();
	char text[QUANTITY_TEXT_SIZE];
	if (facts->cpus > 0)
		json_object_set_new(resources, "cpu",
				    json_string(quantity_format_cpu(facts->cpus * 1000, text)));
	int64_t storage = facts->nodefs.capacity;
	if (allocatable && storage >= 0)
		storage -= storage / 100 * NODE_NODEFS_AVAILABLE_PERCENT +
			   storage % 100 * NODE_NODEFS_AVAILABLE_PERCENT / 100;
	set_memory_quantity(resources, "ephemeral-storage", storage);
	json_object_set_new(resources, "hugepages-1Gi", json_string("0"));
	json_object_set_new(resources, "hugepages-2Mi", json_string("0"));
	int64_t memory = facts->memory_total;
	if (allocatable && memory >= 0)
		memory =
		    memory > NODE_MEMORY_AVAILABLE_MIN ? memory - NODE_MEMORY_AVAILABLE_MIN : 0;
	set_memory_quantity(resources, "memory", memory);
	json_object_set_new(resources, "pods", json_sprintf("%d", node->max_pods));
	return resources;
}

static json_t *addresses_json(const struct node_description *node)
{
	json_t *addresses = json_array();
	if (node->ip && *node->ip)
		json_array_append_new(
		    addresses, json_pack("{s:s, s:s}", "type", "InternalIP", "address", node->ip));
	json_array_append_new(addresses,
			      json_pack("{s:s, s:s}", "type", "Hostname", "address", node->name));
	return addresses;
}

static json_t *node_info_json(const struct node_system_info *system)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "machineID",
			 system->machine_id, "systemUUID", system->system_uuid, "bootID",
			 system->boot_id, "kernelVersion", system->kernel_version, "osImage",
			 system->os_image, "containerRuntimeVersion", "ckube://" CKUBE_VERSION,
			 "kubeletVersion", CKUBE_KUBERNETES_GIT_VERSION, "kubeProxyVersion",
			 CKUBE_KUBERNETES_GIT_VERSION, "operatingSystem", "linux", "architecture",
			 system->architecture);
}

json_t *node_status_json(const struct node_description *node, const struct node_facts *facts,
			 json_t *conditions)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:{s:{s:i}}, s:o}", "capacity",
			 resources_json(node, facts, false), "allocatable",
			 resources_json(node, facts, true), "conditions", conditions, "addresses",
			 addresses_json(node), "daemonEndpoints", "kubeletEndpoint", "Port",
			 node->agent_port, "nodeInfo", node_info_json(&node->system));
}

json_t *node_labels(const struct node_description *node)
{
	/* The beta labels are still set by the kubelet, for old nodeSelectors. */
	const char *arch = node->system.architecture;
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "beta.kubernetes.io/arch", arch,
			 "beta.kubernetes.io/os", "linux", "kubernetes.io/arch", arch,
			 "kubernetes.io/hostname", node->name, "kubernetes.io/os", "linux");
}

json_t *node_annotations(const struct node_description *node)
{
	char limits[64];
	node_unenforced_limits(node->cgroup_available, limits, sizeof(limits));
	/* null: a patch removes what an earlier start reported, once everything is enforced. */
	return json_pack("{s:o}", NODE_UNENFORCED_LIMITS_ANNOTATION,
			 *limits ? json_string(limits) : json_null());
}

json_t *node_object(const struct node_description *node, json_t *status)
{
	json_t *annotations = node_annotations(node);
	const char *key;
	json_t *value;
	void *tmp;
	json_object_foreach_safe (annotations, tmp, key, value)
		if (json_is_null(value))
			json_object_del(annotations, key);
	return json_pack("{s:s, s:s, s:{s:s, s:o, s:o}, s:{}, s:o}", "apiVersion", "v1", "kind",
			 "Node", "metadata", "name", node->name, "labels", node_labels(node),
			 "annotations", annotations, "spec", "status", status);
}

/* --- Comparing with the API's copy ---------------------------------------------------------- */

static bool contains(const json_t *current, const json_t *desired);

/* Lists merged by "type" (conditions, addresses) as a strategic merge patch merges them: each
 * desired element must be in `current` under its type. */
static bool contains_by_type(const json_t *current, const json_t *desired)
{
	size_t i, j;
	json_t *want, *have;
	json_array_foreach (desired, i, want) {
		const char *type = json_string_value(json_object_get(want, "type"));
		bool found = false;
		json_array_foreach (current, j, have) {
			const char *t = json_string_value(json_object_get(have, "type"));
			if (type && t && !strcmp(type, t)) {
				found = contains(have, want);
				break;
			}
		}
		if (!found)
			return false;
	}
	return true;
}

/* Whether `current` holds everything `desired` sets (objects may have more keys), heartbeats
 * aside: they change at every write and are no reason for one. */
static bool contains(const json_t *current, const json_t *desired)
{
	if (json_is_object(desired)) {
		if (!json_is_object(current))
			return false;
		const char *key;
		json_t *value;
		json_object_foreach ((json_t *)desired, key, value)
			if (strcmp(key, "lastHeartbeatTime") != 0 &&
			    !contains(json_object_get(current, key), value))
				return false;
		return true;
	}
	if (json_is_array(desired) && json_is_object(json_array_get(desired, 0)))
		return json_is_array(current) && contains_by_type(current, desired);
	return current && json_equal(current, desired);
}

bool node_status_differs(const json_t *desired, const json_t *current)
{
	return !contains(current, desired);
}
