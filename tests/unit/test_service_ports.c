/* Services and Endpoints read for the proxy, joined into service ports; and the elements and
 * load-balancing chains those become. No kernel: the byte layout and the diffs alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "iptables/lb_chain.h"
#include "iptables/proxy_elements.h"
#include "iptables/service_ports.h"

static json_t *load(const char *text)
{
	json_error_t jerr;
	json_t *value = json_loads(text, 0, &jerr);

	if (!value)
		fail_msg("bad test JSON: %s", jerr.text);
	return value;
}

static uint32_t ip(const char *text)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, text, &a), 1);
	return ntohl(a.s_addr);
}

static const char web_service[] =
    "{\"metadata\": {\"namespace\": \"shop\", \"name\": \"web\"}, \"spec\": {"
    "\"clusterIP\": \"10.96.0.10\", \"type\": \"NodePort\", \"sessionAffinity\": \"ClientIP\","
    "\"ports\": [{\"name\": \"http\", \"port\": 80, \"targetPort\": \"http\", \"nodePort\": 30080},"
    "{\"name\": \"dns\", \"protocol\": \"UDP\", \"port\": 53}]}}";

/* Two pods serve "http" on 8080, one on 9090 (a named target port resolved per pod); one pod
 * is not ready; one address is on another node. */
static const char web_endpoints[] =
    "{\"metadata\": {\"namespace\": \"shop\", \"name\": \"web\"}, \"subsets\": ["
    "{\"addresses\": [{\"ip\": \"10.244.1.3\", \"nodeName\": \"n1\"},"
    "{\"ip\": \"10.244.2.7\", \"nodeName\": \"n2\"}],"
    " \"notReadyAddresses\": [{\"ip\": \"10.244.1.9\", \"nodeName\": \"n1\"}],"
    " \"ports\": [{\"name\": \"http\", \"port\": 8080}, {\"name\": \"dns\", \"port\": 5353, "
    "\"protocol\": \"UDP\"}]},"
    "{\"addresses\": [{\"ip\": \"10.244.1.4\", \"nodeName\": \"n1\"}],"
    " \"ports\": [{\"name\": \"http\", \"port\": 9090}]}]}";

struct joined {
	struct service_spec service;
	struct endpoints_spec endpoints;
	struct service_port *ports;
	size_t count;
};

static void join(struct joined *j, const char *service, const char *endpoints)
{
	json_t *s = load(service), *e = endpoints ? load(endpoints) : NULL;
	struct ck_error err = {0};

	memset(j, 0, sizeof(*j));
	if (service_spec_parse(s, &j->service, &err) < 0)
		fail_msg("%s", err.message);
	if (e && endpoints_spec_parse(e, "n1", &j->endpoints, &err) < 0)
		fail_msg("%s", err.message);
	service_ports_build(&j->service, e ? &j->endpoints : NULL, &j->ports, &j->count);
	json_decref(s);
	json_decref(e);
}

static void unjoin(struct joined *j)
{
	service_ports_free(j->ports, j->count);
	service_spec_clear(&j->service);
	endpoints_spec_clear(&j->endpoints);
}

static void ports_get_their_ready_endpoints(void **state)
{
	struct joined j;

	(void)state;
	join(&j, web_service, web_endpoints);
	assert_int_equal(j.count, 2);

	assert_int_equal(j.ports[0].cluster_ip, ip("10.96.0.10"));
	assert_int_equal(j.ports[0].protocol, IPPROTO_TCP);
	assert_int_equal(j.ports[0].port, 80);
	assert_int_equal(j.ports[0].node_port, 30080);
	assert_int_equal(j.ports[0].affinity_seconds, 10800); /* Kubernetes' default */
	/* Sorted by address; each with the port its subset gives; the not-ready one absent. */
	assert_int_equal(j.ports[0].endpoint_count, 3);
	assert_int_equal(j.ports[0].endpoints[0].address, ip("10.244.1.3"));
	assert_int_equal(j.ports[0].endpoints[0].port, 8080);
	assert_true(j.ports[0].endpoints[0].local);
	assert_int_equal(j.ports[0].endpoints[1].address, ip("10.244.1.4"));
	assert_int_equal(j.ports[0].endpoints[1].port, 9090);
	assert_int_equal(j.ports[0].endpoints[2].address, ip("10.244.2.7"));
	assert_false(j.ports[0].endpoints[2].local);

	/* The UDP port is served by the first subset only. */
	assert_int_equal(j.ports[1].protocol, IPPROTO_UDP);
	assert_int_equal(j.ports[1].node_port, 0);
	assert_int_equal(j.ports[1].endpoint_count, 2);
	assert_int_equal(j.ports[1].endpoints[0].port, 5353);
	unjoin(&j);
}

static void services_without_an_address_get_nothing(void **state)
{
	static const char *const services[] = {
	    "{\"metadata\": {\"name\": \"h\"}, \"spec\": {\"clusterIP\": \"None\", \"ports\": "
	    "[{\"port\": 80}]}}",
	    "{\"metadata\": {\"name\": \"x\"}, \"spec\": {\"type\": \"ExternalName\", "
	    "\"externalName\": \"example.org\"}}",
	    "{\"metadata\": {\"name\": \"p\"}, \"spec\": {\"ports\": [{\"port\": 80}]}}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
		struct joined j;

		join(&j, services[i], NULL);
		assert_int_equal(j.count, 0);
		unjoin(&j);
	}
}

static void affinity_timeout_and_no_endpoints(void **state)
{
	struct joined j;

	(void)state;
	join(&j,
	     "{\"metadata\": {\"name\": \"a\"}, \"spec\": {\"clusterIP\": \"10.96.0.11\", "
	     "\"sessionAffinity\": \"ClientIP\", \"sessionAffinityConfig\": {\"clientIP\": "
	     "{\"timeoutSeconds\": 60}}, \"ports\": [{\"port\": 443, \"protocol\": \"SCTP\"}]}}",
	     "{\"metadata\": {\"name\": \"a\"}}");
	assert_int_equal(j.count, 1);
	assert_int_equal(j.ports[0].affinity_seconds, 60);
	assert_int_equal(j.ports[0].protocol, IPPROTO_SCTP);
	assert_int_equal(j.ports[0].endpoint_count, 0);
	unjoin(&j);
}

static void bad_objects_are_refused_by_name(void **state)
{
	struct service_spec service;
	struct endpoints_spec endpoints;
	struct ck_error err = {0};
	json_t *bad = load("{\"metadata\": {\"namespace\": \"shop\", \"name\": \"web\"}, "
			   "\"spec\": {\"clusterIP\": \"10.96.0.10\", \"ports\": "
			   "[{\"port\": 80, \"protocol\": \"ICMP\"}]}}");

	(void)state;
	assert_int_equal(service_spec_parse(bad, &service, &err), -EINVAL);
	assert_string_equal(err.message,
			    "service shop/web: spec.ports[0]: bad protocol, port or nodePort");
	json_decref(bad);

	bad = load("{\"metadata\": {\"namespace\": \"shop\", \"name\": \"web\"}, "
		   "\"spec\": {\"clusterIP\": \"10.96.0\"}}");
	assert_int_equal(service_spec_parse(bad, &service, &err), -EINVAL);
	assert_string_equal(err.message,
			    "service shop/web: spec.clusterIP: 10.96.0: not an IPv4 address");
	json_decref(bad);

	bad = load("{\"metadata\": {\"name\": \"web\"}, \"subsets\": [{\"addresses\": "
		   "[{\"ip\": \"fe80::1\"}]}]}");
	assert_int_equal(endpoints_spec_parse(bad, "n1", &endpoints, &err), -EINVAL);
	assert_string_equal(err.message, "endpoints default/web: subsets[0]: bad address or port");
	json_decref(bad);
}

/* --- elements --------------------------------------------------------------------------- */

static const struct proxy_element *find(const struct element_list *list, enum proxy_set set,
					size_t nth)
{
	for (size_t i = 0; i < list->count; i++)
		if (list->items[i].set == set && nth-- == 0)
			return &list->items[i];
	return NULL;
}

static size_t count_of(const struct element_list *list, enum proxy_set set)
{
	size_t n = 0;

	for (size_t i = 0; i < list->count; i++)
		n += list->items[i].set == set;
	return n;
}

static void port_with_endpoints_has_its_elements(void **state)
{
	struct element_list list = {0};
	struct joined j;
	const struct proxy_element *e;
	/* 10.96.0.10 . tcp . 80, each member padded to four bytes, network order. */
	static const uint8_t service_key[12] = {10, 96, 0, 10, IPPROTO_TCP, 0, 0, 0, 0, 80, 0, 0};
	static const uint8_t first_backend[8] = {10, 244, 1, 3, 0x1f, 0x90, 0, 0};
	uint32_t slot;

	(void)state;
	join(&j, web_service, web_endpoints);
	element_list_add_service_port(&list, &j.ports[0]);
	element_list_sort(&list);

	e = find(&list, PROXY_SET_LB, 1); /* sorted: the shorter node port key first */
	assert_non_null(e);
	assert_int_equal(e->key_len, 12);
	assert_memory_equal(e->key, service_key, 12);
	assert_int_equal(e->data.chain.entry, LB_CLUSTER_IP);
	assert_int_equal(e->data.chain.endpoints, 3);
	assert_int_equal(e->data.chain.affinity_seconds, 10800);

	assert_int_equal(count_of(&list, PROXY_SET_BACKENDS), 3);
	e = find(&list, PROXY_SET_BACKENDS, 0);
	assert_int_equal(e->key_len, 16);
	assert_memory_equal(e->key, service_key, 12);
	memcpy(&slot, e->key + 12, 4); /* host order, as numgen writes it */
	assert_int_equal(slot, 0);
	assert_memory_equal(e->data.bytes, first_backend, 8);

	assert_int_equal(count_of(&list, PROXY_SET_LB), 2);
	assert_int_equal(find(&list, PROXY_SET_LB, 0)->data.chain.entry, LB_NODE_PORT);
	/* The node port's own backends: tcp . 30080 . slot. */
	assert_int_equal(count_of(&list, PROXY_SET_NODE_PORT_BACKENDS), 3);
	e = find(&list, PROXY_SET_NODE_PORT_BACKENDS, 0);
	assert_int_equal(e->key_len, 12);
	assert_memory_equal(e->key, ((uint8_t[]){IPPROTO_TCP, 0, 0, 0, 0x75, 0x80, 0, 0}), 8);
	assert_memory_equal(e->data.bytes, first_backend, 8);
	assert_int_equal(count_of(&list, PROXY_SET_CLUSTER_IPS), 1);
	assert_int_equal(count_of(&list, PROXY_SET_NO_ENDPOINTS), 0);
	element_list_clear(&list);
	unjoin(&j);
}

static void port_without_endpoints_is_refused(void **state)
{
	struct element_list list = {0};
	struct joined j;

	(void)state;
	join(&j, web_service, NULL);
	/* Both ports share the ClusterIP: one element for it. */
	for (size_t i = 0; i < j.count; i++)
		element_list_add_service_port(&list, &j.ports[i]);
	element_list_sort(&list);
	assert_int_equal(count_of(&list, PROXY_SET_CLUSTER_IPS), 1);
	assert_int_equal(count_of(&list, PROXY_SET_NO_ENDPOINTS), 2);
	assert_int_equal(count_of(&list, PROXY_SET_NO_ENDPOINT_NODE_PORTS), 1);
	assert_int_equal(count_of(&list, PROXY_SET_LB), 0);
	assert_int_equal(count_of(&list, PROXY_SET_BACKENDS), 0);
	assert_int_equal(list.count, 4);
	element_list_clear(&list);
	unjoin(&j);
}

static void diff_sends_only_what_changed(void **state)
{
	struct element_list before = {0}, after = {0};
	struct element_changes changes = {0};
	struct joined a, b;

	(void)state;
	join(&a, web_service, web_endpoints);
	/* One endpoint fewer: 10.244.1.4 goes, the slot after it moves down. */
	join(&b, web_service,
	     "{\"metadata\": {\"name\": \"web\"}, \"subsets\": [{\"addresses\": "
	     "[{\"ip\": \"10.244.1.3\"}, {\"ip\": \"10.244.2.7\"}], \"ports\": [{\"name\": "
	     "\"http\", "
	     "\"port\": 8080}, {\"name\": \"dns\", \"port\": 5353, \"protocol\": \"UDP\"}]}]}");
	element_list_add_service_port(&before, &a.ports[0]);
	element_list_add_service_port(&after, &b.ports[0]);
	element_list_sort(&before);
	element_list_sort(&after);
	element_changes_diff(&changes, &before, &after);
	/* Deleted: slot 1 (changed value) and slot 2 (gone) of the backends and of the node port's
	 * backends, the port in the sets of cluster-3 and node-port-3. Added: slot 1 again twice,
	 * the port in the sets of cluster-2 and node-port-2. */
	assert_int_equal(changes.deleted, 6);
	assert_int_equal(changes.added, 4);
	/* The same again: nothing. */
	element_changes_clear(&changes);
	element_changes_diff(&changes, &after, &after);
	assert_int_equal(changes.deleted + changes.added, 0);
	element_changes_clear(&changes);
	element_list_clear(&before);
	element_list_clear(&after);
	unjoin(&a);
	unjoin(&b);
}

static void chain_names_round_trip(void **state)
{
	struct lb_chain chain = {LB_NODE_PORT, 12, 600}, back;
	char name[PROXY_CHAIN_NAME_MAX];

	(void)state;
	lb_chain_name(&chain, name);
	assert_string_equal(name, "node-port-12-affinity-600");
	assert_true(lb_chain_parse(name, &back));
	assert_memory_equal(&back, &chain, sizeof(chain));
	chain = (struct lb_chain){LB_CLUSTER_IP, 3, 0};
	lb_chain_name(&chain, name);
	assert_string_equal(name, "cluster-3");
	assert_true(lb_chain_parse("cluster-3", &back));
	assert_int_equal(back.endpoints, 3);
	/* Names that are not ours, or not as we spell them. */
	assert_false(lb_chain_parse("cluster-03", &back));
	assert_false(lb_chain_parse("cluster-0", &back));
	assert_false(lb_chain_parse("cluster-3x", &back));
	assert_false(lb_chain_parse("services", &back));
	assert_false(lb_chain_parse("node-port-", &back));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ports_get_their_ready_endpoints),
	    cmocka_unit_test(services_without_an_address_get_nothing),
	    cmocka_unit_test(affinity_timeout_and_no_endpoints),
	    cmocka_unit_test(bad_objects_are_refused_by_name),
	    cmocka_unit_test(port_with_endpoints_has_its_elements),
	    cmocka_unit_test(port_without_endpoints_is_refused),
	    cmocka_unit_test(diff_sends_only_what_changed),
	    cmocka_unit_test(chain_names_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
