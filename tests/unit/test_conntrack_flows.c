/* Stale UDP conntrack entries of a Service, checked the way a client sees them: a datagram to
 * the Service address reaches the endpoint that conntrack recorded, whatever the DNAT rule says
 * since, until conntrack_delete_udp_flows() removes the entry.
 *
 * main() moves the whole test process into a network namespace of its own before any test
 * runs, and each test then starts in a fresh one inside it (an empty conntrack table), so the
 * machine's own network is never read or written. All addresses live on that namespace's lo;
 * the DNAT rules sit in the output hook, where locally sent datagrams pass. Needs root, ip and
 * nft; skips otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "iptables/conntrack_flows.h"
#include "tests/unit/shell_output.h"

#define CLIENT "10.244.1.9"
#define SERVICE "10.96.0.10"
#define OTHER_SERVICE "10.96.0.11"
#define NODE "192.168.77.2"
#define ENDPOINT_A "10.244.0.5"
#define ENDPOINT_B "10.244.0.6"
#define CLIENT_PORT 40053
#define TIMEOUT_MS 2000

/* Why the tests cannot run here, or NULL when they can. */
static const char *skip_reason;
/* The namespace main() left: no test may run in it. */
static ino_t host_netns;

/* Sockets of the running test, closed by its teardown also when an assertion failed. */
static int open_fds[16];
static size_t open_fd_count;

static ino_t netns_inode(void)
{
	struct stat st;

	if (stat("/proc/thread-self/ns/net", &st) < 0)
		return 0;
	return st.st_ino;
}

static void must(const char *command)
{
	char out[4096];

	if (shell_output(out, sizeof(out), "%s", command) != 0)
		fail_msg("%s: %s", command, out);
}

static int fresh_netns_setup(void **state)
{
	ino_t before = netns_inode();

	(void)state;
	if (skip_reason)
		return 0;
	if (unshare(CLONE_NEWNET) < 0) {
		print_error("unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	if (netns_inode() == before || netns_inode() == host_netns) {
		print_error("not in a network namespace of the test's own\n");
		return -1;
	}
	must("ip link set lo up && ip addr add " CLIENT "/32 dev lo && ip addr add " SERVICE
	     "/32 dev lo && ip addr add " OTHER_SERVICE "/32 dev lo && ip addr add " NODE
	     "/32 dev lo && ip addr add " ENDPOINT_A "/32 dev lo && ip addr add " ENDPOINT_B
	     "/32 dev lo");
	return 0;
}

static int close_sockets_teardown(void **state)
{
	(void)state;
	while (open_fd_count > 0)
		close(open_fds[--open_fd_count]);
	return 0;
}

static void need_netns(void)
{
	if (skip_reason) {
		print_message("skipped: %s\n", skip_reason);
		skip();
	}
}

static uint32_t ipv4(const char *text)
{
	struct in_addr address;

	assert_int_equal(inet_pton(AF_INET, text, &address), 1);
	return ntohl(address.s_addr);
}

static struct sockaddr_in sockaddr_of(const char *address, uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};

	assert_int_equal(inet_pton(AF_INET, address, &sa.sin_addr), 1);
	return sa;
}

static int track(int fd)
{
	assert_true(fd >= 0);
	assert_true(open_fd_count < sizeof(open_fds) / sizeof(open_fds[0]));
	open_fds[open_fd_count++] = fd;
	return fd;
}

static int bound_socket(int type, const char *address, uint16_t port)
{
	struct sockaddr_in sa = sockaddr_of(address, port);
	int fd = track(socket(AF_INET, type | SOCK_CLOEXEC, 0));

	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail_msg("bind %s:%u: %s", address, port, strerror(errno));
	return fd;
}

static void wait_readable(int fd, const char *what)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	if (poll(&pfd, 1, TIMEOUT_MS) != 1)
		fail_msg("%s: nothing within %d ms", what, TIMEOUT_MS);
}

/* Replaces the DNAT rules in one nft transaction. Flows conntrack already holds keep the
 * translation they were given. */
static void dnat_rules(const char *rule, ...)
{
	char text[2048], out[4096];
	size_t used;
	va_list ap;

	used = (size_t)snprintf(text, sizeof(text),
				"table ip t {\n"
				"\tchain out {\n"
				"\t\ttype nat hook output priority -100;\n"
				"\t}\n"
				"}\n"
				"flush chain ip t out\n");
	va_start(ap, rule);
	for (const char *r = rule; r; r = va_arg(ap, const char *))
		used +=
		    (size_t)snprintf(text + used, sizeof(text) - used, "add rule ip t out %s\n", r);
	va_end(ap);
	assert_true(used < sizeof(text));
	if (shell_output(out, sizeof(out), "echo '%s' | nft -f -", text) != 0)
		fail_msg("nft -f: %s\n%s", out, text);
}

/* Sends a datagram from `client` to address:port and lets whichever endpoint socket gets it
 * answer, as a server would. Returns that endpoint's index; the client must hear the answer
 * from the address it asked, as DNAT's reverse translation promises. */
static size_t ask(int client, const char *address, uint16_t port, const int *endpoints,
		  size_t endpoint_count)
{
	struct sockaddr_in service = sockaddr_of(address, port), peer;
	struct pollfd pfds[4];
	socklen_t peer_len = sizeof(peer);
	char request[64], reply[64];
	size_t answered = endpoint_count;
	ssize_t n;

	snprintf(request, sizeof(request), "to %s:%u", address, port);
	assert_int_equal(sendto(client, request, strlen(request), 0, (struct sockaddr *)&service,
				sizeof(service)),
			 (ssize_t)strlen(request));
	assert_true(endpoint_count <= sizeof(pfds) / sizeof(pfds[0]));
	for (size_t i = 0; i < endpoint_count; i++)
		pfds[i] = (struct pollfd){.fd = endpoints[i], .events = POLLIN};
	if (poll(pfds, endpoint_count, TIMEOUT_MS) < 1)
		fail_msg("%s: no endpoint got it within %d ms", request, TIMEOUT_MS);
	for (size_t i = 0; i < endpoint_count && answered == endpoint_count; i++)
		if (pfds[i].revents & POLLIN)
			answered = i;
	n = recvfrom(endpoints[answered], reply, sizeof(reply), 0, (struct sockaddr *)&peer,
		     &peer_len);
	assert_int_equal(n, (ssize_t)strlen(request));
	assert_int_equal(
	    sendto(endpoints[answered], reply, (size_t)n, 0, (struct sockaddr *)&peer, peer_len),
	    n);

	wait_readable(client, "the answer");
	peer_len = sizeof(peer);
	assert_int_equal(
	    recvfrom(client, reply, sizeof(reply), 0, (struct sockaddr *)&peer, &peer_len), n);
	assert_int_equal(peer.sin_addr.s_addr, service.sin_addr.s_addr);
	assert_int_equal(peer.sin_port, service.sin_port);
	return answered;
}

static size_t delete_flows(const struct udp_flow_match *matches, size_t count)
{
	struct ck_error err = {0};
	size_t deleted = 99;

	if (conntrack_delete_udp_flows(matches, count, &deleted, &err) != 0)
		fail_msg("%s", err.message);
	assert_int_equal(err.code, 0);
	return deleted;
}

enum { A, B };

#define DNS_TO(endpoint) "ip daddr " SERVICE " udp dport 53 dnat to " endpoint ":5353"

/* The bug being fixed, and the fix: a client that keeps its source port keeps reaching the
 * endpoint it first reached, however the rule changed, until its flow is deleted. */
static void stale_flow_keeps_the_old_endpoint_until_deleted(void **state)
{
	struct udp_flow_match match = {ipv4(SERVICE), 53, ipv4(ENDPOINT_A)};
	int endpoints[2], client;

	(void)state;
	need_netns();
	dnat_rules(DNS_TO(ENDPOINT_A), NULL);
	endpoints[A] = bound_socket(SOCK_DGRAM, ENDPOINT_A, 5353);
	endpoints[B] = bound_socket(SOCK_DGRAM, ENDPOINT_B, 5353);
	client = bound_socket(SOCK_DGRAM, CLIENT, CLIENT_PORT);
	assert_int_equal(ask(client, SERVICE, 53, endpoints, 2), A);

	dnat_rules(DNS_TO(ENDPOINT_B), NULL);
	/* A new flow follows the new rule; the old one does not. */
	assert_int_equal(
	    ask(bound_socket(SOCK_DGRAM, CLIENT, CLIENT_PORT + 1), SERVICE, 53, endpoints, 2), B);
	assert_int_equal(ask(client, SERVICE, 53, endpoints, 2), A);

	assert_int_equal(delete_flows(&match, 1), 1);
	assert_int_equal(ask(client, SERVICE, 53, endpoints, 2), B);
	/* Gone for good: nothing is left to delete. */
	assert_int_equal(delete_flows(&match, 1), 0);
}

/* Every field given must fit: another endpoint, another Service address, another port (the
 * Service's, not the endpoint's) leave the flow alone. */
static void match_that_fits_nothing_deletes_nothing(void **state)
{
	const struct udp_flow_match matches[] = {
	    {ipv4(SERVICE), 53, ipv4(ENDPOINT_B)},
	    {ipv4(OTHER_SERVICE), 53, ipv4(ENDPOINT_A)},
	    {ipv4(SERVICE), 54, ipv4(ENDPOINT_A)},
	    {0, 5353, 0},
	};
	int endpoints[2], client;

	(void)state;
	need_netns();
	dnat_rules(DNS_TO(ENDPOINT_A), NULL);
	endpoints[A] = bound_socket(SOCK_DGRAM, ENDPOINT_A, 5353);
	endpoints[B] = bound_socket(SOCK_DGRAM, ENDPOINT_B, 5353);
	client = bound_socket(SOCK_DGRAM, CLIENT, CLIENT_PORT);
	assert_int_equal(ask(client, SERVICE, 53, endpoints, 2), A);
	dnat_rules(DNS_TO(ENDPOINT_B), NULL);

	assert_int_equal(delete_flows(matches, sizeof(matches) / sizeof(matches[0])), 0);
	assert_int_equal(delete_flows(matches, 0), 0);
	assert_int_equal(ask(client, SERVICE, 53, endpoints, 2), A);
}

/* A node port is reached on every address of the node: address 0 deletes its flows to all of
 * them, and only those of that port. */
static void any_address_deletes_the_port_on_every_address(void **state)
{
	const struct udp_flow_match match = {0, 30053, 0};
	int endpoints[2], client;

	(void)state;
	need_netns();
	dnat_rules("udp dport 30053 dnat to " ENDPOINT_A ":5353", DNS_TO(ENDPOINT_A), NULL);
	endpoints[A] = bound_socket(SOCK_DGRAM, ENDPOINT_A, 5353);
	endpoints[B] = bound_socket(SOCK_DGRAM, ENDPOINT_B, 5353);
	client = bound_socket(SOCK_DGRAM, CLIENT, CLIENT_PORT);
	assert_int_equal(ask(client, NODE, 30053, endpoints, 2), A);
	assert_int_equal(ask(client, "127.0.0.1", 30053, endpoints, 2), A);
	assert_int_equal(ask(client, SERVICE, 53, endpoints, 2), A);
	dnat_rules("udp dport 30053 dnat to " ENDPOINT_B ":5353", DNS_TO(ENDPOINT_B), NULL);

	assert_int_equal(delete_flows(&match, 1), 2);
	assert_int_equal(ask(client, NODE, 30053, endpoints, 2), B);
	assert_int_equal(ask(client, "127.0.0.1", 30053, endpoints, 2), B);
	assert_int_equal(ask(client, SERVICE, 53, endpoints, 2), A);
}

/* A TCP connection with the same Service address, port and endpoint as a UDP flow survives the
 * deletion of that flow: had its entry gone, its next segment would be translated afresh, to
 * endpoint B, and never reach A. */
static void tcp_connections_are_left_alone(void **state)
{
	const struct udp_flow_match match = {ipv4(SERVICE), 80, ipv4(ENDPOINT_A)};
	struct sockaddr_in service = sockaddr_of(SERVICE, 80);
	struct timeval timeout = {.tv_sec = TIMEOUT_MS / 1000};
	int endpoints[2], client, tcp_client, listener, connection;
	char data[16];

	(void)state;
	need_netns();
	dnat_rules("ip daddr " SERVICE " udp dport 80 dnat to " ENDPOINT_A ":8080",
		   "ip daddr " SERVICE " tcp dport 80 dnat to " ENDPOINT_A ":8080", NULL);
	endpoints[A] = bound_socket(SOCK_DGRAM, ENDPOINT_A, 8080);
	endpoints[B] = bound_socket(SOCK_DGRAM, ENDPOINT_B, 8080);
	client = bound_socket(SOCK_DGRAM, CLIENT, CLIENT_PORT);
	assert_int_equal(ask(client, SERVICE, 80, endpoints, 2), A);

	listener = bound_socket(SOCK_STREAM, ENDPOINT_A, 8080);
	assert_int_equal(listen(listener, 1), 0);
	assert_int_equal(listen(bound_socket(SOCK_STREAM, ENDPOINT_B, 8080), 1), 0);
	tcp_client = bound_socket(SOCK_STREAM, CLIENT, CLIENT_PORT);
	/* connect() gives up after the send timeout rather than retrying for minutes. */
	assert_int_equal(setsockopt(tcp_client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout)),
			 0);
	if (connect(tcp_client, (struct sockaddr *)&service, sizeof(service)) < 0)
		fail_msg("connect to " SERVICE ":80: %s", strerror(errno));
	wait_readable(listener, "the connection at " ENDPOINT_A);
	connection = track(accept(listener, NULL, NULL));

	dnat_rules("ip daddr " SERVICE " udp dport 80 dnat to " ENDPOINT_B ":8080",
		   "ip daddr " SERVICE " tcp dport 80 dnat to " ENDPOINT_B ":8080", NULL);
	assert_int_equal(delete_flows(&match, 1), 1);

	assert_int_equal(send(tcp_client, "still A", 7, 0), 7);
	wait_readable(connection, "data on the connection at " ENDPOINT_A);
	assert_int_equal(recv(connection, data, sizeof(data), 0), 7);
	assert_memory_equal(data, "still A", 7);
	assert_int_equal(ask(client, SERVICE, 80, endpoints, 2), B);
}

/* The kernel answers ctnetlink only to CAP_NET_ADMIN; the error names the step. */
static void unprivileged_caller_gets_the_dump_error(void **state)
{
	const struct udp_flow_match match = {ipv4(SERVICE), 53, 0};
	char message[sizeof(((struct ck_error *)0)->message) + 32] = "", expected[256];
	int fds[2], status;
	ssize_t n;
	pid_t child;

	(void)state;
	need_netns();
	assert_int_equal(pipe(fds), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct ck_error err = {0};
		size_t deleted = 99;
		int rc;

		close(fds[0]);
		if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
			_exit(2);
		rc = conntrack_delete_udp_flows(&match, 1, &deleted, &err);
		dprintf(fds[1], "%d %zu %s", rc, deleted, err.message);
		_exit(0);
	}
	close(fds[1]);
	n = read(fds[0], message, sizeof(message) - 1);
	close(fds[0]);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(n > 0);
	message[n] = '\0';
	snprintf(expected, sizeof(expected),
		 "%d 0 conntrack: dump UDP flows: Operation not permitted", -EPERM);
	assert_string_equal(message, expected);
}

static void enter_private_netns(void)
{
	host_netns = netns_inode();
	if (geteuid() != 0) {
		skip_reason = "needs root for a network namespace of its own";
		return;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		skip_reason = "unshare(CLONE_NEWNET) failed";
		return;
	}
	if (!host_netns || netns_inode() == host_netns) {
		skip_reason = "could not tell the new network namespace from the old";
		return;
	}
	if (system("nft --version >/dev/null 2>&1") != 0)
		skip_reason = "the nft binary is not installed (Debian package nftables)";
	else if (system("ip -V >/dev/null 2>&1") != 0)
		skip_reason = "the ip binary is not installed (Debian package iproute2)";
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(stale_flow_keeps_the_old_endpoint_until_deleted,
					    fresh_netns_setup, close_sockets_teardown),
	    cmocka_unit_test_setup_teardown(match_that_fits_nothing_deletes_nothing,
					    fresh_netns_setup, close_sockets_teardown),
	    cmocka_unit_test_setup_teardown(any_address_deletes_the_port_on_every_address,
					    fresh_netns_setup, close_sockets_teardown),
	    cmocka_unit_test_setup_teardown(tcp_connections_are_left_alone, fresh_netns_setup,
					    close_sockets_teardown),
	    cmocka_unit_test_setup_teardown(unprivileged_caller_gets_the_dump_error,
					    fresh_netns_setup, close_sockets_teardown),
	};

	/* Before any test: from here on nothing this process or its children do reaches the
	 * machine's own network. */
	enter_private_netns();
	if (skip_reason)
		print_message("conntrack flow tests skipped: %s\n", skip_reason);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
