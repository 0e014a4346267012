/* A Service port's set and map elements: see proxy_elements.h. */
#include "iptables/proxy_elements.h"

#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

/* A key or data under construction: members appended, each padded to four bytes. */
struct packer {
	uint8_t *bytes;
	uint8_t len;
};

static void pack_u32_be(struct packer *p, uint32_t host)
{
	uint32_t be = htobe32(host);

	memcpy(p->bytes + p->len, &be, 4);
	p->len += 4;
}

static void pack_u16_be(struct packer *p, uint16_t host)
{
	uint16_t be = htobe16(host);

	memcpy(p->bytes + p->len, &be, 2);
	p->len += 4;
}

static void pack_u8(struct packer *p, uint8_t value)
{
	p->bytes[p->len] = value;
	p->len += 4;
}

static void pack_u32_host(struct packer *p, uint32_t value)
{
	memcpy(p->bytes + p->len, &value, 4);
	p->len += 4;
}

static void pack_service(struct packer *p, const struct service_port *port)
{
	pack_u32_be(p, port->cluster_ip);
	pack_u8(p, port->protocol);
	pack_u16_be(p, port->port);
}

static void pack_node_port(struct packer *p, const struct service_port *port)
{
	pack_u8(p, port->protocol);
	pack_u16_be(p, port->node_port);
}

static void pack_endpoint(struct packer *p, const struct proxy_endpoint *endpoint)
{
	pack_u32_be(p, endpoint->address);
	pack_u16_be(p, endpoint->port);
}

void element_list_add(struct element_list *list, const struct proxy_element *element)
{
	if (list->count == list->capacity) {
		list->capacity = list->capacity ? 2 * list->capacity : 16;
		list->items = realloc(list->items, list->capacity * sizeof(*list->items));
		if (!list->items)
			abort();
	}
	list->items[list->count++] = *element;
}

/* A new element of `set`, zeroed, its key packer ready. */
static struct proxy_element *element_new(struct proxy_element *e, enum proxy_set set,
					 struct packer *key)
{
	memset(e, 0, sizeof(*e));
	e->set = (uint8_t)set;
	*key = (struct packer){e->key, 0};
	return e;
}

static void finish(struct element_list *list, struct proxy_element *e, const struct packer *key)
{
	e->key_len = key->len;
	element_list_add(list, e);
}

void element_list_add_dispatch(struct element_list *list, const struct service_port *port)
{
	struct proxy_element e;
	struct packer key;

	element_new(&e, PROXY_SET_LB, &key);
	pack_service(&key, port);
	e.data.chain = (struct lb_chain){LB_CLUSTER_IP, (uint32_t)port->endpoint_count,
					 port->affinity_seconds};
	finish(list, &e, &key);
	if (!port->node_port)
		return;
	element_new(&e, PROXY_SET_LB, &key);
	pack_node_port(&key, port);
	e.data.chain =
	    (struct lb_chain){LB_NODE_PORT, (uint32_t)port->endpoint_count, port->affinity_seconds};
	finish(list, &e, &key);
}

/* Slots 0..n-1 of the port's endpoints in `set`, keyed by the Service or by the node port. */
static void add_backends(struct element_list *list, const struct service_port *port,
			 enum proxy_set set)
{
	struct proxy_element e;
	struct packer key, data;

	for (size_t i = 0; i < port->endpoint_count; i++) {
		element_new(&e, set, &key);
		if (set == PROXY_SET_BACKENDS)
			pack_service(&key, port);
		else
			pack_node_port(&key, port);
		pack_u32_host(&key, (uint32_t)i);
		data = (struct packer){e.data.bytes, 0};
		pack_endpoint(&data, &port->endpoints[i]);
		finish(list, &e, &key);
	}
}

void element_list_add_service_port(struct element_list *list, const struct service_port *port)
{
	struct proxy_element e;
	struct packer key;

	element_new(&e, PROXY_SET_CLUSTER_IPS, &key);
	pack_u32_be(&key, port->cluster_ip);
	finish(list, &e, &key);

	if (port->endpoint_count == 0) {
		element_new(&e, PROXY_SET_NO_ENDPOINTS, &key);
		pack_service(&key, port);
		finish(list, &e, &key);
		if (port->node_port) {
			element_new(&e, PROXY_SET_NO_ENDPOINT_NODE_PORTS, &key);
			pack_node_port(&key, port);
			finish(list, &e, &key);
		}
		return;
	}
	element_list_add_dispatch(list, port);
	add_backends(list, port, PROXY_SET_BACKENDS);
	if (port->node_port)
		add_backends(list, port, PROXY_SET_NODE_PORT_BACKENDS);
}

struct proxy_element proxy_element_hairpin(uint32_t address)
{
	struct proxy_element e;
	struct packer key;

	element_new(&e, PROXY_SET_HAIRPIN, &key);
	pack_u32_be(&key, address);
	pack_u32_be(&key, address);
	e.key_len = key.len;
	return e;
}

int proxy_element_compare(const struct proxy_element *a, const struct proxy_element *b)
{
	if (a->set != b->set)
		return a->set < b->set ? -1 : 1;
	if (a->key_len != b->key_len)
		return a->key_len < b->key_len ? -1 : 1;
	return memcmp(a->key, b->key, a->key_len);
}

bool proxy_element_same_data(const struct proxy_element *a, const struct proxy_element *b)
{
	return memcmp(&a->data, &b->data, sizeof(a->data)) == 0;
}

static int compare_items(const void *a, const void *b)
{
	return proxy_element_compare(a, b);
}

void element_list_sort(struct element_list *list)
{
	size_t kept = 0;

	if (!list->count)
		return;
	qsort(list->items, list->count, sizeof(*list->items), compare_items);
	for (size_t i = 0; i < list->count; i++)
		if (kept == 0 || proxy_element_compare(&list->items[kept - 1], &list->items[i]))
			list->items[kept++] = list->items[i];
	list->count = kept;
}

void element_list_clear(struct element_list *list)
{
	free(list->items);
	memset(list, 0, sizeof(*list));
}

const char *proxy_element_set_name(const struct proxy_element *element,
				   char buf[PROXY_CHAIN_NAME_MAX])
{
	if (element->set != PROXY_SET_LB)
		return proxy_set_name(element->set);
	lb_chain_name(&element->data.chain, buf);
	return buf;
}

static void element_put(const struct proxy_element *element, struct nftnl_set *set, bool key_only)
{
	struct nftnl_set_elem *elem = nftnl_set_elem_alloc();
	uint32_t len = element->set == PROXY_SET_LB ? 0 : proxy_fixed_set(element->set)->data_len;

	if (!elem)
		abort();
	nftnl_set_elem_set(elem, NFTNL_SET_ELEM_KEY, element->key, element->key_len);
	if (!key_only && len)
		nftnl_set_elem_set(elem, NFTNL_SET_ELEM_DATA, element->data.bytes, len);
	nftnl_set_elem_add(set, elem);
}

bool proxy_element_read(enum proxy_set set, const struct lb_chain *chain,
			struct nftnl_set_elem *elem, struct proxy_element *out)
{
	uint32_t len = 0, wanted = set == PROXY_SET_LB ? 0 : proxy_fixed_set(set)->data_len;
	const void *key = nftnl_set_elem_get(elem, NFTNL_SET_ELEM_KEY, &len);
	const void *data;

	memset(out, 0, sizeof(*out));
	out->set = (uint8_t)set;
	if (!key || len > PROXY_KEY_MAX)
		return false;
	memcpy(out->key, key, len);
	out->key_len = (uint8_t)len;
	if (set == PROXY_SET_LB) {
		out->data.chain = *chain;
		return true;
	}
	if (!wanted)
		return true;
	data = nftnl_set_elem_get(elem, NFTNL_SET_ELEM_DATA, &len);
	if (!data || len != wanted)
		return false;
	memcpy(out->data.bytes, data, len);
	return true;
}

static void set_free(void *set)
{
	nftnl_set_free(set);
}

static void changes_put(struct strmap **sets, const struct proxy_element *e, bool key_only)
{
	char buf[PROXY_CHAIN_NAME_MAX];
	const char *name = proxy_element_set_name(e, buf);
	struct nftnl_set *set;

	if (!*sets)
		*sets = strmap_new(set_free);
	set = strmap_get(*sets, name);
	if (!set) {
		set = proxy_set_handle(name);
		strmap_put(*sets, name, set);
	}
	element_put(e, set, key_only);
}

void element_changes_delete(struct element_changes *c, const struct proxy_element *e)
{
	changes_put(&c->deletes, e, true);
	c->deleted++;
}

void element_changes_add(struct element_changes *c, const struct proxy_element *e)
{
	changes_put(&c->adds, e, false);
	c->added++;
}

void element_changes_diff(struct element_changes *c, const struct element_list *have,
			  const struct element_list *want)
{
	size_t i = 0, j = 0;

	while (i < have->count || j < want->count) {
		const struct proxy_element *h = i < have->count ? &have->items[i] : NULL;
		const struct proxy_element *w = j < want->count ? &want->items[j] : NULL;
		int order = !h ? 1 : !w ? -1 : proxy_element_compare(h, w);
		bool changed = order == 0 && !proxy_element_same_data(h, w);

		if (order < 0 || changed)
			element_changes_delete(c, h);
		if (order > 0 || changed)
			element_changes_add(c, w);
		i += order <= 0;
		j += order >= 0;
	}
}

static void flush_sets(struct strmap **sets, uint16_t type, uint16_t flags, const char *verb,
		       struct nft_batch *batch)
{
	const char *name;
	struct nftnl_set *set;
	char step[96];

	if (!*sets)
		return;
	STRMAP_FOREACH (*sets, iter, name, set) {
		snprintf(step, sizeof(step), "%s elements of %s", verb, name);
		nft_batch_elements(batch, type, flags, set, step);
	}
	strmap_free(*sets);
	*sets = NULL;
}

void element_changes_flush(struct element_changes *c, struct nft_batch *batch)
{
	flush_sets(&c->deletes, NFT_MSG_DELSETELEM, 0, "delete", batch);
	flush_sets(&c->adds, NFT_MSG_NEWSETELEM, NLM_F_CREATE, "add", batch);
}

void element_changes_clear(struct element_changes *c)
{
	strmap_free(c->deletes);
	strmap_free(c->adds);
	memset(c, 0, sizeof(*c));
}
