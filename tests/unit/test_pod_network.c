/* The pod network end to end on real kernel objects: bridge, veth pairs, addresses, routes,
 * forwarding and the masquerade table, checked with `ip -j` and `nft` and with TCP between pod
 * namespaces.
 *
 * Needs root, and skips otherwise. main() moves the whole process into a network namespace and
 * a mount namespace of its own before any test runs, and each test's setup moves it into a
 * fresh network namespace made from that one, so nothing here ever reaches the machine's own
 * network, and every test starts from a namespace with only its loopback. Pod namespaces are
 * files under a temporary directory, unpinned and removed by each test's teardown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/fsutil.h"
#include "netns/ipam.h"
#include "lib/ipv4_cidr.h"
#include "netns/netns_file.h"
#include "netns/pod_interface.h"
#include "netns/pod_network.h"
#include "tests/unit/shell_output.h"
#include "netns/rtnl_requests.h"

#define MAX_PODS 12
#define POD_CIDR "10.244.5.0/24"
/* 02:cb, then 10.244.5 and the prefix 24 (bridge.c). */
#define POD_BRIDGE_MAC "02:cb:0a:f4:05:18"

/* Why the tests cannot run here, or NULL when they can. */
static const char *skip_reason;
/* The machine's network namespace: checked against before anything is changed. */
static ino_t machine_netns;

struct pod {
	char id[32];
	char path[128]; /* its namespace file */
	int fd;
	uint32_t address;
	char node_end[IF_NAMESIZE];
};

struct world {
	char dir[64]; /* the state directory, and the pods' namespace files */
	struct pod_network *network;
	struct pod_network *other; /* a second one, for the tests that need two */
	struct pod pods[MAX_PODS];
	size_t pod_count;
};

static ino_t inode_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_ino : 0;
}

static int loopback_up(void)
{
	struct ifreq request = {.ifr_name = "lo"};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r = -1;

	if (fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &request) == 0) {
		request.ifr_flags |= IFF_UP;
		r = ioctl(fd, SIOCSIFFLAGS, &request);
	}
	if (fd >= 0)
		close(fd);
	return r;
}

/* True when this thread is in a namespace that is neither the machine's nor PID 1's. */
static bool in_private_netns(void)
{
	ino_t here = inode_of("/proc/thread-self/ns/net");

	return here && machine_netns && here != machine_netns && here != inode_of("/proc/1/ns/net");
}

static void need_root(void)
{
	if (skip_reason) {
		print_message("skipped: %s\n", skip_reason);
		skip();
	}
}

/* Runs a command that has to succeed. */
static void must(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void must(const char *fmt, ...)
{
	char command[512], out[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(command, sizeof(command), fmt, ap);
	va_end(ap);
	if (shell_output(out, sizeof(out), "%s", command) != 0)
		fail_msg("%s: %s", command, out);
}

/* `ip -j ARGS` in the test's namespace (netns NULL) or in a pod's; NULL when ip fails (a link
 * that does not exist). */
static json_t *ip_json(const char *netns, const char *args)
{
	static char out[256 * 1024];
	json_error_t error;
	json_t *root;

	if (shell_output(out, sizeof(out), "%s%s%sip -j %s", netns ? "nsenter --net=" : "",
			 netns ? netns : "", netns ? " -- " : "", args) != 0)
		return NULL;
	root = json_loads(out, 0, &error);
	if (!root || !json_is_array(root))
		fail_msg("ip -j %s: not a JSON array: %s", args, out);
	return root;
}

/* The one object `ip -j -d link show dev NAME` prints, or NULL. */
static json_t *link_json(const char *netns, const char *name)
{
	char args[128];
	json_t *all, *one;

	snprintf(args, sizeof(args), "-d link show dev %s", name);
	all = ip_json(netns, args);
	if (!all)
		return NULL;
	assert_int_equal(json_array_size(all), 1);
	one = json_incref(json_array_get(all, 0));
	json_decref(all);
	return one;
}

static size_t count_of(const char *netns, const char *args)
{
	json_t *all = ip_json(netns, args);
	size_t n;

	assert_non_null(all);
	n = json_array_size(all);
	json_decref(all);
	return n;
}

static bool has_flag(const json_t *link, const char *flag)
{
	size_t i;
	json_t *item;

	json_array_foreach (json_object_get(link, "flags"), i, item)
		if (!strcmp(json_string_value(item), flag))
			return true;
	return false;
}

static const char *string_of(const json_t *object, const char *key)
{
	const char *value = json_string_value(json_object_get(object, key));

	return value ? value : "";
}

/* The link's IPv4 addresses as "a.b.c.d/n", comma-separated, in `out`. */
static const char *ipv4_addresses(const char *netns, const char *name, char *out, size_t len)
{
	char args[128];
	json_t *all, *item;
	size_t i;

	snprintf(args, sizeof(args), "addr show dev %s", name);
	all = ip_json(netns, args);
	assert_non_null(all);
	assert_int_equal(json_array_size(all), 1);
	out[0] = '\0';
	json_array_foreach (json_object_get(json_array_get(all, 0), "addr_info"), i, item) {
		if (strcmp(string_of(item, "family"), "inet") != 0)
			continue;
		snprintf(out + strlen(out), len - strlen(out), "%s%s/%lld", out[0] ? "," : "",
			 string_of(item, "local"),
			 (long long)json_integer_value(json_object_get(item, "prefixlen")));
	}
	json_decref(all);
	return out;
}

static void read_sysctl(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");

	if (!f)
		fail_msg("open %s: %s", path, strerror(errno));
	if (!fgets(out, (int)len, f))
		out[0] = '\0';
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
}

static void assert_forwarding(const char *ifname, const char *expected)
{
	char path[128], value[16];

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", ifname);
	read_sysctl(path, value, sizeof(value));
	if (strcmp(value, expected) != 0)
		fail_msg("%s: %s, expected %s", path, value, expected);
}

static uint32_t address_of(const char *text)
{
	uint32_t address;

	assert_int_equal(ipv4_address_parse(text, &address, NULL), 0);
	return address;
}

static int world_setup(void **state)
{
	struct world *w;

	if (skip_reason)
		return 0;
	/* A fresh namespace made from the test's own: whatever the last test left goes with its
	 * namespace, and the checks below see only this test's objects. */
	if (unshare(CLONE_NEWNET) < 0 || !in_private_netns() || loopback_up() < 0) {
		print_error("could not enter a fresh private network namespace\n");
		return -1;
	}
	w = calloc(1, sizeof(*w));
	assert_non_null(w);
	snprintf(w->dir, sizeof(w->dir), "/tmp/ckube-podnet-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	struct world *w = *state;
	struct ck_error err = {0};
	int r = 0;

	if (!w)
		return 0;
	pod_network_close(w->network);
	pod_network_close(w->other);
	for (size_t i = 0; i < w->pod_count; i++) {
		if (w->pods[i].fd >= 0)
			close(w->pods[i].fd);
		if (netns_file_remove(w->pods[i].path, &err) < 0) {
			print_error("%s\n", err.message);
			r = -1;
		}
	}
	if (fs_remove_tree(AT_FDCWD, w->dir, &err) < 0) {
		print_error("%s\n", err.message);
		r = -1;
	}
	free(w);
	*state = NULL;
	return r;
}

static struct pod_network *open_network(struct world *w, const char *bridge, const char *pod_cidr,
					const char *cluster_cidr, const char *node_ip)
{
	const struct pod_network_config config = {.bridge = bridge,
						  .pod_cidr = pod_cidr,
						  .cluster_cidr = cluster_cidr,
						  .node_ip = node_ip,
						  .state_dir = w->dir};
	struct pod_network *network = NULL;
	struct ck_error err = {0};

	assert_true(in_private_netns());
	if (pod_network_open(&config, &network, &err) < 0)
		fail_msg("open the pod network %s on %s: %s", pod_cidr, bridge ? bridge : "ckube0",
			 err.message);
	assert_non_null(network);
	return network;
}

/* Opening that is expected to fail: returns the error, with nothing to close. */
static int open_refused(struct world *w, const struct pod_network_config *config,
			struct ck_error *err)
{
	struct pod_network_config with_dir = *config;
	struct pod_network *network = NULL;
	int r;

	assert_true(in_private_netns());
	with_dir.state_dir = w->dir;
	r = pod_network_open(&with_dir, &network, err);
	if (r == 0) {
		pod_network_close(network);
		fail_msg("pod network %s opened", config->pod_cidr);
	}
	assert_null(network);
	return r;
}

/* A new pod: its namespace file and id, not yet on the network. */
static struct pod *new_pod(struct world *w, const char *id)
{
	char path[sizeof(w->pods[0].path)];
	struct pod *pod;
	struct ck_error err = {0};
	struct stat st;

	assert_true(w->pod_count < MAX_PODS);
	pod = &w->pods[w->pod_count++];
	snprintf(pod->id, sizeof(pod->id), "%s", id);
	/* Through a copy: the compiler cannot tell the pod's path from the world's directory. */
	snprintf(path, sizeof(path), "%s/netns-%s", w->dir, id);
	memcpy(pod->path, path, sizeof(path));
	pod->fd = netns_file_open_or_create(pod->path, &err);
	if (pod->fd < 0)
		fail_msg("%s", err.message);
	assert_int_equal(fstat(pod->fd, &st), 0);
	pod_interface_node_name(id, (uint64_t)st.st_ino, pod->node_end);
	return pod;
}

static int try_add(struct pod_network *network, struct pod *pod, uint32_t *address,
		   bool *bridge_remade, struct ck_error *err)
{
	*bridge_remade = true;
	return pod_network_add(network, pod->id, pod->fd, address, bridge_remade, err);
}

static void add(struct pod_network *network, struct pod *pod)
{
	struct ck_error err = {0};
	bool remade;

	if (try_add(network, pod, &pod->address, &remade, &err) < 0)
		fail_msg("add pod %s: %s", pod->id, err.message);
	assert_false(remade);
}

static struct pod *add_new_pod(struct world *w, const char *id)
{
	struct pod *pod = new_pod(w, id);

	add(w->network, pod);
	return pod;
}

/* A veth pair in the test's namespace, both ends up, `address` on the first. */
static void veth_with_address(const char *name, const char *peer, const char *address)
{
	must("ip link add %s type veth peer name %s", name, peer);
	must("ip addr add %s dev %s", address, name);
	must("ip link set %s up", name);
	must("ip link set %s up", peer);
}

static void assert_bridge(const char *name, const char *mac, const char *gateway)
{
	char text[256];
	json_t *bridge = link_json(NULL, name);

	if (!bridge)
		fail_msg("no link %s", name);
	assert_string_equal(string_of(json_object_get(bridge, "linkinfo"), "info_kind"), "bridge");
	assert_true(has_flag(bridge, "UP"));
	assert_string_equal(string_of(bridge, "address"), mac);
	json_decref(bridge);
	assert_string_equal(ipv4_addresses(NULL, name, text, sizeof(text)), gateway);
	assert_forwarding(name, "1");
}

/* The pod's side: eth0 up with its address alone, the default route through the gateway; the
 * node's side: its veth a port of `bridge`, up, both ends with `mtu`. */
static void assert_pod_wired(const struct pod *pod, unsigned prefix, const char *gateway,
			     const char *bridge, int mtu)
{
	char text[256], expected[64], address[IPV4_TEXT_MAX + 1];
	json_t *eth0 = link_json(pod->path, "eth0"), *node_end = link_json(NULL, pod->node_end);
	json_t *routes;

	if (!eth0)
		fail_msg("pod %s: no eth0", pod->id);
	if (!node_end)
		fail_msg("pod %s: no node end %s", pod->id, pod->node_end);
	assert_true(has_flag(eth0, "UP"));
	assert_true(has_flag(eth0, "LOWER_UP"));
	assert_int_equal(json_integer_value(json_object_get(eth0, "mtu")), mtu);
	assert_string_equal(string_of(json_object_get(eth0, "linkinfo"), "info_kind"), "veth");
	json_decref(eth0);
	snprintf(expected, sizeof(expected), "%s/%u", ipv4_address_format(pod->address, address),
		 prefix);
	assert_string_equal(ipv4_addresses(pod->path, "eth0", text, sizeof(text)), expected);

	routes = ip_json(pod->path, "route show default");
	assert_non_null(routes);
	assert_int_equal(json_array_size(routes), 1);
	assert_string_equal(string_of(json_array_get(routes, 0), "gateway"), gateway);
	assert_string_equal(string_of(json_array_get(routes, 0), "dev"), "eth0");
	json_decref(routes);

	assert_string_equal(string_of(node_end, "master"), bridge);
	assert_true(has_flag(node_end, "UP"));
	/* A pod's packet to its own Service may come back out its port (br_netfilter). */
	assert_true(json_is_true(json_object_get(
	    json_object_get(json_object_get(node_end, "linkinfo"), "info_slave_data"), "hairpin")));
	assert_string_equal(string_of(json_object_get(node_end, "linkinfo"), "info_kind"), "veth");
	assert_int_equal(json_integer_value(json_object_get(node_end, "mtu")), mtu);
	json_decref(node_end);
}

static void open_makes_the_bridge(void **state)
{
	struct world *w = *state;
	char all_before[16], all_after[16], text[IPV4_TEXT_MAX + 1];

	need_root();
	read_sysctl("/proc/sys/net/ipv4/conf/all/forwarding", all_before, sizeof(all_before));
	w->network = open_network(w, NULL, POD_CIDR, NULL, NULL);
	assert_string_equal(ipv4_cidr_format(pod_network_cidr(w->network), text), POD_CIDR);
	assert_bridge("ckube0", POD_BRIDGE_MAC, "10.244.5.1/24");
	/* Per interface: the namespace-wide switch is left as it was. */
	read_sysctl("/proc/sys/net/ipv4/conf/all/forwarding", all_after, sizeof(all_after));
	assert_string_equal(all_after, all_before);
	/* No cluster CIDR: no masquerade table. */
	if (system("nft --version >/dev/null 2>&1") == 0)
		assert_int_not_equal(
		    shell_output(text, sizeof(text), "nft list table ip ckube-network"), 0);
}

/* An agent restart: the second open finds its own bridge and route and takes them as they are;
 * the addresses handed out before are still the pods'. */
static void open_again_keeps_everything(void **state)
{
	struct world *w = *state;
	struct pod *pod;
	uint32_t first;
	size_t links;

	need_root();
	w->network = open_network(w, NULL, POD_CIDR, NULL, NULL);
	pod = add_new_pod(w, "pod-a");
	first = pod->address;
	links = count_of(NULL, "link show");
	w->other = open_network(w, NULL, POD_CIDR, NULL, NULL);
	add(w->other, pod);
	assert_int_equal(pod->address, first);
	assert_int_equal(count_of(NULL, "link show"), links);
	assert_bridge("ckube0", POD_BRIDGE_MAC, "10.244.5.1/24");
	assert_pod_wired(pod, 24, "10.244.5.1", "ckube0", 1500);
}

static void pods_get_distinct_addresses_and_wired_interfaces(void **state)
{
	struct world *w = *state;
	const struct ipv4_cidr *cidr;
	static const char *const ids[] = {"pod-a", "pod-b", "pod-c"};

	need_root();
	w->network = open_network(w, NULL, POD_CIDR, NULL, NULL);
	cidr = pod_network_cidr(w->network);
	for (size_t i = 0; i < 3; i++) {
		struct pod *pod = add_new_pod(w, ids[i]);
		assert_true(ipv4_cidr_contains(cidr, pod->address));
		assert_int_not_equal(pod->address, address_of("10.244.5.0"));
		assert_int_not_equal(pod->address, address_of("10.244.5.1"));
		assert_int_not_equal(pod->address, address_of("10.244.5.255"));
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(pod->address, w->pods[j].address);
	}
	for (size_t i = 0; i < 3; i++)
		assert_pod_wired(&w->pods[i], 24, "10.244.5.1", "ckube0", 1500);
	/* Three ports, and the pods' names on the node are all different. */
	assert_int_equal(count_of(NULL, "link show master ckube0"), 3);
	assert_string_not_equal(w->pods[0].node_end, w->pods[1].node_end);
	assert_string_not_equal(w->pods[1].node_end, w->pods[2].node_end);
	assert_int_equal(strncmp(w->pods[0].node_end, "ck", 2), 0);
	assert_int_equal(strlen(w->pods[0].node_end), 14);
}

static void adding_again_changes_nothing(void **state)
{
	struct world *w = *state;
	char before[256], after[256];
	size_t node_links, pod_links;
	struct pod *a, *b;

	need_root();
	w->network = open_network(w, NULL, POD_CIDR, NULL, NULL);
	a = add_new_pod(w, "pod-a");
	b = add_new_pod(w, "pod-b");
	node_links = count_of(NULL, "link show");
	pod_links = count_of(a->path, "link show");
	ipv4_addresses(a->path, "eth0", before, sizeof(before));
	for (int round = 0; round < 2; round++) {
		uint32_t first = a->address;
		add(w->network, a);
		assert_int_equal(a->address, first);
	}
	assert_int_equal(count_of(NULL, "link show"), node_links);
	assert_int_equal(count_of(a->path, "link show"), pod_links);
	assert_string_equal(ipv4_addresses(a->path, "eth0", after, sizeof(after)), before);
	assert_int_equal(count_of(a->path, "route show"), 2); /* default, and the /24 itself */
	assert_pod_wired(a, 24, "10.244.5.1", "ckube0", 1500);
	assert_pod_wired(b, 24, "10.244.5.1", "ckube0", 1500);
}

/* Connects to address:port, sends `message`, expects it back behind "echo ". 0 on success,
 * else a distinct small number for the step that failed. Safe in a forked child. */
static int talk(uint32_t address, uint16_t port, const char *message)
{
	struct sockaddr_in to = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(address)};
	struct timeval timeout = {.tv_sec = 5};
	char expected[128], reply[128];
	size_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int r = 0;

	if (fd < 0)
		return 10;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
	snprintf(expected, sizeof(expected), "echo %s", message);
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0)
		r = 11;
	else if (write(fd, message, strlen(message)) != (ssize_t)strlen(message))
		r = 12;
	else if (shutdown(fd, SHUT_WR) < 0)
		r = 13;
	while (r == 0 && got < sizeof(reply) - 1) {
		ssize_t n = read(fd, reply + got, sizeof(reply) - 1 - got);
		if (n < 0)
			r = 14;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	reply[got] = '\0';
	if (r == 0 && strcmp(reply, expected) != 0)
		r = 15;
	close(fd);
	return r;
}

/* Ends a forked child with exit(), not _exit(): libnl's destructors then free the tables its
 * constructors made, so a child run under valgrind ends as clean as the test itself. */
static void child_exit(int code) __attribute__((noreturn));
static void child_exit(int code)
{
	exit(code);
}

static pid_t fork_checked(void)
{
	pid_t child;

	/* What the parent has buffered must not be written again by the child's exit(). */
	fflush(NULL);
	child = fork();

	assert_true(child >= 0);
	if (child == 0)
		alarm(10); /* a child never outlives a hung test */
	return child;
}

static int wait_exit_code(pid_t child)
{
	int status;

	assert_int_equal(waitpid(child, &status, 0), child);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A child in the pod's namespace that listens on address:port and echoes `connections`
 * messages back, each behind "echo ". Returns once it listens. */
static pid_t echo_server_in(const struct pod *pod, uint16_t port, int connections)
{
	int ready[2];
	char byte = 0;
	pid_t child;

	assert_int_equal(pipe(ready), 0);
	child = fork_checked();
	if (child == 0) {
		struct sockaddr_in at = {.sin_family = AF_INET,
					 .sin_port = htons(port),
					 .sin_addr.s_addr = htonl(pod->address)};
		int one = 1, listener;

		close(ready[0]);
		if (setns(pod->fd, CLONE_NEWNET) < 0)
			child_exit(20);
		listener = socket(AF_INET, SOCK_STREAM, 0);
		if (listener < 0 ||
		    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    bind(listener, (struct sockaddr *)&at, sizeof(at)) < 0 ||
		    listen(listener, 4) < 0)
			child_exit(21);
		if (write(ready[1], "r", 1) != 1)
			child_exit(22);
		for (int i = 0; i < connections; i++) {
			char buf[128] = "echo ";
			size_t got = 5;
			int fd = accept(listener, NULL, NULL);
			ssize_t n;
			if (fd < 0)
				child_exit(23);
			while (got < sizeof(buf) &&
			       (n = read(fd, buf + got, sizeof(buf) - got)) > 0)
				got += (size_t)n;
			if (write(fd, buf, got) != (ssize_t)got)
				child_exit(24);
			close(fd);
		}
		child_exit(0);
	}
	close(ready[1]);
	/* One byte once it listens; none if it failed before. */
	assert_int_equal(read(ready[0], &byte, 1), 1);
	close(ready[0]);
	return child;
}

/* talk() from a child inside `from`'s namespace; returns talk()'s result. */
static int talk_from(const struct pod *from, uint32_t address, uint16_t port, const char *message)
{
	pid_t child = fork_checked();

	if (child == 0) {
		if (setns(from->fd, CLONE_NEWNET) < 0)
			child_exit(30);
		child_exit(talk(address, port, message));
	}
	return wait_exit_code(child);
}

static void pods_and_node_talk_tcp(void **state)
{
	struct world *w = *state;
	struct pod *a, *b;
	pid_t server;

	need_root();
	w->network = open_network(w, NULL, POD_CIDR, NULL, NULL);
	a = add_new_pod(w, "pod-a");
	b = add_new_pod(w, "pod-b");
	server = echo_server_in(a, 7070, 2);
	assert_int_equal(talk_from(b, a->address, 7070, "from pod b"), 0);
	/* From the node, through the bridge's address. */
	assert_int_equal(talk(a->address, 7070, "from the node"), 0);
	assert_int_equal(wait_exit_code(server), 0);
}

static struct ipam *open_ipam(const struct world *w, const char *cidr)
{
	char dir[128];
	struct ck_error err = {0};
	struct ipam *ipam = NULL;

	snprintf(dir, sizeof(dir), "%s/ipam", w->dir);
	if (ipam_open(dir, cidr, &ipam, &err) < 0)
		fail_msg("%s", err.message);
	return ipam;
}

/* Polls for up to two seconds: the kernel removes a let-go namespace's links a moment later. */
static bool link_gone_within_2s(const char *name)
{
	for (int i = 0; i < 200; i++) {
		if (if_nametoindex(name) == 0)
			return true;
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
	}
	return false;
}

static void removing_a_pod_frees_its_address_and_veth(void **state)
{
	struct world *w = *state;
	struct ck_error err = {0};
	struct ipam *ipam;
	struct pod *a, *b;
	uint32_t held;

	need_root();
	w->network = open_network(w, NULL, POD_CIDR, NULL, NULL);
	a = add_new_pod(w, "pod-a");
	b = add_new_pod(w, "pod-b");
	assert_true(if_nametoindex(a->node_end) > 0);

	assert_int_equal(pod_network_remove(w->network, a->id, &err), 0);
	close(a->fd);
	a->fd = -1;
	assert_int_equal(netns_file_remove(a->path, &err), 0);
	ipam = open_ipam(w, POD_CIDR);
	assert_int_equal(ipam_lookup(ipam, a->id, &held, &err), -ENOENT);
	assert_int_equal(ipam_lookup(ipam, b->id, &held, &err), 0);
	assert_int_equal(held, b->address);
	ipam_close(ipam);
	assert_true(link_gone_within_2s(a->node_end));
	assert_int_equal(count_of(NULL, "link show master ckube0"), 1);
	assert_pod_wired(b, 24, "10.244.5.1", "ckube0", 1500);
	/* Removing again is fine. */
	assert_int_equal(pod_network_remove(w->network, a->id, &err), 0);
}

/* A pod whose sandbox is made again gets a new namespace under the same id at once, while the
 * kernel may still be removing the old one's veth. */
static void same_pod_in_a_new_namespace_right_after_removal(void **state)
{
	struct world *w = *state;
	struct ck_error err = {0};
	struct pod *first, *second;
	char first_end[IF_NAMESIZE];

	need_root();
	w->network = open_network(w, NULL, POD_CIDR, NULL, NULL);
	for (int round = 0; round < 5; round++) {
		first = add_new_pod(w, "pod-a");
		memcpy(first_end, first->node_end, sizeof(first_end));
		close(first->fd);
		first->fd = -1;
		assert_int_equal(netns_file_remove(first->path, &err), 0);
		/* Not released: the pod keeps its address across its sandboxes. */
		second = new_pod(w, "pod-a");
		add(w->network, second);
		assert_int_equal(second->address, first->address);
		assert_pod_wired(second, 24, "10.244.5.1", "ckube0", 1500);
		if (strcmp(first_end, second->node_end) != 0)
			assert_true(link_gone_within_2s(first_end));
		assert_int_equal(count_of(NULL, "link show master ckube0"), 1);
		close(second->fd);
		second->fd = -1;
		assert_int_equal(netns_file_remove(second->path, &err), 0);
		assert_true(link_gone_within_2s(second->node_end));
	}
}

static void removed_bridge_is_made_again(void **state)
{
	struct world *w = *state;
	struct ck_error err = {0};
	struct pod *a, *b, *c;
	uint32_t address;
	bool remade;
	pid_t server;

	need_root();
	w->network = open_network(w, NULL, POD_CIDR, NULL, NULL);
	a = add_new_pod(w, "pod-a");
	b = add_new_pod(w, "pod-b");
	must("ip link del ckube0");
	assert_int_equal(if_nametoindex("ckube0"), 0);

	c = new_pod(w, "pod-c");
	if (try_add(w->network, c, &c->address, &remade, &err) < 0)
		fail_msg("add pod-c: %s", err.message);
	assert_true(remade);
	assert_bridge("ckube0", POD_BRIDGE_MAC, "10.244.5.1/24");
	assert_pod_wired(c, 24, "10.244.5.1", "ckube0", 1500);
	/* The others' veths lost their bridge with it until they are added again. */
	assert_int_equal(count_of(NULL, "link show master ckube0"), 1);

	address = a->address;
	if (try_add(w->network, a, &a->address, &remade, &err) < 0)
		fail_msg("add pod-a again: %s", err.message);
	assert_false(remade);
	assert_int_equal(a->address, address);
	assert_pod_wired(a, 24, "10.244.5.1", "ckube0", 1500);
	add(w->network, b);
	assert_pod_wired(b, 24, "10.244.5.1", "ckube0", 1500);
	assert_int_equal(count_of(NULL, "link show master ckube0"), 3);

	server = echo_server_in(a, 7071, 2);
	assert_int_equal(talk_from(c, a->address, 7071, "from the new pod"), 0);
	assert_int_equal(talk(a->address, 7071, "from the node"), 0);
	assert_int_equal(wait_exit_code(server), 0);
}

/* Without the pod added again, its veth has no bridge: the first add after the bridge is gone
 * may be an existing pod's too. */
static void existing_pod_first_after_bridge_removed(void **state)
{
	struct world *w = *state;
	struct ck_error err = {0};
	uint32_t address;
	struct pod *a;
	bool remade;

	need_root();
	w->network = open_network(w, NULL, POD_CIDR, NULL, NULL);
	a = add_new_pod(w, "pod-a");
	address = a->address;
	must("ip link del ckube0");
	if (try_add(w->network, a, &a->address, &remade, &err) < 0)
		fail_msg("add pod-a again: %s", err.message);
	assert_true(remade);
	assert_int_equal(a->address, address);
	assert_bridge("ckube0", POD_BRIDGE_MAC, "10.244.5.1/24");
	assert_pod_wired(a, 24, "10.244.5.1", "ckube0", 1500);
}

static void link_of_the_bridge_name_that_is_no_bridge(void **state)
{
	struct world *w = *state;
	struct pod_network_config config = {.bridge = "notbr0", .pod_cidr = "10.244.9.0/24"};
	struct ck_error err = {0};
	char text[256];

	need_root();
	must("ip link add notbr0 type veth peer name notbr1");
	assert_int_equal(open_refused(w, &config, &err), -EEXIST);
	assert_int_equal(err.code, EEXIST);
	assert_string_equal(err.message, "pod network 10.244.9.0/24: bridge notbr0: the link "
					 "exists and is not a bridge");
	/* Refused before it was changed. */
	assert_string_equal(ipv4_addresses(NULL, "notbr0", text, sizeof(text)), "");

	config.bridge = "lo";
	ck_error_clear(&err);
	assert_int_equal(open_refused(w, &config, &err), -EEXIST);
	assert_non_null(strstr(err.message, "bridge lo: the link exists and is not a bridge"));
	assert_string_equal(ipv4_addresses(NULL, "lo", text, sizeof(text)), "127.0.0.1/8");
}

static void pod_cidr_routed_elsewhere_is_refused(void **state)
{
	struct world *w = *state;
	const struct pod_network_config config = {.bridge = "ckube1", .pod_cidr = "10.244.6.0/24"};
	const struct pod_network_config larger = {.bridge = "ckube1", .pod_cidr = "10.244.0.0/16"};
	struct ck_error err = {0};

	need_root();
	veth_with_address("vx0", "vx1", "10.244.6.1/24");
	assert_int_equal(open_refused(w, &config, &err), -EADDRINUSE);
	assert_string_equal(err.message, "pod network 10.244.6.0/24: pod CIDR 10.244.6.0/24 "
					 "overlaps the node's route to 10.244.6.0/24 through vx0");
	assert_int_equal(if_nametoindex("ckube1"), 0);
	/* A block that holds the route is refused as well. */
	ck_error_clear(&err);
	assert_int_equal(open_refused(w, &larger, &err), -EADDRINUSE);
	assert_non_null(strstr(err.message, "route to 10.244.6.0/24 through vx0"));
	assert_int_equal(if_nametoindex("ckube1"), 0);
	/* A neighbouring block is fine. */
	w->network = open_network(w, "ckube1", "10.244.7.0/24", NULL, NULL);
	assert_bridge("ckube1", "02:cb:0a:f4:07:18", "10.244.7.1/24");
}

static void exhausted_cidr_leaves_nothing_half_made(void **state)
{
	struct world *w = *state;
	struct ck_error err = {0};
	char id[16];
	struct ipam *ipam;
	struct pod *sixth;
	uint32_t address;
	bool remade;

	need_root();
	w->network = open_network(w, "ckube2", "10.244.7.0/29", NULL, NULL);
	for (int i = 0; i < 5; i++) {
		struct pod *pod;
		snprintf(id, sizeof(id), "pod-%d", i);
		pod = add_new_pod(w, id);
		assert_true(pod->address >= address_of("10.244.7.2"));
		assert_true(pod->address <= address_of("10.244.7.6"));
		for (int j = 0; j < i; j++)
			assert_int_not_equal(pod->address, w->pods[j].address);
		assert_pod_wired(pod, 29, "10.244.7.1", "ckube2", 1500);
	}
	sixth = new_pod(w, "pod-5");
	assert_int_equal(try_add(w->network, sixth, &address, &remade, &err), -ENOSPC);
	assert_false(remade);
	assert_non_null(strstr(err.message, "10.244.7.0/29 is exhausted"));
	/* Its namespace holds its loopback alone, the node no veth of it, the allocator no
	 * address. */
	assert_int_equal(count_of(sixth->path, "link show"), 1);
	assert_int_equal(if_nametoindex(sixth->node_end), 0);
	assert_int_equal(count_of(NULL, "link show master ckube2"), 5);
	ipam = open_ipam(w, "10.244.7.0/29");
	assert_int_equal(ipam_lookup(ipam, sixth->id, &address, &err), -ENOENT);
	ipam_close(ipam);
}

/* The routes of `protocol` in the main table, as "dst via gateway" joined by ", ". */
static const char *routes_of(const char *protocol, char *out, size_t len)
{
	json_t *all = ip_json(NULL, "-d route show table main");
	json_t *route;
	size_t i;

	assert_non_null(all);
	out[0] = '\0';
	json_array_foreach (all, i, route) {
		if (strcmp(string_of(route, "protocol"), protocol) != 0)
			continue;
		if (json_object_get(route, "gateway"))
			snprintf(out + strlen(out), len - strlen(out), "%s%s via %s",
				 out[0] ? ", " : "", string_of(route, "dst"),
				 string_of(route, "gateway"));
		else
			snprintf(out + strlen(out), len - strlen(out), "%s%s dev %s",
				 out[0] ? ", " : "", string_of(route, "dst"),
				 string_of(route, "dev"));
	}
	json_decref(all);
	return out;
}

static void node_routes_are_exactly_the_wanted_ones(void **state)
{
	struct world *w = *state;
	struct node_route routes[] = {
	    {.node = "node-1", .address = address_of("10.77.0.2")},
	    {.node = "node-2", .address = address_of("10.77.0.3")},
	};
	struct node_route with_unreachable[] = {
	    {.node = "node-3", .address = address_of("192.0.2.1")},
	    routes[1],
	};
	struct ck_error err = {0};
	char text[1024], others_before[1024], other_table[1024];

	need_root();
	assert_int_equal(ipv4_cidr_parse("10.244.8.0/24", &routes[0].destination, NULL), 0);
	assert_int_equal(ipv4_cidr_parse("10.244.9.0/24", &routes[1].destination, NULL), 0);
	with_unreachable[1] = routes[1];
	assert_int_equal(ipv4_cidr_parse("10.244.10.0/24", &with_unreachable[0].destination, NULL),
			 0);
	veth_with_address("vx0", "vx1", "10.77.0.1/24");
	/* Others' routes, one of them to a pod CIDR, and ckube's in another table: never
	 * touched. A leftover of ckube's in the main table (a crashed agent's): collected. */
	must("ip route add 10.99.0.0/24 via 10.77.0.9 proto static");
	must("ip route add 10.98.0.0/24 via 10.77.0.9");
	must("ip route add 10.244.9.0/24 via 10.77.0.9 proto static metric 500");
	must("ip route add 10.244.12.0/24 via 10.77.0.9 proto 77 table 100");
	must("ip route add 10.244.11.0/24 via 10.77.0.8 proto 77");
	routes_of("static", others_before, sizeof(others_before));
	assert_string_equal(others_before,
			    "10.99.0.0/24 via 10.77.0.9, 10.244.9.0/24 via 10.77.0.9");
	w->network = open_network(w, NULL, POD_CIDR, NULL, NULL);

	/* ip shows ckube's protocol number as it is. */
	assert_int_equal(RTPROT_CKUBE, 77);
	assert_int_equal(pod_network_set_routes(w->network, routes, 2, &err), 0);
	assert_string_equal(routes_of("77", text, sizeof(text)),
			    "10.244.8.0/24 via 10.77.0.2, 10.244.9.0/24 via 10.77.0.3");
	/* Again: the same. */
	assert_int_equal(pod_network_set_routes(w->network, routes, 2, &err), 0);
	assert_string_equal(routes_of("77", text, sizeof(text)),
			    "10.244.8.0/24 via 10.77.0.2, 10.244.9.0/24 via 10.77.0.3");
	/* A node's new address replaces its route. */
	routes[0].address = address_of("10.77.0.4");
	assert_int_equal(pod_network_set_routes(w->network, routes, 2, &err), 0);
	assert_string_equal(routes_of("77", text, sizeof(text)),
			    "10.244.8.0/24 via 10.77.0.4, 10.244.9.0/24 via 10.77.0.3");

	/* A route without an address goes on the bridge (the Service CIDR). */
	assert_int_equal(ipv4_cidr_parse("10.96.0.0/12", &routes[1].destination, NULL), 0);
	routes[1].address = 0;
	assert_int_equal(pod_network_set_routes(w->network, routes, 2, &err), 0);
	assert_string_equal(routes_of("77", text, sizeof(text)),
			    "10.96.0.0/12 dev ckube0, 10.244.8.0/24 via 10.77.0.4");

	assert_int_equal(pod_network_set_routes(w->network, routes, 1, &err), 0);
	assert_string_equal(routes_of("77", text, sizeof(text)), "10.244.8.0/24 via 10.77.0.4");

	/* The unreachable one first: the valid one after it is still put. */
	ck_error_clear(&err);
	assert_true(pod_network_set_routes(w->network, with_unreachable, 2, &err) < 0);
	assert_int_equal(err.code, ENETUNREACH);
	assert_string_equal(err.message, "node node-3: route 10.244.10.0/24 via 192.0.2.1: "
					 "192.0.2.1 is on no connected network");
	assert_string_equal(routes_of("77", text, sizeof(text)), "10.244.9.0/24 via 10.77.0.3");

	assert_int_equal(pod_network_set_routes(w->network, NULL, 0, &err), 0);
	assert_string_equal(routes_of("77", text, sizeof(text)), "");

	assert_string_equal(routes_of("static", text, sizeof(text)), others_before);
	assert_string_equal(routes_of("boot", text, sizeof(text)), "10.98.0.0/24 via 10.77.0.9");
	assert_non_null(strstr(routes_of("kernel", text, sizeof(text)), "10.77.0.0/24"));
	assert_non_null(strstr(routes_of("kernel", text, sizeof(text)), "10.244.5.0/24"));
	assert_int_equal(shell_output(other_table, sizeof(other_table), "ip route show table 100"),
			 0);
	assert_non_null(strstr(other_table, "10.244.12.0/24 via 10.77.0.9 dev vx0 proto 77"));
}

static void cluster_cidr_puts_the_masquerade_table(void **state)
{
	struct world *w = *state;
	const struct pod_network_config outside = {.pod_cidr = POD_CIDR,
						   .cluster_cidr = "10.96.0.0/12"};
	const struct pod_network_config inside = {.pod_cidr = POD_CIDR,
						  .cluster_cidr = "10.244.5.0/25"};
	const struct pod_network_config malformed = {.pod_cidr = POD_CIDR,
						     .cluster_cidr = "10.244.0.1/16"};
	struct ck_error err = {0};
	char out[4096];

	need_root();
	assert_int_equal(open_refused(w, &outside, &err), -EINVAL);
	assert_non_null(
	    strstr(err.message, "cluster CIDR 10.96.0.0/12 does not hold the pod CIDR " POD_CIDR));
	/* Overlapping is not enough: pods' traffic to the rest of the pod CIDR would be
	 * masqueraded. */
	ck_error_clear(&err);
	assert_int_equal(open_refused(w, &inside, &err), -EINVAL);
	assert_non_null(
	    strstr(err.message, "cluster CIDR 10.244.5.0/25 does not hold the pod CIDR " POD_CIDR));
	ck_error_clear(&err);
	assert_int_equal(open_refused(w, &malformed, &err), -EINVAL);
	assert_non_null(strstr(err.message, "host bits set"));

	w->network = open_network(w, NULL, POD_CIDR, "10.244.0.0/16", NULL);
	assert_bridge("ckube0", POD_BRIDGE_MAC, "10.244.5.1/24");
	if (system("nft --version >/dev/null 2>&1") != 0) {
		print_message("masquerade table check skipped: no nft binary (package nftables)\n");
		return;
	}
	if (shell_output(out, sizeof(out), "nft list table ip ckube-network") != 0)
		fail_msg("nft list table ip ckube-network: %s", out);
	assert_non_null(strstr(out, "ip saddr 10.244.5.0/24 ip daddr != 10.244.0.0/16 masquerade"));
}

static void uplink_gives_its_mtu_and_forwards(void **state)
{
	struct world *w = *state;
	const struct pod_network_config missing = {.pod_cidr = POD_CIDR, .node_ip = "10.77.0.9"};
	char other_end[16];
	struct ck_error err = {0};
	struct pod *a, *b;
	json_t *bridge;
	pid_t server;

	need_root();
	veth_with_address("vx0", "vx1", "10.77.0.1/24");
	must("ip link set vx0 mtu 1400");
	read_sysctl("/proc/sys/net/ipv4/conf/vx1/forwarding", other_end, sizeof(other_end));
	assert_int_equal(open_refused(w, &missing, &err), -ENOENT);
	assert_non_null(strstr(err.message, "no interface has the node IP 10.77.0.9"));

	w->network = open_network(w, NULL, POD_CIDR, NULL, "10.77.0.1");
	assert_forwarding("vx0", "1");
	assert_forwarding("vx1", other_end);
	bridge = link_json(NULL, "ckube0");
	assert_non_null(bridge);
	assert_int_equal(json_integer_value(json_object_get(bridge, "mtu")), 1400);
	json_decref(bridge);
	a = add_new_pod(w, "pod-a");
	b = add_new_pod(w, "pod-b");
	assert_pod_wired(a, 24, "10.244.5.1", "ckube0", 1400);
	assert_pod_wired(b, 24, "10.244.5.1", "ckube0", 1400);
	server = echo_server_in(a, 7072, 1);
	assert_int_equal(talk_from(b, a->address, 7072, "at mtu 1400"), 0);
	assert_int_equal(wait_exit_code(server), 0);
}

/* A node on loopback alone (one machine) has no uplink: the default MTU, nothing forwarded. */
static void loopback_node_ip_has_no_uplink(void **state)
{
	struct world *w = *state;
	char before[16];
	struct pod *a;

	need_root();
	read_sysctl("/proc/sys/net/ipv4/conf/lo/forwarding", before, sizeof(before));
	w->network = open_network(w, NULL, POD_CIDR, NULL, "127.0.0.1");
	assert_forwarding("lo", before);
	a = add_new_pod(w, "pod-a");
	assert_pod_wired(a, 24, "10.244.5.1", "ckube0", 1500);
}

static bool keep_only_b(const char *id, void *ctx)
{
	(void)ctx;
	return strcmp(id, "pod-b") == 0;
}

static void collect_releases_gone_pods(void **state)
{
	struct world *w = *state;
	struct ck_error err = {0};
	struct ipam *ipam;
	uint32_t held;

	need_root();
	w->network = open_network(w, NULL, POD_CIDR, NULL, NULL);
	add_new_pod(w, "pod-a");
	add_new_pod(w, "pod-b");
	add_new_pod(w, "pod-c");
	assert_int_equal(pod_network_collect(w->network, keep_only_b, NULL, &err), 2);
	ipam = open_ipam(w, POD_CIDR);
	assert_int_equal(ipam_lookup(ipam, "pod-a", &held, &err), -ENOENT);
	assert_int_equal(ipam_lookup(ipam, "pod-c", &held, &err), -ENOENT);
	assert_int_equal(ipam_lookup(ipam, "pod-b", &held, &err), 0);
	assert_int_equal(held, w->pods[1].address);
	ipam_close(ipam);
}

static void bad_pod_cidr_is_refused(void **state)
{
	struct world *w = *state;
	const struct pod_network_config host_bits = {.pod_cidr = "10.244.5.1/24"};
	const struct pod_network_config too_small = {.pod_cidr = "10.244.5.0/31"};
	struct ck_error err = {0};

	need_root();
	assert_int_equal(open_refused(w, &host_bits, &err), -EINVAL);
	assert_non_null(strstr(err.message, "host bits set (the network is 10.244.5.0/24)"));
	assert_int_equal(open_refused(w, &too_small, &err), -EINVAL);
	assert_int_equal(if_nametoindex("ckube0"), 0);
}

/* Before any test: from here on nothing this process or its children do reaches the machine's
 * own network, and the namespace files' mounts are this process's alone. */
static void enter_private_namespaces(void)
{
	machine_netns = inode_of("/proc/self/ns/net");
	if (geteuid() != 0) {
		skip_reason = "needs root for network namespaces of its own";
		return;
	}
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
		skip_reason = "unshare(CLONE_NEWNET | CLONE_NEWNS) failed";
		return;
	}
	/* Mounts made here must not propagate back to the machine's mount namespace. */
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0) {
		skip_reason = "could not make the mount namespace private";
		return;
	}
	if (!in_private_netns()) {
		fprintf(stderr, "still in the machine's network namespace: stopping\n");
		exit(1);
	}
	if (loopback_up() < 0)
		skip_reason = "could not bring the loopback up";
	else if (system("ip -V >/dev/null 2>&1") != 0 || system("nsenter -V >/dev/null 2>&1") != 0)
		skip_reason = "needs ip (iproute2) and nsenter (util-linux)";
}

#define WORLD_TEST(name) cmocka_unit_test_setup_teardown(name, world_setup, world_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    WORLD_TEST(open_makes_the_bridge),
	    WORLD_TEST(open_again_keeps_everything),
	    WORLD_TEST(pods_get_distinct_addresses_and_wired_interfaces),
	    WORLD_TEST(adding_again_changes_nothing),
	    WORLD_TEST(pods_and_node_talk_tcp),
	    WORLD_TEST(removing_a_pod_frees_its_address_and_veth),
	    WORLD_TEST(same_pod_in_a_new_namespace_right_after_removal),
	    WORLD_TEST(removed_bridge_is_made_again),
	    WORLD_TEST(existing_pod_first_after_bridge_removed),
	    WORLD_TEST(link_of_the_bridge_name_that_is_no_bridge),
	    WORLD_TEST(pod_cidr_routed_elsewhere_is_refused),
	    WORLD_TEST(exhausted_cidr_leaves_nothing_half_made),
	    WORLD_TEST(node_routes_are_exactly_the_wanted_ones),
	    WORLD_TEST(cluster_cidr_puts_the_masquerade_table),
	    WORLD_TEST(uplink_gives_its_mtu_and_forwards),
	    WORLD_TEST(loopback_node_ip_has_no_uplink),
	    WORLD_TEST(collect_releases_gone_pods),
	    WORLD_TEST(bad_pod_cidr_is_refused),
	};

	enter_private_namespaces();
	if (skip_reason)
		print_message("pod network tests skipped: %s\n", skip_reason);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
