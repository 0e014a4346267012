/* The Service proxy: see proxy.h. */
#include "iptables/proxy.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netinet/in.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include "iptables/conntrack_flows.h"
#include "iptables/lb_chain.h"
#include "iptables/nft_read.h"
#include "iptables/proxy_elements.h"
#include "lib/cleanup.h"
#include "lib/ipv4_cidr.h"
#include "lib/json_util.h"
#include "lib/log.h"
#include "lib/strmap.h"

/* A load-balancing chain and the Service ports that go to it. */
struct chain_use {
	struct lb_chain chain;
	size_t users;
	int64_t unused_since; /* ms, when users fell to 0 */
	bool in_kernel;
};

/* One Service by namespace/name: what the API said, and what the kernel was told. */
struct proxied {
	char *key; /* namespace/name */
	bool has_service, has_endpoints;
	struct service_spec service;
	struct endpoints_spec endpoints;
	bool dirty;
	struct service_port *applied;
	size_t applied_count;
};

struct proxy {
	struct proxy_config config;
	char *bridge, *node_name;
	struct strmap *services; /* "namespace/name" -> struct proxied */
	struct strmap *chains;   /* chain name -> struct chain_use */
	struct strmap *hairpin;  /* address -> how many Service ports have it (as a pointer) */
	struct proxied **dirty;
	size_t dirty_count, dirty_capacity;
	struct mnl_socket *nl; /* one for the proxy's life: see nft_batch.h */
	bool in_sync;          /* the kernel's table is what `applied` says */
	bool dispatch_changed; /* a load-balancing chain came: `services` needs its rule */
	uint32_t generation;
	struct udp_flow_match *stale_udp;
	/* Affinity records of Service ports that lost their affinity: their keys' Service part
	 * (the elements of PROXY_SET_LB of those ports). */
	struct element_list stale_affinity;
	size_t stale_udp_count, stale_udp_capacity;
};

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (!p)
		abort();
	return p;
}

static char *xstrdup(const char *s)
{
	char *copy = s ? strdup(s) : NULL;

	if (s && !copy)
		abort();
	return copy;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void proxied_free(void *value)
{
	struct proxied *p = value;

	service_spec_clear(&p->service);
	endpoints_spec_clear(&p->endpoints);
	service_ports_free(p->applied, p->applied_count);
	free(p->key);
	free(p);
}

struct proxy *proxy_new(const struct proxy_config *config)
{
	struct proxy *p = calloc(1, sizeof(*p));

	if (!p)
		abort();
	p->config = *config;
	p->config.masquerade_bridge = p->bridge = xstrdup(config->masquerade_bridge);
	p->config.node_name = p->node_name = xstrdup(config->node_name);
	p->services = strmap_new(proxied_free);
	p->chains = strmap_new(free);
	p->hairpin = strmap_new(NULL);
	return p;
}

void proxy_free(struct proxy *p)
{
	if (!p)
		return;
	nft_socket_close(p->nl);
	strmap_free(p->services);
	strmap_free(p->chains);
	strmap_free(p->hairpin);
	free(p->dirty);
	free(p->stale_udp);
	element_list_clear(&p->stale_affinity);
	free(p->bridge);
	free(p->node_name);
	free(p);
}

/* --- what the API says ------------------------------------------------------------------ */

static void object_key(const char *namespace, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", namespace ? namespace : "default", name ? name : "");
}

static void json_key(const json_t *object, char *out, size_t size)
{
	object_key(json_path_string(object, "metadata.namespace"),
		   json_path_string(object, "metadata.name"), out, size);
}

static void mark_dirty(struct proxy *p, struct proxied *record)
{
	if (record->dirty)
		return;
	record->dirty = true;
	if (p->dirty_count == p->dirty_capacity) {
		p->dirty_capacity = p->dirty_capacity ? 2 * p->dirty_capacity : 64;
		p->dirty = xrealloc(p->dirty, p->dirty_capacity * sizeof(*p->dirty));
	}
	p->dirty[p->dirty_count++] = record;
}

static struct proxied *record_for(struct proxy *p, const char *key)
{
	struct proxied *record = strmap_get(p->services, key);

	if (!record) {
		record = calloc(1, sizeof(*record));
		if (!record)
			abort();
		record->key = xstrdup(key);
		strmap_put(p->services, key, record);
	}
	return record;
}

int proxy_set_service(struct proxy *p, const json_t *service, struct ck_error *err)
{
	struct service_spec spec;
	struct proxied *record;
	char key[512];
	int r = service_spec_parse(service, &spec, err);

	if (r < 0)
		return r;
	json_key(service, key, sizeof(key));
	record = record_for(p, key);
	service_spec_clear(&record->service);
	record->service = spec;
	record->has_service = true;
	mark_dirty(p, record);
	return 0;
}

int proxy_set_endpoints(struct proxy *p, const json_t *endpoints, struct ck_error *err)
{
	struct endpoints_spec spec;
	struct proxied *record;
	char key[512];
	int r = endpoints_spec_parse(endpoints, p->config.node_name, &spec, err);

	if (r < 0)
		return r;
	json_key(endpoints, key, sizeof(key));
	record = record_for(p, key);
	endpoints_spec_clear(&record->endpoints);
	record->endpoints = spec;
	record->has_endpoints = true;
	mark_dirty(p, record);
	return 0;
}

static void forget_service(struct proxy *p, struct proxied *record)
{
	if (!record || !record->has_service)
		return;
	service_spec_clear(&record->service);
	record->has_service = false;
	mark_dirty(p, record);
}

static void forget_endpoints(struct proxy *p, struct proxied *record)
{
	if (!record || !record->has_endpoints)
		return;
	endpoints_spec_clear(&record->endpoints);
	record->has_endpoints = false;
	mark_dirty(p, record);
}

void proxy_delete_service(struct proxy *p, const char *namespace, const char *name)
{
	char key[512];

	object_key(namespace, name, key, sizeof(key));
	forget_service(p, strmap_get(p->services, key));
}

void proxy_delete_endpoints(struct proxy *p, const char *namespace, const char *name)
{
	char key[512];

	object_key(namespace, name, key, sizeof(key));
	forget_endpoints(p, strmap_get(p->services, key));
}

static int replace_all(struct proxy *p, const json_t *objects, bool services, struct ck_error *err)
{
	_cleanup_(strmap_freep) struct strmap *listed = strmap_new(NULL);
	struct ck_error first = {0};
	const char *key;
	struct proxied *record;
	size_t i;
	json_t *object;
	char name[512];

	json_array_foreach (objects, i, object) {
		int r = services ? proxy_set_service(p, object, &first)
				 : proxy_set_endpoints(p, object, &first);

		if (r < 0 && err && !err->code)
			*err = first;
		json_key(object, name, sizeof(name));
		strmap_put(listed, name, (void *)1);
	}
	STRMAP_FOREACH (p->services, iter, key, record) {
		if (strmap_get(listed, key))
			continue;
		if (services)
			forget_service(p, record);
		else
			forget_endpoints(p, record);
	}
	return err && err->code ? -err->code : 0;
}

int proxy_replace_services(struct proxy *p, const json_t *services, struct ck_error *err)
{
	return replace_all(p, services, true, err);
}

int proxy_replace_endpoints(struct proxy *p, const json_t *endpoints, struct ck_error *err)
{
	return replace_all(p, endpoints, false, err);
}

/* --- from Services to kernel objects ---------------------------------------------------- */

static void chain_acquire(struct proxy *p, const struct lb_chain *chain, struct nft_batch *batch,
			  struct proxy_stats *stats)
{
	char name[PROXY_CHAIN_NAME_MAX];
	struct chain_use *use;

	lb_chain_name(chain, name);
	use = strmap_get(p->chains, name);
	if (!use) {
		use = calloc(1, sizeof(*use));
		if (!use)
			abort();
		use->chain = *chain;
		strmap_put(p->chains, name, use);
	}
	use->users++;
	if (batch && !use->in_kernel) {
		struct proxy_set_definition definition;
		struct chain_spec *specs;
		size_t count = lb_chain_specs(chain, &p->config, &specs);
		struct nftnl_set *set;

		lb_chain_set(chain, name, &definition);
		set = proxy_set_object(&definition);
		nft_batch_set(batch, NFT_MSG_NEWSET, NLM_F_CREATE, set, "create a chain's set");
		nftnl_set_free(set);
		for (size_t i = 0; i < count; i++)
			chain_spec_create(batch, &specs[i]);
		for (size_t i = 0; i < count; i++) {
			chain_spec_fill(batch, &specs[i]);
			chain_spec_clear(&specs[i]);
		}
		free(specs);
		use->in_kernel = true;
		p->dispatch_changed = true;
		stats->chains_added++;
	}
}

static void chain_release(struct proxy *p, const struct lb_chain *chain)
{
	char name[PROXY_CHAIN_NAME_MAX];
	struct chain_use *use;

	lb_chain_name(chain, name);
	use = strmap_get(p->chains, name);
	if (use && use->users && --use->users == 0)
		use->unused_since = now_ms();
}

/* The chains of the ports, taken (`take`) or given back. */
static void use_chains(struct proxy *p, const struct service_port *ports, size_t count, bool take,
		       struct nft_batch *batch, struct proxy_stats *stats)
{
	for (size_t i = 0; i < count; i++) {
		const struct service_port *port = &ports[i];
		struct lb_chain cluster = {LB_CLUSTER_IP, (uint32_t)port->endpoint_count,
					   port->affinity_seconds};
		struct lb_chain node = {LB_NODE_PORT, (uint32_t)port->endpoint_count,
					port->affinity_seconds};

		if (!port->endpoint_count)
			continue;
		if (take)
			chain_acquire(p, &cluster, batch, stats);
		else
			chain_release(p, &cluster);
		if (port->node_port && take)
			chain_acquire(p, &node, batch, stats);
		else if (port->node_port)
			chain_release(p, &node);
	}
}

/* The hairpin elements of the ports' local endpoints, counted up or down (each address once
 * per Service); the element comes and goes with the first and last count. */
static void use_hairpin(struct proxy *p, const struct service_port *ports, size_t count, int step,
			struct element_changes *changes)
{
	_cleanup_(strmap_freep) struct strmap *seen = strmap_new(NULL);

	for (size_t i = 0; i < count; i++) {
		for (size_t j = 0; j < ports[i].endpoint_count; j++) {
			const struct proxy_endpoint *e = &ports[i].endpoints[j];
			char address[IPV4_TEXT_MAX + 1];
			uintptr_t users;

			if (!e->local)
				continue;
			ipv4_address_format(e->address, address);
			if (strmap_get(seen, address))
				continue;
			strmap_put(seen, address, (void *)1);
			users = (uintptr_t)strmap_get(p->hairpin, address) + (uintptr_t)step;
			if (users)
				strmap_put(p->hairpin, address, (void *)users);
			else
				strmap_remove(p->hairpin, address);
			if (changes && step > 0 && users == 1) {
				struct proxy_element e2 = proxy_element_hairpin(e->address);

				element_changes_add(changes, &e2);
			} else if (changes && step < 0 && users == 0) {
				struct proxy_element e2 = proxy_element_hairpin(e->address);

				element_changes_delete(changes, &e2);
			}
		}
	}
}

static void stale_udp_add(struct proxy *p, uint32_t address, uint16_t port, uint32_t endpoint)
{
	if (p->stale_udp_count == p->stale_udp_capacity) {
		p->stale_udp_capacity = p->stale_udp_capacity ? 2 * p->stale_udp_capacity : 16;
		p->stale_udp =
		    xrealloc(p->stale_udp, p->stale_udp_capacity * sizeof(*p->stale_udp));
	}
	p->stale_udp[p->stale_udp_count++] = (struct udp_flow_match){address, port, endpoint};
}

static const struct service_port *find_port(const struct service_port *ports, size_t count,
					    const struct service_port *like)
{
	for (size_t i = 0; i < count; i++)
		if (ports[i].cluster_ip == like->cluster_ip && ports[i].port == like->port &&
		    ports[i].protocol == like->protocol)
			return &ports[i];
	return NULL;
}

static bool has_endpoint(const struct service_port *port, const struct proxy_endpoint *e)
{
	for (size_t i = 0; port && i < port->endpoint_count; i++)
		if (port->endpoints[i].address == e->address && port->endpoints[i].port == e->port)
			return true;
	return false;
}

/* UDP flows that would go on to endpoints that are gone, and flows recorded while a port had
 * no endpoint (they were refused, and a client resending on the same flow would keep being
 * refused by the entry). Node ports are reached on any address of the node. */
static void note_stale_udp(struct proxy *p, const struct service_port *old, size_t old_count,
			   const struct service_port *new, size_t new_count)
{
	for (size_t i = 0; i < old_count; i++) {
		const struct service_port *o = &old[i];
		const struct service_port *n = find_port(new, new_count, o);

		if (o->protocol != IPPROTO_UDP)
			continue;
		for (size_t j = 0; j < o->endpoint_count; j++) {
			if (has_endpoint(n, &o->endpoints[j]))
				continue;
			stale_udp_add(p, o->cluster_ip, o->port, o->endpoints[j].address);
			if (o->node_port)
				stale_udp_add(p, 0, o->node_port, o->endpoints[j].address);
		}
	}
	for (size_t i = 0; i < new_count; i++) {
		const struct service_port *n = &new[i];
		const struct service_port *o = find_port(old, old_count, n);

		if (n->protocol != IPPROTO_UDP || !n->endpoint_count || (o && o->endpoint_count))
			continue;
		stale_udp_add(p, n->cluster_ip, n->port, 0);
		if (n->node_port)
			stale_udp_add(p, 0, n->node_port, 0);
	}
}

/* Ports that had ClientIP affinity and have it no more (or are gone): the packet path only ever
 * adds records, and these would stay until their timeout, for a later Service of the same
 * address and port to inherit. */
static void note_stale_affinity(struct proxy *p, const struct service_port *old, size_t old_count,
				const struct service_port *new, size_t new_count)
{
	for (size_t i = 0; i < old_count; i++) {
		const struct service_port *n = find_port(new, new_count, &old[i]);
		struct element_list elements = {0};

		if (!old[i].affinity_seconds ||
		    (n && n->affinity_seconds && n->node_port == old[i].node_port))
			continue;
		element_list_add_dispatch(&elements, &old[i]);
		for (size_t j = 0; j < elements.count; j++)
			element_list_add(&p->stale_affinity, &elements.items[j]);
		element_list_clear(&elements);
	}
}

/* Whether an affinity record (client . destination . protocol . port . slot) is of a port
 * that lost its affinity: a ClusterIP's whole destination, a node port's protocol and port on
 * any of the node's addresses. */
static bool affinity_record_stale(const struct element_list *stale, const uint8_t *key,
				  uint32_t len)
{
	if (len != 4 + PROXY_SERVICE_KEY_LEN + 4)
		return false;
	for (size_t i = 0; i < stale->count; i++) {
		const struct proxy_element *e = &stale->items[i];

		if (e->data.chain.entry == LB_CLUSTER_IP
			? memcmp(key + 4, e->key, PROXY_SERVICE_KEY_LEN) == 0
			: memcmp(key + 8, e->key, PROXY_NODE_PORT_KEY_LEN) == 0)
			return true;
	}
	return false;
}

struct affinity_sweep {
	struct proxy *proxy;
	struct element_list doomed;
};

static int collect_stale_record(struct nftnl_set_elem *elem, void *ctx)
{
	struct affinity_sweep *sweep = ctx;
	uint32_t len = 0;
	const uint8_t *key = nftnl_set_elem_get(elem, NFTNL_SET_ELEM_KEY, &len);
	struct proxy_element e = {.set = PROXY_SET_AFFINITY};

	if (key && affinity_record_stale(&sweep->proxy->stale_affinity, key, len)) {
		memcpy(e.key, key, len);
		e.key_len = (uint8_t)len;
		element_list_add(&sweep->doomed, &e);
	}
	return 0;
}

static void collect_stale_records(void *ctx, struct nftnl_set *set)
{
	nftnl_set_elem_foreach(set, collect_stale_record, ctx);
}

/* Deleted one by one: a record may time out between the read and its delete, which would fail
 * a batch of them all. */
static void clean_stale_affinity(struct proxy *p)
{
	struct affinity_sweep sweep = {.proxy = p};
	struct ck_error err = {0};

	if (!p->stale_affinity.count)
		return;
	if (nft_read_elements(p->nl, NFPROTO_IPV4, PROXY_TABLE, proxy_set_name(PROXY_SET_AFFINITY),
			      collect_stale_records, &sweep, &err) < 0)
		log_warn("service proxy: affinity records: %s", err.message);
	for (size_t i = 0; i < sweep.doomed.count; i++) {
		struct element_changes changes = {0};
		struct nft_batch *batch = nft_batch_new(NFPROTO_IPV4, PROXY_TABLE_TEXT);

		element_changes_delete(&changes, &sweep.doomed.items[i]);
		element_changes_flush(&changes, batch);
		if (nft_batch_send(batch, p->nl, &err) < 0 && err.code != ENOENT)
			log_warn("service proxy: %s", err.message);
		nft_batch_free(batch);
	}
	element_list_clear(&sweep.doomed);
	element_list_clear(&p->stale_affinity);
}

static void port_elements(const struct service_port *ports, size_t count, struct element_list *out)
{
	for (size_t i = 0; i < count; i++)
		element_list_add_service_port(out, &ports[i]);
	element_list_sort(out);
}

/* Takes every Service that changed: its ports made again from what the API said, the
 * differences with what the kernel was told put into `changes` and `batch` (NULL for a
 * reconciliation, which finds the differences itself), the counts of chains and hairpin
 * addresses brought up to date. */
static void take_changes(struct proxy *p, struct nft_batch *batch, struct element_changes *changes,
			 struct proxy_stats *stats)
{
	for (size_t i = 0; i < p->dirty_count; i++) {
		struct proxied *record = p->dirty[i];
		struct service_port *ports = NULL;
		size_t count = 0;

		record->dirty = false;
		if (record->has_service)
			service_ports_build(&record->service,
					    record->has_endpoints ? &record->endpoints : NULL,
					    &ports, &count);
		if (changes) {
			struct element_list have = {0}, want = {0};

			port_elements(record->applied, record->applied_count, &have);
			port_elements(ports, count, &want);
			element_changes_diff(changes, &have, &want);
			element_list_clear(&have);
			element_list_clear(&want);
		}
		/* Taken before given back: a chain that stays in use is not made again. */
		use_chains(p, ports, count, true, batch, stats);
		use_chains(p, record->applied, record->applied_count, false, NULL, stats);
		use_hairpin(p, ports, count, +1, changes);
		use_hairpin(p, record->applied, record->applied_count, -1, changes);
		note_stale_udp(p, record->applied, record->applied_count, ports, count);
		note_stale_affinity(p, record->applied, record->applied_count, ports, count);
		service_ports_free(record->applied, record->applied_count);
		record->applied = ports;
		record->applied_count = count;
		/* A Service gone from the API goes once the kernel is told. */
		if (!record->has_service && !record->has_endpoints)
			strmap_remove(p->services, record->key);
	}
	p->dirty_count = 0;
}

static void clean_stale_udp(struct proxy *p, struct proxy_stats *stats)
{
	struct ck_error err = {0};

	if (!p->stale_udp_count)
		return;
	if (conntrack_delete_udp_flows(p->stale_udp, p->stale_udp_count, &stats->udp_flows_deleted,
				       &err) < 0)
		log_warn("service proxy: %s", err.message);
	p->stale_udp_count = 0;
}

/* The proxy's socket, opened in the calling thread's namespace the first time. */
static struct mnl_socket *proxy_socket(struct proxy *p, struct ck_error *err)
{
	if (!p->nl)
		p->nl = nft_socket_open(err);
	return p->nl;
}

static void note_generation(struct proxy *p)
{
	struct ck_error err = {0};

	/* Unknown, it differs from any: the next check reconciles. */
	if (nft_read_generation(p->nl, &p->generation, &err) < 0)
		p->generation = UINT32_MAX;
}

static void batch_freep(struct nft_batch **batch)
{
	nft_batch_free(*batch);
}

static int compare_chains(const void *a, const void *b)
{
	char x[PROXY_CHAIN_NAME_MAX], y[PROXY_CHAIN_NAME_MAX];

	lb_chain_name(a, x);
	lb_chain_name(b, y);
	return strcmp(x, y);
}

/* The load-balancing chains in use, or (`in_kernel`) those the kernel has, sorted by name:
 * the `services` chain's rules follow this order, so equal sets of chains give equal rules. */
static size_t chains_of(const struct proxy *p, bool in_kernel, struct lb_chain **out)
{
	struct lb_chain *chains = xrealloc(NULL, (strmap_size(p->chains) + 1) * sizeof(*chains));
	const char *name;
	struct chain_use *use;
	size_t count = 0;

	STRMAP_FOREACH (p->chains, iter, name, use)
		if (in_kernel ? use->in_kernel : use->users > 0)
			chains[count++] = use->chain;
	qsort(chains, count, sizeof(*chains), compare_chains);
	*out = chains;
	return count;
}

/* The `services` chain again, with a rule for each chain the kernel has. */
static void rewrite_dispatch(struct proxy *p, struct nft_batch *batch)
{
	struct lb_chain *chains;
	size_t count = chains_of(p, true, &chains);
	struct chain_spec spec;

	lb_dispatch_chain(chains, count, &spec);
	chain_spec_rewrite(batch, &spec);
	chain_spec_clear(&spec);
	free(chains);
	p->dispatch_changed = false;
}

int proxy_commit(struct proxy *p, struct proxy_stats *stats, struct ck_error *err)
{
	_cleanup_(batch_freep) struct nft_batch *batch = NULL;
	struct element_changes changes = {0};
	struct ck_error failure = {0};
	int r;

	memset(stats, 0, sizeof(*stats));
	if (!p->in_sync)
		return proxy_reconcile(p, stats, err);
	if (!p->dirty_count)
		return 0;
	if (!proxy_socket(p, err))
		return -err->code;
	batch = nft_batch_new(NFPROTO_IPV4, PROXY_TABLE_TEXT);
	take_changes(p, batch, &changes, stats);
	if (p->dispatch_changed)
		rewrite_dispatch(p, batch);
	element_changes_flush(&changes, batch);
	stats->elements_added = changes.added;
	stats->elements_deleted = changes.deleted;
	stats->messages = nft_batch_messages(batch);
	stats->bytes = stats->messages ? nft_batch_bytes(batch) : 0;
	r = stats->messages ? nft_batch_send(batch, p->nl, &failure) : 0;
	if (r < 0) {
		/* What the kernel holds is not what was thought (someone deleted an element, a
		 * chain...): read it and repair. */
		log_warn("service proxy: %s; reconciling the table", failure.message);
		p->in_sync = false;
		return proxy_reconcile(p, stats, err);
	}
	note_generation(p);
	clean_stale_udp(p, stats);
	clean_stale_affinity(p);
	return 0;
}

static void wanted_elements(struct proxy *p, struct element_list *out)
{
	const char *key;
	struct proxied *record;
	void *users;

	STRMAP_FOREACH (p->services, iter, key, record)
		for (size_t i = 0; i < record->applied_count; i++)
			element_list_add_service_port(out, &record->applied[i]);
	STRMAP_FOREACH (p->hairpin, iter, key, users) {
		uint32_t address;
		struct proxy_element e;

		if (ipv4_address_parse(key, &address, NULL) < 0)
			continue;
		e = proxy_element_hairpin(address);
		element_list_add(out, &e);
	}
	element_list_sort(out);
}

int proxy_reconcile(struct proxy *p, struct proxy_stats *stats, struct ck_error *err)
{
	struct element_list elements = {0};
	struct proxy_wanted wanted = {0};
	struct proxy_set_definition *sets;
	char(*set_names)[PROXY_CHAIN_NAME_MAX];
	struct lb_chain *chains;
	size_t count;
	const char *name;
	struct chain_use *use;
	int r;

	memset(stats, 0, sizeof(*stats));
	if (!proxy_socket(p, err))
		return -err->code;
	take_changes(p, NULL, NULL, stats);
	count = chains_of(p, false, &chains);
	/* The fixed sets, then a set per load-balancing chain. */
	sets = xrealloc(NULL, (PROXY_FIXED_SETS + count) * sizeof(*sets));
	set_names = xrealloc(NULL, (count + 1) * sizeof(*set_names));
	for (int set = 0; set < PROXY_FIXED_SETS; set++)
		sets[set] = *proxy_fixed_set(set);
	for (size_t i = 0; i < count; i++)
		lb_chain_set(&chains[i], set_names[i], &sets[PROXY_FIXED_SETS + i]);
	/* The fixed chains, `services`, then the load-balancing ones. */
	wanted.chains = xrealloc(NULL, (PROXY_FIXED_CHAINS + 1) * sizeof(*wanted.chains));
	proxy_fixed_chains(&p->config, wanted.chains);
	lb_dispatch_chain(chains, count, &wanted.chains[PROXY_FIXED_CHAINS]);
	wanted.chain_count = PROXY_FIXED_CHAINS + 1;
	for (size_t i = 0; i < count; i++) {
		struct chain_spec *specs;
		size_t n = lb_chain_specs(&chains[i], &p->config, &specs);

		wanted.chains =
		    xrealloc(wanted.chains, (wanted.chain_count + n) * sizeof(*wanted.chains));
		memcpy(&wanted.chains[wanted.chain_count], specs, n * sizeof(*specs));
		wanted.chain_count += n;
		free(specs);
	}
	wanted.sets = sets;
	wanted.set_count = PROXY_FIXED_SETS + count;
	wanted.lb_chains = chains;
	wanted_elements(p, &elements);
	wanted.elements = &elements;

	r = proxy_reconcile_table(p->nl, &wanted, stats, err);

	for (size_t i = 0; i < wanted.chain_count; i++)
		chain_spec_clear(&wanted.chains[i]);
	free(wanted.chains);
	free(sets);
	free(set_names);
	free(chains);
	element_list_clear(&elements);
	if (r < 0) {
		p->in_sync = false;
		return r;
	}
	/* Now the kernel has exactly the chains in use; unused ones went as extras. */
	for (bool removed = true; removed;) {
		removed = false;
		STRMAP_FOREACH (p->chains, iter, name, use) {
			if (use->users)
				continue;
			strmap_remove(p->chains, name);
			removed = true;
			break;
		}
	}
	STRMAP_FOREACH (p->chains, iter, name, use)
		use->in_kernel = true;
	p->dispatch_changed = false;
	p->in_sync = true;
	note_generation(p);
	clean_stale_udp(p, stats);
	clean_stale_affinity(p);
	return 0;
}

int proxy_kernel_changed(struct proxy *p, bool *changed, struct ck_error *err)
{
	uint32_t generation = 0;
	int r;

	if (!proxy_socket(p, err))
		return -err->code;
	r = nft_read_generation(p->nl, &generation, err);

	if (r < 0)
		return r;
	*changed = !p->in_sync || generation != p->generation;
	return 0;
}

int proxy_collect_chains(struct proxy *p, int64_t now, int64_t idle_ms, struct ck_error *err)
{
	_cleanup_(batch_freep) struct nft_batch *batch = NULL;
	const char *name;
	struct chain_use *use;
	int collected = 0, r;

	if (!p->in_sync || !proxy_socket(p, err))
		return p->in_sync ? -err->code : 0;
	batch = nft_batch_new(NFPROTO_IPV4, PROXY_TABLE_TEXT);
	/* Out of the dispatch first: nothing refers to the chain or its (empty) set then. */
	STRMAP_FOREACH (p->chains, iter, name, use) {
		if (use->users || !use->in_kernel || now - use->unused_since < idle_ms)
			continue;
		use->in_kernel = false;
		collected++;
	}
	if (!collected)
		return 0;
	rewrite_dispatch(p, batch);
	STRMAP_FOREACH (p->chains, iter, name, use) {
		struct chain_spec *specs;
		size_t count;
		struct nftnl_set *set;

		if (use->users || use->in_kernel)
			continue;
		/* Emptied first: the chain jumps to its slot chains. */
		count = lb_chain_specs(&use->chain, &p->config, &specs);
		for (size_t i = count; i-- > 0;) {
			struct chain_spec empty = {0};

			memcpy(empty.name, specs[i].name, sizeof(empty.name));
			chain_spec_rewrite(batch, &empty);
		}
		for (size_t i = count; i-- > 0;) {
			struct nftnl_chain *chain = chain_spec_object(&specs[i]);

			nft_batch_chain(batch, NFT_MSG_DELCHAIN, 0, chain,
					"delete an unused chain");
			nftnl_chain_free(chain);
			chain_spec_clear(&specs[i]);
		}
		free(specs);
		set = proxy_set_handle(name);
		nft_batch_set(batch, NFT_MSG_DELSET, 0, set, "delete an unused chain's set");
		nftnl_set_free(set);
	}
	r = nft_batch_send(batch, p->nl, err);
	if (r < 0) {
		p->in_sync = false;
		return r;
	}
	for (bool removed = true; removed;) {
		removed = false;
		STRMAP_FOREACH (p->chains, iter, name, use) {
			if (use->users || use->in_kernel)
				continue;
			strmap_remove(p->chains, name);
			removed = true;
			break;
		}
	}
	note_generation(p);
	return collected;
}

json_t *proxy_describe(const struct proxy *p)
{
	json_t *chains = json_array();
	size_t services = 0, ports = 0, endpoints = 0;
	const char *key;
	struct proxied *record;
	struct chain_use *use;

	STRMAP_FOREACH (p->services, iter, key, record) {
		services += record->applied_count > 0;
		ports += record->applied_count;
		for (size_t i = 0; i < record->applied_count; i++)
			endpoints += record->applied[i].endpoint_count;
	}
	STRMAP_FOREACH (p->chains, iter, key, use)
		json_array_append_new(
		    chains, json_pack("{s:s, s:I}", "name", key, "users", (json_int_t)use->users));
	return json_pack("{s:s, s:b, s:I, s:I, s:I, s:o}", "table", "ip " PROXY_TABLE, "inSync",
			 p->in_sync, "services", (json_int_t)services, "servicePorts",
			 (json_int_t)ports, "endpoints", (json_int_t)endpoints,
			 "loadBalancingChains", chains);
}
