/* The Service proxy against the kernel, each test in a network namespace of its own (main() and
 * every setup unshare one): the table as nft shows it, connections over loopback to ClusterIPs
 * and node ports DNATed to endpoints that are addresses of the namespace, refusals, drops,
 * affinity, and reconciliation after changes made by hand. Needs root and nft; skips otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "iptables/proxy.h"
#include "tests/unit/shell_output.h"

#define ENDPOINTS 3
static const char *const endpoint_ips[ENDPOINTS] = {"10.244.0.5", "10.244.0.6", "10.244.0.7"};
#define CLIENT_IP "10.244.0.9"
#define NODE_IP "192.0.2.1"

static const char *skip_reason;

struct world {
	struct proxy *proxy;
	int listeners[ENDPOINTS];
};

static void must(const char *command)
{
	char out[4096];

	if (shell_output(out, sizeof(out), "%s", command) != 0)
		fail_msg("%s: %s", command, out);
}

static void need_root(void)
{
	if (skip_reason) {
		print_message("skipped: %s\n", skip_reason);
		skip();
	}
}

static int listen_on(const char *address, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	inet_pton(AF_INET, address, &sa.sin_addr);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0)
		fail_msg("listen on %s:%d: %s", address, port, strerror(errno));
	return fd;
}

/* A fresh namespace: loopback up with the endpoints' and the client's addresses, the Service
 * CIDR routed there (as the agent routes it to the bridge), a "node" address on a veth
 * interface, and a listener on each endpoint. */
static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct proxy_config config = {.node_name = "n1"};
	char command[256];

	*state = w;
	if (skip_reason)
		return 0;
	if (unshare(CLONE_NEWNET) < 0)
		return -1;
	must("ip link set lo up");
	for (int i = 0; i < ENDPOINTS; i++) {
		snprintf(command, sizeof(command), "ip addr add %s/32 dev lo", endpoint_ips[i]);
		must(command);
	}
	must("ip addr add " CLIENT_IP "/32 dev lo");
	must("ip route add 10.96.0.0/12 dev lo");
	must("ip link add node0 type veth peer name node1 && ip link set node1 up && "
	     "ip addr add " NODE_IP "/24 dev node0 && "
	     "ip link set node0 up");
	for (int i = 0; i < ENDPOINTS; i++)
		w->listeners[i] = listen_on(endpoint_ips[i], 8080);
	assert_int_equal(ipv4_cidr_parse("10.244.0.0/16", &config.cluster_cidr, NULL), 0);
	assert_int_equal(ipv4_cidr_parse("10.96.0.0/12", &config.service_cidr, NULL), 0);
	w->proxy = proxy_new(&config);
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	for (int i = 0; i < ENDPOINTS; i++)
		if (w->listeners[i] > 0)
			close(w->listeners[i]);
	proxy_free(w->proxy);
	free(w);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A TCP connection from `client` to address:port: 0 when it was accepted, else the errno
 * (ETIMEDOUT after `timeout_ms` without an answer). */
static int connect_from(const char *client, const char *address, int port, int timeout_ms)
{
	struct sockaddr_in from = {.sin_family = AF_INET};
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int error = 0;
	socklen_t len = sizeof(error);

	inet_pton(AF_INET, client, &from.sin_addr);
	inet_pton(AF_INET, address, &to.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0 && errno != EINPROGRESS)
		error = errno;
	else if (poll(&p, 1, timeout_ms) == 0)
		error = ETIMEDOUT;
	else
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
	close(fd);
	return error;
}

/* Which endpoint took the last connection (accepted and closed); -1: none. */
static int answered_by(struct world *w)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		for (int i = 0; i < ENDPOINTS; i++) {
			int fd = accept4(w->listeners[i], NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0) {
				close(fd);
				return i;
			}
		}
		usleep(1000);
	}
	return -1;
}

static json_t *service(const char *name, const char *cluster_ip, const char *extra_spec)
{
	char text[1024];
	json_error_t jerr;
	json_t *object;

	snprintf(text, sizeof(text),
		 "{\"kind\": \"Service\", \"metadata\": {\"namespace\": \"default\", \"name\": "
		 "\"%s\"}, \"spec\": {\"clusterIP\": \"%s\", \"ports\": [{\"port\": 80, "
		 "\"targetPort\": 8080%s}]%s}}",
		 name, cluster_ip, strstr(extra_spec, "NodePort") ? ", \"nodePort\": 30080" : "",
		 extra_spec);
	object = json_loads(text, 0, &jerr);
	if (!object)
		fail_msg("%s: %s", text, jerr.text);
	return object;
}

/* Endpoints of `name`: the first `count` test endpoints, from `first`. */
static json_t *endpoints(const char *name, int first, int count)
{
	json_t *addresses = json_array();

	for (int i = first; i < first + count; i++)
		json_array_append_new(
		    addresses, json_pack("{s:s, s:s}", "ip", endpoint_ips[i], "nodeName", "n1"));
	return json_pack("{s:s, s:{s:s, s:s}, s:[{s:o, s:[{s:i}]}]}", "kind", "Endpoints",
			 "metadata", "namespace", "default", "name", name, "subsets", "addresses",
			 addresses, "ports", "port", 8080);
}

static void set(struct world *w, json_t *object)
{
	struct ck_error err = {0};
	const char *kind = json_string_value(json_object_get(object, "kind"));
	int r = strcmp(kind, "Service") == 0 ? proxy_set_service(w->proxy, object, &err)
					     : proxy_set_endpoints(w->proxy, object, &err);

	json_decref(object);
	if (r < 0)
		fail_msg("%s", err.message);
}

static struct proxy_stats commit(struct world *w)
{
	struct proxy_stats stats;
	struct ck_error err = {0};

	if (proxy_commit(w->proxy, &stats, &err) < 0)
		fail_msg("commit: %s", err.message);
	return stats;
}

static struct proxy_stats reconcile(struct world *w)
{
	struct proxy_stats stats;
	struct ck_error err = {0};

	if (proxy_reconcile(w->proxy, &stats, &err) < 0)
		fail_msg("reconcile: %s", err.message);
	return stats;
}

static void web_with(struct world *w, int count, const char *extra_spec)
{
	set(w, service("web", "10.96.0.10", extra_spec));
	set(w, endpoints("web", 0, count));
	commit(w);
}

/* The answers to `n` connections from the client, per endpoint. */
static void spread(struct world *w, const char *address, int port, int n, int counts[ENDPOINTS])
{
	memset(counts, 0, ENDPOINTS * sizeof(*counts));
	for (int i = 0; i < n; i++) {
		int error = connect_from(CLIENT_IP, address, port, 2000);
		int who;

		if (error)
			fail_msg("connection %d to %s:%d: %s", i, address, port, strerror(error));
		who = answered_by(w);
		assert_true(who >= 0);
		counts[who]++;
	}
}

static void clusterip_reaches_every_endpoint(void **state)
{
	struct world *w = *state;
	int counts[ENDPOINTS];
	char out[16384];

	need_root();
	web_with(w, ENDPOINTS, "");
	spread(w, "10.96.0.10", 80, 90, counts);
	for (int i = 0; i < ENDPOINTS; i++)
		if (counts[i] < 10)
			fail_msg("endpoint %s got %d of 90 connections", endpoint_ips[i],
				 counts[i]);

	/* As a person debugging the node sees it. */
	assert_int_equal(shell_output(out, sizeof(out), "nft list table ip ckube-proxy"), 0);
	assert_non_null(strstr(out, "set cluster-3 {"));
	assert_non_null(strstr(out, "elements = { 10.96.0.10 . tcp . 80 }"));
	assert_non_null(
	    strstr(out, "ip daddr . meta l4proto . th dport @cluster-3 goto cluster-3"));
	assert_non_null(strstr(out, "10.96.0.10 . tcp . 80 . 0x00000002 : 10.244.0.7 . 8080"));
	assert_non_null(strstr(out, "dnat ip to ip daddr . meta l4proto . th dport . numgen "
				    "random mod 3 map @backends"));
	assert_non_null(strstr(out, "10.244.0.5 . 10.244.0.5"));
}

static void refusals_and_drops(void **state)
{
	struct world *w = *state;
	int64_t started;

	need_root();
	web_with(w, 0, "");
	/* No endpoint: refused at once, not left to time out. */
	started = now_ms();
	assert_int_equal(connect_from(CLIENT_IP, "10.96.0.10", 80, 2000), ECONNREFUSED);
	assert_true(now_ms() - started < 500);
	/* A port the Service does not have: refused too. */
	assert_int_equal(connect_from(CLIENT_IP, "10.96.0.10", 81, 2000), ECONNREFUSED);
	/* An address no Service has: dropped. */
	assert_int_equal(connect_from(CLIENT_IP, "10.96.0.99", 80, 300), ETIMEDOUT);

	/* Endpoints come: the same address answers. */
	set(w, endpoints("web", 0, 1));
	commit(w);
	assert_int_equal(connect_from(CLIENT_IP, "10.96.0.10", 80, 2000), 0);
	assert_int_equal(answered_by(w), 0);
}

static void node_port_on_node_addresses(void **state)
{
	struct world *w = *state;
	int counts[ENDPOINTS];

	need_root();
	web_with(w, 2, ", \"type\": \"NodePort\"");
	spread(w, NODE_IP, 30080, 30, counts);
	assert_true(counts[0] > 0 && counts[1] > 0);
	assert_int_equal(counts[2], 0);
	/* Not on loopback addresses (route_localnet stays off). */
	assert_int_not_equal(connect_from("127.0.0.1", "127.0.0.1", 30080, 300), 0);

	set(w, endpoints("web", 0, 0));
	commit(w);
	assert_int_equal(connect_from(CLIENT_IP, NODE_IP, 30080, 2000), ECONNREFUSED);
}

static void client_ip_affinity_keeps_the_endpoint(void **state)
{
	struct world *w = *state;
	int counts[ENDPOINTS], first = -1, again = -1;
	char out[32768];

	need_root();
	web_with(w, ENDPOINTS,
		 ", \"sessionAffinity\": \"ClientIP\", \"sessionAffinityConfig\": "
		 "{\"clientIP\": {\"timeoutSeconds\": 30}}");
	spread(w, "10.96.0.10", 80, 20, counts);
	for (int i = 0; i < ENDPOINTS; i++) {
		if (counts[i] == 20)
			first = i;
	}
	if (first < 0)
		fail_msg("the client went to several endpoints: %d %d %d", counts[0], counts[1],
			 counts[2]);
	/* Its endpoint goes: the client moves to another one, and stays there. */
	set(w, first == 0 ? endpoints("web", 1, 2) : endpoints("web", 0, 1));
	commit(w);
	spread(w, "10.96.0.10", 80, 20, counts);
	assert_int_equal(counts[first], 0);
	for (int i = 0; i < ENDPOINTS; i++) {
		if (counts[i] == 20)
			again = i;
	}
	assert_true(again >= 0);

	/* nft lists every rule (nft 1.0.6 aborts on some layouts a C writer can make). */
	assert_int_equal(shell_output(out, sizeof(out), "nft list ruleset"), 0);
	assert_non_null(strstr(out, "chain cluster-3-affinity-30-slot-2 {"));
	assert_non_null(strstr(out, "update @affinity { ip saddr . ip daddr . meta l4proto . th "
				    "dport . 0x00000001 timeout 30s }"));
	/* The Service gone: its clients' records go too. */
	proxy_delete_service(w->proxy, "default", "web");
	commit(w);
	assert_int_equal(shell_output(out, sizeof(out), "nft list set ip ckube-proxy affinity"), 0);
	assert_null(strstr(out, "10.96.0.10"));
}

static void restart_changes_nothing_flush_is_repaired(void **state)
{
	struct world *w = *state;
	struct proxy_config config = {.node_name = "n1"};
	struct proxy_stats stats;
	struct ck_error err = {0};
	bool changed = true;
	char out[16384];

	need_root();
	web_with(w, ENDPOINTS, "");
	assert_int_equal(proxy_kernel_changed(w->proxy, &changed, &err), 0);
	assert_false(changed);

	/* Another proxy with the same Services, as after an agent's restart: nothing to send. */
	assert_int_equal(ipv4_cidr_parse("10.244.0.0/16", &config.cluster_cidr, NULL), 0);
	assert_int_equal(ipv4_cidr_parse("10.96.0.0/12", &config.service_cidr, NULL), 0);
	proxy_free(w->proxy);
	w->proxy = proxy_new(&config);
	set(w, service("web", "10.96.0.10", ""));
	set(w, endpoints("web", 0, ENDPOINTS));
	stats = commit(w);
	assert_false(stats.rebuilt);
	assert_int_equal(stats.messages, 0);

	/* Rules flushed by hand: noticed, put back; the elements were never gone. */
	must("nft flush table ip ckube-proxy");
	assert_int_not_equal(connect_from(CLIENT_IP, "10.96.0.10", 80, 300), 0);
	assert_int_equal(proxy_kernel_changed(w->proxy, &changed, &err), 0);
	assert_true(changed);
	stats = reconcile(w);
	assert_int_equal(stats.chains_rewritten, PROXY_FIXED_CHAINS + 2); /* services, cluster-3 */
	assert_int_equal(stats.elements_added + stats.elements_deleted, 0);
	assert_int_equal(connect_from(CLIENT_IP, "10.96.0.10", 80, 2000), 0);
	assert_true(answered_by(w) >= 0);

	/* An element deleted, a foreign one and a foreign chain added: exactly those repaired. */
	must("nft delete element ip ckube-proxy backends '{ 10.96.0.10 . tcp . 80 . 0x00000001 }'");
	must("nft add chain ip ckube-proxy mine");
	must("nft add element ip ckube-proxy cluster-3 '{ 10.96.0.77 . tcp . 80 }'");
	stats = reconcile(w);
	assert_false(stats.rebuilt);
	assert_int_equal(stats.elements_added, 1);
	assert_int_equal(stats.elements_deleted, 1);
	assert_int_equal(stats.chains_deleted, 1);
	assert_int_equal(shell_output(out, sizeof(out), "nft list table ip ckube-proxy"), 0);
	assert_null(strstr(out, "chain mine"));
	assert_null(strstr(out, "10.96.0.77"));

	/* The table deleted: made anew. */
	must("nft delete table ip ckube-proxy");
	stats = reconcile(w);
	assert_true(stats.rebuilt);
	assert_int_equal(connect_from(CLIENT_IP, "10.96.0.10", 80, 2000), 0);
	assert_true(answered_by(w) >= 0);
}

static void commits_send_only_their_service(void **state)
{
	struct world *w = *state;
	struct proxy_stats stats;
	struct ck_error err = {0};
	char name[32], ip[32], out[32768];

	need_root();
	for (int i = 1; i <= 50; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		snprintf(ip, sizeof(ip), "10.96.1.%d", i);
		set(w, service(name, ip, ""));
		set(w, endpoints(name, 0, 2));
	}
	stats = commit(w);
	assert_true(stats.rebuilt);

	/* One more Service with 3 endpoints: its map element, 3 backends, its ClusterIP, the
	 * hairpin element of the one endpoint no other Service had, and a chain for 3. */
	set(w, service("web", "10.96.0.10", ""));
	set(w, endpoints("web", 0, ENDPOINTS));
	stats = commit(w);
	assert_false(stats.rebuilt);
	assert_int_equal(stats.elements_added, 6);
	assert_int_equal(stats.elements_deleted, 0);
	assert_int_equal(stats.chains_added, 1);

	/* One endpoint fewer: two elements go, the map element moves to cluster-2. */
	set(w, endpoints("web", 0, 2));
	stats = commit(w);
	assert_int_equal(stats.elements_deleted, 3); /* slot 2, the map element, a hairpin */
	assert_int_equal(stats.elements_added, 1);
	assert_int_equal(stats.chains_added, 0);
	/* cluster-3 is unused now; it goes once it has been so for the idle time. */
	assert_int_equal(proxy_collect_chains(w->proxy, now_ms() + 60000, 1000, &err), 1);
	assert_int_equal(proxy_collect_chains(w->proxy, now_ms() + 60000, 1000, &err), 0);
	assert_int_equal(shell_output(out, sizeof(out), "nft list table ip ckube-proxy"), 0);
	assert_null(strstr(out, "chain cluster-3 "));
	assert_non_null(strstr(out, "chain cluster-2 "));

	/* Deleted: nothing of it stays. */
	proxy_delete_service(w->proxy, "default", "web");
	proxy_delete_endpoints(w->proxy, "default", "web");
	stats = commit(w);
	assert_int_equal(stats.elements_deleted, 4);
	assert_int_equal(shell_output(out, sizeof(out), "nft list table ip ckube-proxy"), 0);
	assert_null(strstr(out, "10.96.0.10"));
}

/* What the kernel holds is not what the proxy thinks: the commit fails and reconciles. */
static void failed_commit_falls_back_to_reconcile(void **state)
{
	struct world *w = *state;
	struct proxy_stats stats;
	char out[4096];

	need_root();
	web_with(w, ENDPOINTS, "");
	must("nft delete element ip ckube-proxy backends '{ 10.96.0.10 . tcp . 80 . 0x00000002 }'");
	proxy_delete_service(w->proxy, "default", "web");
	stats = commit(w);
	/* 2 backends left, its ClusterIP, 3 hairpin pairs, found by reading; then the unused
	 * chain cluster-3 and its set, with the Service's element in it. */
	assert_int_equal(stats.elements_deleted, 6);
	assert_int_equal(stats.chains_deleted, 1);
	assert_int_equal(shell_output(out, sizeof(out), "nft list table ip ckube-proxy"), 0);
	assert_null(strstr(out, "10.96.0.10"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(clusterip_reaches_every_endpoint, setup, teardown),
	    cmocka_unit_test_setup_teardown(refusals_and_drops, setup, teardown),
	    cmocka_unit_test_setup_teardown(node_port_on_node_addresses, setup, teardown),
	    cmocka_unit_test_setup_teardown(client_ip_affinity_keeps_the_endpoint, setup, teardown),
	    cmocka_unit_test_setup_teardown(restart_changes_nothing_flush_is_repaired, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(commits_send_only_their_service, setup, teardown),
	    cmocka_unit_test_setup_teardown(failed_commit_falls_back_to_reconcile, setup, teardown),
	};

	/* Before any test: nothing this process does reaches the machine's own network. */
	if (geteuid() != 0)
		skip_reason = "needs root";
	else if (unshare(CLONE_NEWNET) < 0)
		skip_reason = "cannot make a network namespace";
	else if (system("nft --version >/dev/null 2>&1") != 0)
		skip_reason = "needs nft";
	return cmocka_run_group_tests(tests, NULL, NULL);
}
