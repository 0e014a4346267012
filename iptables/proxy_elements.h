/* The set and map elements of a Service port, in the byte layout of proxy_table.h's sets: each
 * member of a concatenation padded to four bytes; addresses and ports in network order, the
 * load-balancing slot in host order (numgen writes it so). A Service port with endpoints has
 *   cluster-<n>[-affinity-<T>]: ClusterIP . protocol . port   (the set of its chain)
 *   backends:          ClusterIP . protocol . port . <slot> : endpoint . port, slots 0..n-1
 *   node-port-<n>[...] and node-port-backends (protocol . node port . <slot>), with a node port
 * and one without has no-endpoints (and no-endpoint-node-ports); each has cluster-ips. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libnftnl/set.h>

#include "iptables/lb_chain.h"
#include "iptables/proxy_table.h"
#include "iptables/service_ports.h"
#include "lib/strmap.h"

struct proxy_element {
	uint8_t set; /* enum proxy_set */
	uint8_t key_len;
	uint8_t key[PROXY_KEY_MAX];
	union {
		uint8_t bytes[PROXY_DATA_MAX]; /* a data map's */
		struct lb_chain chain;         /* PROXY_SET_LB's: the chain whose set holds it */
	} data;
};

struct element_list {
	struct proxy_element *items;
	size_t count, capacity;
};

/* Appends the elements of the port (unsorted). */
void element_list_add_service_port(struct element_list *list, const struct service_port *port);
void element_list_add(struct element_list *list, const struct proxy_element *element);
/* Only the port's elements of PROXY_SET_LB (its ClusterIP's, its node port's), whatever its
 * endpoints: the keys by which its affinity records are found. */
void element_list_add_dispatch(struct element_list *list, const struct service_port *port);
/* Sorts by set and key and drops repeated keys (a ClusterIP of several ports). */
void element_list_sort(struct element_list *list);
void element_list_clear(struct element_list *list);

/* Element messages in the making: per set, the elements to delete and to add. */
struct element_changes {
	struct strmap *deletes, *adds; /* set name -> struct nftnl_set */
	size_t deleted, added;
};

void element_changes_delete(struct element_changes *changes, const struct proxy_element *element);
void element_changes_add(struct element_changes *changes, const struct proxy_element *element);
/* What turns the elements `have` into `want` (both sorted): the missing ones added, the extra
 * ones deleted, the changed ones deleted and added again. */
void element_changes_diff(struct element_changes *changes, const struct element_list *have,
			  const struct element_list *want);
/* The messages, deletes before adds (a changed element goes and comes back in one batch); the
 * changes are empty again after. */
void element_changes_flush(struct element_changes *changes, struct nft_batch *batch);
void element_changes_clear(struct element_changes *changes);

/* Orders by set, then key. */
int proxy_element_compare(const struct proxy_element *a, const struct proxy_element *b);
bool proxy_element_same_data(const struct proxy_element *a, const struct proxy_element *b);

/* endpoint . endpoint, for the hairpin set. */
struct proxy_element proxy_element_hairpin(uint32_t address);

/* The name of the set that holds the element. */
const char *proxy_element_set_name(const struct proxy_element *element,
				   char buf[PROXY_CHAIN_NAME_MAX]);
/* The element of a dump of `set` (for PROXY_SET_LB, of the set of `chain`); false when its data
 * is none of ours: only its key is filled, to delete it. */
bool proxy_element_read(enum proxy_set set, const struct lb_chain *chain,
			struct nftnl_set_elem *elem, struct proxy_element *out);
