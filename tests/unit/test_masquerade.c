/* The pod network's masquerade rule, checked with nft itself in a network namespace of the
 * test's own: main() moves the whole test process into a new one before any test runs, so the
 * machine's ruleset is never read or written. Needs root and the nft binary; skips otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "netns/masquerade.h"
#include "tests/unit/shell_output.h"

/* Why the tests cannot run here, or NULL when they can. */
static const char *skip_reason;
/* The namespace main() left and the one it made: every test checks it is still in the latter
 * before it lets nft change anything. */
static ino_t host_netns, test_netns;

static const char expected_default[] =
    "table ip ckube-network {\n"
    "\tchain postrouting {\n"
    "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
    "\t\tip saddr 10.244.1.0/24 ip daddr != 10.244.0.0/16 masquerade\n"
    "\t}\n"
    "}\n";

static ino_t netns_inode(void)
{
	struct stat st;

	if (stat("/proc/thread-self/ns/net", &st) < 0)
		return 0;
	return st.st_ino;
}

static int netns_setup(void **state)
{
	struct ck_error err = {0};

	(void)state;
	if (skip_reason)
		return 0;
	if (netns_inode() != test_netns || test_netns == host_netns) {
		print_error("not in the test's network namespace\n");
		return -1;
	}
	/* Each test starts from an empty namespace, whatever the last one left. */
	if (pod_masquerade_remove(&err) < 0) {
		print_error("%s\n", err.message);
		return -1;
	}
	return system("nft delete table ip other 2>/dev/null; nft delete table inet other6 "
		      "2>/dev/null; true") == 0
		   ? 0
		   : -1;
}

static void need_netns(void)
{
	if (skip_reason) {
		print_message("skipped: %s\n", skip_reason);
		skip();
	}
}

static void must(const char *command)
{
	char out[4096];

	if (shell_output(out, sizeof(out), "%s", command) != 0)
		fail_msg("%s: %s", command, out);
}

static void list_table(const char *family_and_name, char *out, size_t len)
{
	char command[256];

	snprintf(command, sizeof(command), "nft list table %s", family_and_name);
	if (shell_output(out, len, "%s", command) != 0)
		fail_msg("%s: %s", command, out);
}

static struct ipv4_cidr cidr(const char *text)
{
	struct ipv4_cidr out;
	struct ck_error err = {0};

	if (ipv4_cidr_parse(text, &out, &err) < 0)
		fail_msg("%s", err.message);
	return out;
}

static void apply(const char *pod, const char *cluster)
{
	struct ipv4_cidr pod_cidr = cidr(pod), cluster_cidr = cidr(cluster);
	struct ck_error err = {0};

	if (pod_masquerade_apply(&pod_cidr, &cluster_cidr, &err) < 0)
		fail_msg("apply %s %s: %s", pod, cluster, err.message);
}

static size_t count(const char *haystack, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(haystack, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void apply_creates_exactly_the_rule(void **state)
{
	char out[4096];

	(void)state;
	need_netns();
	apply("10.244.1.0/24", "10.244.0.0/16");
	list_table("ip ckube-network", out, sizeof(out));
	assert_string_equal(out, expected_default);
}

/* Without sending a packet: the chain is where source NAT happens, as numbers. */
static void chain_is_nat_at_postrouting_priority_100(void **state)
{
	char out[4096];
	json_error_t error;
	json_t *chain = NULL;
	size_t i;
	json_t *item;

	(void)state;
	need_netns();
	apply("10.244.1.0/24", "10.244.0.0/16");
	if (shell_output(out, sizeof(out), "nft -j list chains ip") != 0)
		fail_msg("nft -j list chains: %s", out);
	json_t *root = json_loads(out, 0, &error);
	assert_non_null(root);
	json_array_foreach (json_object_get(root, "nftables"), i, item) {
		json_t *candidate = json_object_get(item, "chain");
		if (candidate && !strcmp(json_string_value(json_object_get(candidate, "table")),
					 "ckube-network")) {
			assert_null(chain);
			chain = candidate;
		}
	}
	assert_non_null(chain);
	assert_string_equal(json_string_value(json_object_get(chain, "name")), "postrouting");
	assert_string_equal(json_string_value(json_object_get(chain, "type")), "nat");
	assert_string_equal(json_string_value(json_object_get(chain, "hook")), "postrouting");
	assert_int_equal(json_integer_value(json_object_get(chain, "prio")), 100);
	assert_string_equal(json_string_value(json_object_get(chain, "policy")), "accept");
	json_decref(root);
}

static void apply_twice_leaves_one_rule(void **state)
{
	char out[4096];

	(void)state;
	need_netns();
	apply("10.244.1.0/24", "10.244.0.0/16");
	apply("10.244.1.0/24", "10.244.0.0/16");
	list_table("ip ckube-network", out, sizeof(out));
	assert_int_equal(count(out, "masquerade"), 1);
	assert_int_equal(count(out, "chain "), 1);
	assert_string_equal(out, expected_default);
}

static void apply_with_other_cidrs_replaces_the_rule(void **state)
{
	char out[4096];

	(void)state;
	need_netns();
	apply("10.244.1.0/24", "10.244.0.0/16");
	apply("10.96.7.0/25", "10.96.0.0/12");
	list_table("ip ckube-network", out, sizeof(out));
	assert_string_equal(out, "table ip ckube-network {\n"
				 "\tchain postrouting {\n"
				 "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
				 "\t\tip saddr 10.96.7.0/25 ip daddr != 10.96.0.0/12 masquerade\n"
				 "\t}\n"
				 "}\n");
}

/* A /32 is one address, compared whole: nft shows it without a prefix. */
static void single_address_pod_cidr(void **state)
{
	char out[4096];

	(void)state;
	need_netns();
	apply("10.244.1.7/32", "10.244.0.0/16");
	list_table("ip ckube-network", out, sizeof(out));
	assert_non_null(
	    strstr(out, "\t\tip saddr 10.244.1.7 ip daddr != 10.244.0.0/16 masquerade\n"));
	assert_int_equal(count(out, "masquerade"), 1);
}

/* Whatever the table held, from an older ckube or by hand, gives way to the one chain and rule,
 * a chain of the same name with another priority included. */
static void apply_replaces_anything_else_in_its_table(void **state)
{
	char out[4096];

	(void)state;
	need_netns();
	must("nft add table ip ckube-network 2>&1");
	must("nft 'add chain ip ckube-network postrouting { type nat hook postrouting priority 50; "
	     "}' "
	     "2>&1");
	must("nft add rule ip ckube-network postrouting ip saddr 192.168.0.0/16 masquerade 2>&1");
	must("nft add chain ip ckube-network leftover 2>&1");
	must("nft add rule ip ckube-network leftover counter accept 2>&1");
	apply("10.244.1.0/24", "10.244.0.0/16");
	list_table("ip ckube-network", out, sizeof(out));
	assert_string_equal(out, expected_default);
}

static void remove_deletes_the_table(void **state)
{
	struct ck_error err = {0};
	char out[4096];

	(void)state;
	need_netns();
	apply("10.244.1.0/24", "10.244.0.0/16");
	assert_int_equal(pod_masquerade_remove(&err), 0);
	assert_int_not_equal(shell_output(out, sizeof(out), "nft list table ip ckube-network"), 0);
	assert_int_equal(shell_output(out, sizeof(out), "nft list tables"), 0);
	assert_null(strstr(out, "ckube-network"));
}

static void remove_when_absent_is_zero(void **state)
{
	struct ck_error err = {0};
	char out[4096];

	(void)state;
	need_netns();
	assert_int_equal(pod_masquerade_remove(&err), 0);
	assert_int_equal(pod_masquerade_remove(&err), 0);
	assert_int_equal(err.code, 0);
	assert_int_equal(shell_output(out, sizeof(out), "nft list tables"), 0);
	assert_null(strstr(out, "ckube-network"));
}

static void other_tables_are_untouched(void **state)
{
	char before_ip[4096], before_inet[4096], after[4096];
	struct ck_error err = {0};

	(void)state;
	need_netns();
	must("nft add table ip other 2>&1");
	must("nft 'add chain ip other post { type nat hook postrouting priority srcnat; }' 2>&1");
	must("nft add rule ip other post ip saddr 192.168.5.0/24 oifname lo masquerade 2>&1");
	must("nft add chain ip other plain 2>&1");
	must("nft add rule ip other plain ip daddr 10.244.0.0/16 counter accept 2>&1");
	must("nft add table inet other6 2>&1");
	must("nft 'add chain inet other6 input { type filter hook input priority 0; }' 2>&1");
	must("nft add rule inet other6 input tcp dport 22 accept 2>&1");
	list_table("ip other", before_ip, sizeof(before_ip));
	list_table("inet other6", before_inet, sizeof(before_inet));

	apply("10.244.1.0/24", "10.244.0.0/16");
	apply("10.244.2.0/24", "10.244.0.0/16");
	list_table("ip other", after, sizeof(after));
	assert_string_equal(after, before_ip);
	list_table("inet other6", after, sizeof(after));
	assert_string_equal(after, before_inet);

	assert_int_equal(pod_masquerade_remove(&err), 0);
	list_table("ip other", after, sizeof(after));
	assert_string_equal(after, before_ip);
	list_table("inet other6", after, sizeof(after));
	assert_string_equal(after, before_inet);
}

/* A CIDR whose numbers do not make a block is refused before anything is sent. */
static void malformed_cidr_changes_nothing(void **state)
{
	struct ipv4_cidr pod = cidr("10.244.1.0/24"), cluster = cidr("10.244.0.0/16");
	struct ipv4_cidr host_bits = {.network = 0x0af40101, .prefix = 24};
	struct ipv4_cidr too_long = {.network = 0x0af40100, .prefix = 33};
	struct ck_error err = {0};
	char out[4096];

	(void)state;
	need_netns();
	apply("10.244.1.0/24", "10.244.0.0/16");
	assert_int_equal(pod_masquerade_apply(&host_bits, &cluster, &err), -EINVAL);
	assert_string_equal(
	    err.message, "nftables table ip ckube-network: pod CIDR 10.244.1.1/24: host bits set");
	ck_error_clear(&err);
	assert_int_equal(pod_masquerade_apply(&pod, &too_long, &err), -EINVAL);
	assert_non_null(strstr(err.message, "cluster CIDR: prefix length 33 over 32"));
	list_table("ip ckube-network", out, sizeof(out));
	assert_string_equal(out, expected_default);
}

/* Holds `table ip ckube-network` with the owner flag: the kernel then refuses every change to
 * it from another socket, and deletes it when `*out` is closed. */
static void own_the_table(struct mnl_socket **out)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct nftnl_table *table = nftnl_table_alloc();
	char buf[8192], reply[8192];
	struct mnl_nlmsg_batch *batch;
	struct nlmsghdr *nlh;
	ssize_t n;

	memset(buf, 0, sizeof(buf));
	assert_non_null(nl);
	assert_non_null(table);
	assert_int_equal(mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0);
	nftnl_table_set_u32(table, NFTNL_TABLE_FAMILY, NFPROTO_IPV4);
	nftnl_table_set_str(table, NFTNL_TABLE_NAME, POD_MASQUERADE_TABLE);
	nftnl_table_set_u32(table, NFTNL_TABLE_FLAGS, NFT_TABLE_F_OWNER);
	batch = mnl_nlmsg_batch_start(buf, sizeof(buf) / 2);
	nftnl_batch_begin(mnl_nlmsg_batch_current(batch), 1);
	mnl_nlmsg_batch_next(batch);
	nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(batch), NFT_MSG_NEWTABLE, NFPROTO_IPV4,
				    NLM_F_CREATE | NLM_F_ACK, 2);
	nftnl_table_nlmsg_build_payload(nlh, table);
	mnl_nlmsg_batch_next(batch);
	nftnl_batch_end(mnl_nlmsg_batch_current(batch), 3);
	mnl_nlmsg_batch_next(batch);
	assert_int_equal(
	    mnl_socket_sendto(nl, mnl_nlmsg_batch_head(batch), mnl_nlmsg_batch_size(batch)),
	    (ssize_t)mnl_nlmsg_batch_size(batch));
	mnl_nlmsg_batch_stop(batch);
	nftnl_table_free(table);
	n = mnl_socket_recvfrom(nl, reply, sizeof(reply));
	assert_true(n > 0);
	if (mnl_cb_run(reply, (size_t)n, 2, mnl_socket_get_portid(nl), NULL, NULL) < 0)
		fail_msg("create the owned table: %s", strerror(errno));
	*out = nl;
}

/* The kernel's refusal names the message of the batch it was for. */
static void kernel_error_names_the_step(void **state)
{
	struct ipv4_cidr pod = cidr("10.244.1.0/24"), cluster = cidr("10.244.0.0/16");
	struct ck_error err = {0};
	struct mnl_socket *owner;
	char out[4096];

	(void)state;
	need_netns();
	own_the_table(&owner);
	list_table("ip ckube-network", out, sizeof(out));
	assert_int_equal(pod_masquerade_apply(&pod, &cluster, &err), -EPERM);
	assert_string_equal(err.message, "nftables table ip ckube-network: make sure the table "
					 "exists: Operation not permitted");
	ck_error_clear(&err);
	assert_int_equal(pod_masquerade_remove(&err), -EPERM);
	assert_string_equal(err.message, "nftables table ip ckube-network: make sure the table "
					 "exists: Operation not permitted");
	/* Refused as a whole: the owner's empty table is still there, without a chain. */
	char after[4096];
	list_table("ip ckube-network", after, sizeof(after));
	assert_string_equal(after, out);
	assert_null(strstr(after, "chain"));
	mnl_socket_close(owner);
}

/* Without CAP_NET_ADMIN the kernel refuses the whole batch with one error for its start. */
static void unprivileged_caller_gets_the_batch_error(void **state)
{
	struct ipv4_cidr pod = cidr("10.244.1.0/24"), cluster = cidr("10.244.0.0/16");
	int fds[2];
	pid_t child;
	int status;
	char message[sizeof(((struct ck_error *)0)->message) + 32] = "";
	ssize_t n;

	(void)state;
	need_netns();
	assert_int_equal(pipe(fds), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct ck_error err = {0};
		int rc;

		close(fds[0]);
		if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
			_exit(2);
		rc = pod_masquerade_apply(&pod, &cluster, &err);
		dprintf(fds[1], "%d %s", rc, err.message);
		_exit(0);
	}
	close(fds[1]);
	n = read(fds[0], message, sizeof(message) - 1);
	close(fds[0]);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(n > 0);
	message[n] = '\0';
	char expected[256];
	snprintf(expected, sizeof(expected),
		 "%d nftables table ip ckube-network: run the batch: Operation not permitted",
		 -EPERM);
	assert_string_equal(message, expected);
	assert_int_not_equal(
	    shell_output(message, sizeof(message), "nft list table ip ckube-network"), 0);
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
	test_netns = netns_inode();
	if (!host_netns || test_netns == host_netns) {
		skip_reason = "could not tell the new network namespace from the old";
		return;
	}
	if (system("nft --version >/dev/null 2>&1") != 0)
		skip_reason = "the nft binary is not installed (Debian package nftables)";
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(apply_creates_exactly_the_rule, netns_setup),
	    cmocka_unit_test_setup(chain_is_nat_at_postrouting_priority_100, netns_setup),
	    cmocka_unit_test_setup(apply_twice_leaves_one_rule, netns_setup),
	    cmocka_unit_test_setup(apply_with_other_cidrs_replaces_the_rule, netns_setup),
	    cmocka_unit_test_setup(single_address_pod_cidr, netns_setup),
	    cmocka_unit_test_setup(apply_replaces_anything_else_in_its_table, netns_setup),
	    cmocka_unit_test_setup(remove_deletes_the_table, netns_setup),
	    cmocka_unit_test_setup(remove_when_absent_is_zero, netns_setup),
	    cmocka_unit_test_setup(other_tables_are_untouched, netns_setup),
	    cmocka_unit_test_setup(malformed_cidr_changes_nothing, netns_setup),
	    cmocka_unit_test_setup(kernel_error_names_the_step, netns_setup),
	    cmocka_unit_test_setup(unprivileged_caller_gets_the_batch_error, netns_setup),
	};

	/* Before any test: from here on nothing this process or its children do reaches the
	 * machine's own network. */
	enter_private_netns();
	if (skip_reason)
		print_message("masquerade tests skipped: %s\n", skip_reason);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
