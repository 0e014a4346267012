/* What the node reports about itself: file parsers, facts read from a fake /proc and /etc tree,
 * the pressure thresholds at their edges, condition transitions, the unenforced-limits report,
 * and the Node's status as JSON. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cgroup/cgroup.h"
#include "kubelet/node_info.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/json_util.h"
#include "lib/version.h"

#define MI (1LL << 20)
#define T0 1795610995 /* 2026-11-25T12:49:55Z */
#define T0_TEXT "2026-11-25T12:49:55Z"
#define LIMITS (CGROUP_CPU | CGROUP_MEMORY | CGROUP_PIDS)

static const char meminfo[] = "MemTotal:       24684096 kB\n"
			      "MemFree:        23000000 kB\n"
			      "MemAvailable:   24375100 kB\n"
			      "HugePages_Total:       0\n";

/* Facts of a calm machine: nothing near any threshold. */
static struct node_facts calm(void)
{
	return (struct node_facts){
	    .cpus = 2,
	    .memory_total = 1024 * MI,
	    .memory_available = 800 * MI,
	    .nodefs = {1000, 500, 100, 50},
	    .imagefs = {1000, 500, 100, 50},
	    .task_max = 32768,
	    .tasks = 100,
	};
}

static struct node_description describe(unsigned cgroup_available, const char *cgroup_missing)
{
	struct node_description node = {.name = "n1",
					.ip = "192.0.2.7",
					.max_pods = 110,
					.agent_port = 10250,
					.cgroup_available = cgroup_available,
					.cgroup_missing = cgroup_missing};
	strcpy(node.system.machine_id, "m-id");
	strcpy(node.system.boot_id, "b-id");
	strcpy(node.system.kernel_version, "6.1.0-test");
	strcpy(node.system.os_image, "Debian GNU/Linux 12 (bookworm)");
	strcpy(node.system.architecture, "amd64");
	return node;
}

static const json_t *find_type(const json_t *list, const char *type)
{
	size_t i;
	json_t *item;
	json_array_foreach (list, i, item)
		if (!strcmp(json_string_value(json_object_get(item, "type")), type))
			return item;
	return NULL;
}

static const char *field(const json_t *conditions, const char *type, const char *key)
{
	const json_t *condition = find_type(conditions, type);
	assert_non_null(condition);
	return json_string_value(json_object_get(condition, key));
}

/* --- Parsers -------------------------------------------------------------------------------- */

static void test_meminfo(void **state)
{
	(void)state;
	int64_t total, available;
	assert_int_equal(node_parse_meminfo(meminfo, &total, &available), 0);
	assert_true(total == 24684096LL * 1024);
	assert_true(available == 24375100LL * 1024);

	/* Before Linux 3.14: no MemAvailable, no pressure signal. */
	assert_int_equal(
	    node_parse_meminfo("MemTotal: 2048 kB\nMemFree: 1 kB\n", &total, &available), 0);
	assert_true(total == 2048 * 1024 && available == -1);

	/* A key that only starts like MemTotal, a missing one, a bad unit or number. */
	assert_int_equal(node_parse_meminfo("MemTotalX: 5 kB\n", &total, &available), -EINVAL);
	assert_int_equal(node_parse_meminfo("", &total, &available), -EINVAL);
	assert_int_equal(node_parse_meminfo("MemTotal: 5 MB\n", &total, &available), -EINVAL);
	assert_int_equal(node_parse_meminfo("MemTotal: lots kB\n", &total, &available), -EINVAL);
	assert_int_equal(
	    node_parse_meminfo("MemTotal: 99999999999999999999 kB\n", &total, &available), -EINVAL);
}

static void test_loadavg(void **state)
{
	(void)state;
	int64_t tasks = 0;
	assert_int_equal(node_parse_loadavg_tasks("0.04 0.33 0.51 1/83 10064\n", &tasks), 0);
	assert_true(tasks == 83);
	assert_int_equal(node_parse_loadavg_tasks("0.04 0.33 0.51\n", &tasks), -EINVAL);
	assert_int_equal(node_parse_loadavg_tasks("0.04 0.33 0.51 1 10064\n", &tasks), -EINVAL);
}

static void test_os_release(void **state)
{
	(void)state;
	char name[64];
	node_parse_os_release("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
			      name, sizeof(name));
	assert_string_equal(name, "Debian GNU/Linux 12 (bookworm)");
	node_parse_os_release("PRETTY_NAME='It''s \"odd\"'\n", name, sizeof(name));
	assert_string_equal(name, "Its \"odd\"");
	node_parse_os_release("PRETTY_NAME=\"A \\\"quoted\\\" \\$name\"", name, sizeof(name));
	assert_string_equal(name, "A \"quoted\" $name");
	node_parse_os_release("PRETTY_NAME=Bare\nID=x\n", name, sizeof(name));
	assert_string_equal(name, "Bare");
	node_parse_os_release("ID=x\nXPRETTY_NAME=no\n", name, sizeof(name));
	assert_string_equal(name, "Linux");
	node_parse_os_release("PRETTY_NAME=\"much longer than the buffer is\"", name, 8);
	assert_string_equal(name, "much lo");
}

static void test_go_arch(void **state)
{
	(void)state;
	assert_string_equal(node_go_arch("x86_64"), "amd64");
	assert_string_equal(node_go_arch("aarch64"), "arm64");
	assert_string_equal(node_go_arch("armv7l"), "arm");
	assert_string_equal(node_go_arch("i686"), "386");
	assert_string_equal(node_go_arch("ppc64le"), "ppc64le");
	assert_string_equal(node_go_arch("sparc64"), "sparc64");
}

/* --- Reading a fake machine ------------------------------------------------------------------ */

static void put(const char *root, const char *file, const char *text)
{
	_cleanup_free_ char *path = NULL;
	struct ck_error err = {0};
	assert_true(asprintf(&path, "%s%s", root, file) > 0);
	_cleanup_free_ char *dir = strdup(path);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(fs_mkdir_p(dir, 0755, &err), 0);
	assert_int_equal(fs_write_file(path, text, strlen(text), 0644, &err), 0);
}

static int make_root(void **state)
{
	char *root = strdup("/tmp/ckube-test-node-info-XXXXXX");
	assert_non_null(mkdtemp(root));
	*state = root;
	return 0;
}

static int remove_root(void **state)
{
	fs_remove_tree(AT_FDCWD, *state, NULL);
	free(*state);
	return 0;
}

static void test_facts_from_files(void **state)
{
	const char *root = *state;
	put(root, "/proc/meminfo", meminfo);
	put(root, "/proc/loadavg", "0.00 0.01 0.05 2/731 4242\n");
	put(root, "/proc/sys/kernel/pid_max", "4194304\n");
	put(root, "/proc/sys/kernel/threads-max", "192731\n");
	struct node_facts facts;
	struct ck_error err = {0};
	assert_int_equal(node_facts_read(root, root, root, &facts, &err), 0);
	assert_true(facts.cpus >= 1);
	assert_true(facts.memory_total == 24684096LL * 1024);
	assert_true(facts.memory_available == 24375100LL * 1024);
	assert_true(facts.task_max == 192731); /* the smaller of the two limits */
	assert_true(facts.tasks == 731);
	assert_true(facts.nodefs.capacity > 0 && facts.nodefs.available >= 0);
	assert_true(facts.imagefs.capacity == facts.nodefs.capacity);

	/* A missing file: the rest is still read, the failure names the file. */
	put(root, "/proc/meminfo", "nothing useful\n");
	char loadavg[512];
	snprintf(loadavg, sizeof(loadavg), "%s/proc/loadavg", root);
	unlink(loadavg);
	assert_true(node_facts_read(root, root, root, &facts, &err) < 0);
	assert_non_null(strstr(err.message, "/proc/meminfo"));
	assert_true(facts.memory_total == -1 && facts.tasks == -1);
	assert_true(facts.nodefs.capacity > 0 && facts.cpus >= 1);
}

static void test_system_info_from_files(void **state)
{
	const char *root = *state;
	put(root, "/etc/machine-id", "0123456789abcdef0123456789abcdef\n");
	put(root, "/proc/sys/kernel/random/boot_id", "8f3c2a4e-1111-2222-3333-444455556666\n");
	put(root, "/sys/class/dmi/id/product_uuid", "  EC2A1B3C-0000-1111-2222-333344445555 \n");
	put(root, "/usr/lib/os-release", "PRETTY_NAME=\"Fallback OS\"\n");
	struct node_system_info info;
	struct ck_error err = {0};
	assert_int_equal(node_system_info_read(root, &info, &err), 0);
	assert_string_equal(info.machine_id, "0123456789abcdef0123456789abcdef");
	assert_string_equal(info.boot_id, "8f3c2a4e-1111-2222-3333-444455556666");
	assert_string_equal(info.system_uuid, "EC2A1B3C-0000-1111-2222-333344445555");
	assert_string_equal(info.os_image, "Fallback OS");
	assert_true(*info.kernel_version && *info.architecture);

	/* /etc/os-release wins over /usr/lib's; no DMI is no error. */
	put(root, "/etc/os-release", "PRETTY_NAME=\"Etc OS\"\n");
	char uuid_path[512];
	snprintf(uuid_path, sizeof(uuid_path), "%s/sys/class/dmi/id/product_uuid", root);
	unlink(uuid_path);
	assert_int_equal(node_system_info_read(root, &info, &err), 0);
	assert_string_equal(info.os_image, "Etc OS");
	assert_string_equal(info.system_uuid, "");
}

/* --- Pressure at the thresholds ------------------------------------------------------------- */

static void test_memory_threshold(void **state)
{
	(void)state;
	struct node_facts facts = calm();
	facts.memory_available = 100 * MI;
	assert_false(node_memory_pressure(&facts));
	facts.memory_available = 100 * MI - 1;
	assert_true(node_memory_pressure(&facts));
	facts.memory_available = -1;
	assert_false(node_memory_pressure(&facts));
}

static void test_disk_thresholds(void **state)
{
	(void)state;
	struct node_facts facts = calm();
	facts.nodefs.available = 100; /* exactly 10 % */
	assert_false(node_disk_pressure(&facts));
	facts.nodefs.available = 99;
	assert_true(node_disk_pressure(&facts));

	facts = calm();
	facts.nodefs.inodes_free = 5; /* exactly 5 % */
	assert_false(node_disk_pressure(&facts));
	facts.nodefs.inodes_free = 4;
	assert_true(node_disk_pressure(&facts));
	facts.nodefs.inodes = facts.nodefs.inodes_free = -1; /* no inode table */
	assert_false(node_disk_pressure(&facts));

	facts = calm();
	facts.imagefs.available = 150; /* exactly 15 % */
	assert_false(node_disk_pressure(&facts));
	facts.imagefs.available = 149;
	assert_true(node_disk_pressure(&facts));

	facts = calm();
	facts.nodefs.capacity = facts.nodefs.available = -1;
	assert_false(node_disk_pressure(&facts));
}

static void test_pid_threshold(void **state)
{
	(void)state;
	struct node_facts facts = calm();
	facts.task_max = 1000;
	facts.tasks = 900; /* 100 available: exactly 10 % */
	assert_false(node_pid_pressure(&facts));
	facts.tasks = 901;
	assert_true(node_pid_pressure(&facts));
	facts.tasks = -1;
	assert_false(node_pid_pressure(&facts));
}

/* --- Conditions ---------------------------------------------------------------------------- */

static void test_calm_conditions(void **state)
{
	(void)state;
	struct node_description node = describe(LIMITS, NULL);
	struct node_facts facts = calm();
	struct node_pressure pressure = {0};
	node_pressure_observe(&pressure, &facts, T0);
	_cleanup_json_ json_t *conditions = node_conditions(&node, &facts, &pressure, NULL, T0);
	static const char *const expected[][4] = {
	    {"MemoryPressure", "False", "KubeletHasSufficientMemory",
	     "kubelet has sufficient memory available"},
	    {"DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"},
	    {"PIDPressure", "False", "KubeletHasSufficientPID",
	     "kubelet has sufficient PID available"},
	    {"Ready", "True", "KubeletReady", "kubelet is posting ready status"},
	    {"CgroupLimitsEnforced", "True", "ControllersAvailable",
	     "cpu, memory and pids limits are enforced"},
	};
	assert_int_equal(json_array_size(conditions), 5);
	for (size_t i = 0; i < 5; i++) {
		const json_t *c = json_array_get(conditions, i);
		assert_string_equal(json_string_value(json_object_get(c, "type")), expected[i][0]);
		assert_string_equal(json_string_value(json_object_get(c, "status")),
				    expected[i][1]);
		assert_string_equal(json_string_value(json_object_get(c, "reason")),
				    expected[i][2]);
		assert_string_equal(json_string_value(json_object_get(c, "message")),
				    expected[i][3]);
		assert_string_equal(json_string_value(json_object_get(c, "lastHeartbeatTime")),
				    T0_TEXT);
		assert_string_equal(json_string_value(json_object_get(c, "lastTransitionTime")),
				    T0_TEXT);
	}
}

static void test_transitions_keep_time(void **state)
{
	(void)state;
	struct node_description node = describe(LIMITS, NULL);
	struct node_facts facts = calm();
	struct node_pressure pressure = {0};
	_cleanup_json_ json_t *first = node_conditions(&node, &facts, &pressure, NULL, T0);

	/* Ten seconds later, nothing changed: only the heartbeat moves. */
	_cleanup_json_ json_t *same = node_conditions(&node, &facts, &pressure, first, T0 + 10);
	assert_string_equal(field(same, "MemoryPressure", "lastTransitionTime"), T0_TEXT);
	assert_string_equal(field(same, "Ready", "lastTransitionTime"), T0_TEXT);
	assert_string_equal(field(same, "Ready", "lastHeartbeatTime"), "2026-11-25T12:50:05Z");

	/* Memory runs low: MemoryPressure turns True with a new transition time, the rest keep
	 * theirs. */
	facts.memory_available = 10 * MI;
	node_pressure_observe(&pressure, &facts, T0 + 20);
	_cleanup_json_ json_t *low = node_conditions(&node, &facts, &pressure, same, T0 + 20);
	assert_string_equal(field(low, "MemoryPressure", "status"), "True");
	assert_string_equal(field(low, "MemoryPressure", "reason"), "KubeletHasInsufficientMemory");
	assert_string_equal(field(low, "MemoryPressure", "message"),
			    "kubelet has insufficient memory available");
	assert_string_equal(field(low, "MemoryPressure", "lastTransitionTime"),
			    "2026-11-25T12:50:15Z");
	assert_string_equal(field(low, "DiskPressure", "lastTransitionTime"), T0_TEXT);

	/* Memory is back, but the condition holds for the transition period (5 min) after the
	 * threshold was last seen crossed, then turns False with a new transition time. */
	facts.memory_available = 800 * MI;
	node_pressure_observe(&pressure, &facts, T0 + 30);
	_cleanup_json_ json_t *held = node_conditions(&node, &facts, &pressure, low, T0 + 20 + 299);
	assert_string_equal(field(held, "MemoryPressure", "status"), "True");
	assert_string_equal(field(held, "MemoryPressure", "lastTransitionTime"),
			    "2026-11-25T12:50:15Z");
	_cleanup_json_ json_t *clear =
	    node_conditions(&node, &facts, &pressure, held, T0 + 20 + 300);
	assert_string_equal(field(clear, "MemoryPressure", "status"), "False");
	assert_string_equal(field(clear, "MemoryPressure", "lastTransitionTime"),
			    "2026-11-25T12:55:15Z");

	/* Conditions the node lifecycle controller set to Unknown: ours replace them, with a
	 * transition at the time of writing. */
	_cleanup_json_ json_t *unknown = json_pack("[{s:s, s:s, s:s}]", "type", "Ready", "status",
						   "Unknown", "lastTransitionTime", T0_TEXT);
	_cleanup_json_ json_t *back = node_conditions(&node, &facts, &pressure, unknown, T0 + 900);
	assert_string_equal(field(back, "Ready", "status"), "True");
	assert_string_equal(field(back, "Ready", "lastTransitionTime"), "2026-11-25T13:04:55Z");
}

static void test_pressure_conditions(void **state)
{
	(void)state;
	struct node_description node = describe(LIMITS, NULL);
	struct node_facts facts = calm();
	facts.nodefs.available = 1;
	facts.tasks = facts.task_max;
	struct node_pressure pressure = {0};
	node_pressure_observe(&pressure, &facts, T0);
	_cleanup_json_ json_t *conditions = node_conditions(&node, &facts, &pressure, NULL, T0);
	assert_string_equal(field(conditions, "DiskPressure", "status"), "True");
	assert_string_equal(field(conditions, "DiskPressure", "reason"), "KubeletHasDiskPressure");
	assert_string_equal(field(conditions, "DiskPressure", "message"),
			    "kubelet has disk pressure");
	assert_string_equal(field(conditions, "PIDPressure", "status"), "True");
	assert_string_equal(field(conditions, "PIDPressure", "reason"),
			    "KubeletHasInsufficientPID");
	assert_string_equal(field(conditions, "PIDPressure", "message"),
			    "kubelet has insufficient PID available");
	assert_string_equal(field(conditions, "MemoryPressure", "status"), "False");
	/* Pressure does not make the node NotReady (the taints keep pods away). */
	assert_string_equal(field(conditions, "Ready", "status"), "True");
}

static void test_not_ready_without_capacity(void **state)
{
	(void)state;
	struct node_description node = describe(LIMITS, NULL);
	struct node_facts facts = calm();
	facts.memory_total = -1;
	facts.nodefs.capacity = -1;
	struct node_pressure pressure = {0};
	_cleanup_json_ json_t *conditions = node_conditions(&node, &facts, &pressure, NULL, T0);
	assert_string_equal(field(conditions, "Ready", "status"), "False");
	assert_string_equal(field(conditions, "Ready", "reason"), "KubeletNotReady");
	assert_string_equal(field(conditions, "Ready", "message"),
			    "missing node capacity for resources: memory, ephemeral-storage");
}

/* --- Limits the node cannot enforce --------------------------------------------------------- */

static void test_unenforced_limits(void **state)
{
	(void)state;
	char text[64];
	node_unenforced_limits(CGROUP_HUGETLB, text, sizeof(text));
	assert_string_equal(text, "cpu,memory,pids");
	node_unenforced_limits(LIMITS | CGROUP_IO, text, sizeof(text));
	assert_string_equal(text, "");
	node_unenforced_limits(CGROUP_CPU | CGROUP_PIDS, text, sizeof(text));
	assert_string_equal(text, "memory");

	const char *missing = "cpu, memory and pids limits are not enforced: the cgroup2 "
			      "hierarchy at /sys/fs/cgroup/unified offers only hugetlb";
	struct node_description node = describe(CGROUP_HUGETLB, missing);
	struct node_facts facts = calm();
	struct node_pressure pressure = {0};
	_cleanup_json_ json_t *conditions = node_conditions(&node, &facts, &pressure, NULL, T0);
	assert_string_equal(field(conditions, "CgroupLimitsEnforced", "status"), "False");
	assert_string_equal(field(conditions, "CgroupLimitsEnforced", "reason"),
			    "ControllersMissing");
	assert_string_equal(field(conditions, "CgroupLimitsEnforced", "message"), missing);
	/* The node still runs pods: missing limits do not make it NotReady. */
	assert_string_equal(field(conditions, "Ready", "status"), "True");

	_cleanup_json_ json_t *annotations = node_annotations(&node);
	assert_string_equal(
	    json_string_value(json_object_get(annotations, NODE_UNENFORCED_LIMITS_ANNOTATION)),
	    "cpu,memory,pids");
	_cleanup_json_ json_t *object = node_object(&node, json_object());
	assert_string_equal(
	    json_string_value(json_object_get(json_path(object, "metadata.annotations"),
					      NODE_UNENFORCED_LIMITS_ANNOTATION)),
	    "cpu,memory,pids");

	/* Everything enforced: a patch removes the annotation, a new Node has none. */
	struct node_description full = describe(LIMITS, NULL);
	_cleanup_json_ json_t *patch = node_annotations(&full);
	assert_true(json_is_null(json_object_get(patch, NODE_UNENFORCED_LIMITS_ANNOTATION)));
	_cleanup_json_ json_t *created = node_object(&full, json_object());
	assert_int_equal(json_object_size(json_path(created, "metadata.annotations")), 0);
}

/* --- The Node as JSON ------------------------------------------------------------------------ */

static void test_status_json(void **state)
{
	(void)state;
	struct node_description node = describe(LIMITS, NULL);
	struct node_facts facts = calm();
	facts.nodefs.capacity = 10000000000;
	struct node_pressure pressure = {0};
	_cleanup_json_ json_t *status =
	    node_status_json(&node, &facts, node_conditions(&node, &facts, &pressure, NULL, T0));
	assert_string_equal(json_path_string(status, "capacity.cpu"), "2");
	assert_string_equal(json_path_string(status, "capacity.memory"), "1Gi");
	assert_string_equal(json_path_string(status, "allocatable.memory"), "924Mi");
	assert_string_equal(json_path_string(status, "capacity.ephemeral-storage"), "9765625Ki");
	/* What is left after 10 % has no binary suffix that divides it. */
	assert_string_equal(json_path_string(status, "allocatable.ephemeral-storage"),
			    "9000000000");
	assert_string_equal(json_path_string(status, "capacity.pods"), "110");
	assert_string_equal(json_path_string(status, "allocatable.pods"), "110");
	assert_string_equal(json_path_string(status, "capacity.hugepages-2Mi"), "0");
	assert_string_equal(json_path_string(status, "allocatable.hugepages-1Gi"), "0");
	const json_t *addresses = json_object_get(status, "addresses");
	assert_string_equal(field(addresses, "InternalIP", "address"), "192.0.2.7");
	assert_string_equal(field(addresses, "Hostname", "address"), "n1");
	assert_int_equal(
	    json_integer_value(json_path(status, "daemonEndpoints.kubeletEndpoint.Port")), 10250);
	assert_string_equal(json_path_string(status, "nodeInfo.machineID"), "m-id");
	assert_string_equal(json_path_string(status, "nodeInfo.bootID"), "b-id");
	assert_string_equal(json_path_string(status, "nodeInfo.containerRuntimeVersion"),
			    "ckube://" CKUBE_VERSION);
	assert_string_equal(json_path_string(status, "nodeInfo.kubeletVersion"),
			    CKUBE_KUBERNETES_GIT_VERSION);
	assert_string_equal(json_path_string(status, "nodeInfo.kubeProxyVersion"),
			    CKUBE_KUBERNETES_GIT_VERSION);
	assert_string_equal(json_path_string(status, "nodeInfo.operatingSystem"), "linux");
	assert_string_equal(json_path_string(status, "nodeInfo.architecture"), "amd64");
	assert_string_equal(json_path_string(status, "nodeInfo.osImage"),
			    "Debian GNU/Linux 12 (bookworm)");

	/* Tiny memory: allocatable does not go negative. */
	facts.memory_total = 50 * MI;
	_cleanup_json_ json_t *tiny = node_status_json(&node, &facts, json_array());
	assert_string_equal(json_path_string(tiny, "allocatable.memory"), "0");

	_cleanup_json_ json_t *labels = node_labels(&node);
	assert_string_equal(json_string_value(json_object_get(labels, "kubernetes.io/hostname")),
			    "n1");
	assert_string_equal(json_string_value(json_object_get(labels, "kubernetes.io/os")),
			    "linux");
	assert_string_equal(json_string_value(json_object_get(labels, "kubernetes.io/arch")),
			    "amd64");
}

static void test_status_differs(void **state)
{
	(void)state;
	struct node_description node = describe(LIMITS, NULL);
	struct node_facts facts = calm();
	struct node_pressure pressure = {0};
	_cleanup_json_ json_t *written =
	    node_status_json(&node, &facts, node_conditions(&node, &facts, &pressure, NULL, T0));

	/* The API's copy, with what others added: an extra resource, an extra condition, images. */
	_cleanup_json_ json_t *current = json_deep_copy(written);
	json_object_set_new(json_object_get(current, "capacity"), "example.com/gpu",
			    json_string("1"));
	json_array_append_new(
	    json_object_get(current, "conditions"),
	    json_pack("{s:s, s:s}", "type", "NetworkUnavailable", "status", "False"));
	json_object_set_new(current, "images", json_array());

	/* Later, the same machine: only heartbeats differ. */
	_cleanup_json_ json_t *later =
	    node_status_json(&node, &facts,
			     node_conditions(&node, &facts, &pressure,
					     json_object_get(current, "conditions"), T0 + 10));
	assert_false(node_status_differs(later, current));

	/* A condition set Unknown by the node lifecycle controller. */
	json_t *ready = (json_t *)find_type(json_object_get(current, "conditions"), "Ready");
	json_object_set_new(ready, "status", json_string("Unknown"));
	assert_true(node_status_differs(later, current));
	json_object_set_new(ready, "status", json_string("True"));
	assert_false(node_status_differs(later, current));

	/* Memory capacity changed (a resized virtual machine). */
	facts.memory_total = 2048 * MI;
	_cleanup_json_ json_t *grown =
	    node_status_json(&node, &facts, node_conditions(&node, &facts, &pressure, NULL, T0));
	assert_true(node_status_differs(grown, current));

	/* The Node without status (created by someone else), or without one of our addresses. */
	_cleanup_json_ json_t *empty = json_object();
	assert_true(node_status_differs(later, empty));
	json_array_remove(json_object_get(current, "addresses"), 0);
	assert_true(node_status_differs(later, current));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_meminfo),
	    cmocka_unit_test(test_loadavg),
	    cmocka_unit_test(test_os_release),
	    cmocka_unit_test(test_go_arch),
	    cmocka_unit_test_setup_teardown(test_facts_from_files, make_root, remove_root),
	    cmocka_unit_test_setup_teardown(test_system_info_from_files, make_root, remove_root),
	    cmocka_unit_test(test_memory_threshold),
	    cmocka_unit_test(test_disk_thresholds),
	    cmocka_unit_test(test_pid_threshold),
	    cmocka_unit_test(test_calm_conditions),
	    cmocka_unit_test(test_transitions_keep_time),
	    cmocka_unit_test(test_pressure_conditions),
	    cmocka_unit_test(test_not_ready_without_capacity),
	    cmocka_unit_test(test_unenforced_limits),
	    cmocka_unit_test(test_status_json),
	    cmocka_unit_test(test_status_differs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
