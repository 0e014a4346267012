/* Allocators for what must be unique across the cluster: Service ClusterIPs, node ports and
 * per-node pod CIDRs. Each is a bitmap over a range. The API server rebuilds them at start
 * from the stored objects, so nothing is ever handed out twice, also after a restart. All
 * calls happen under the API server's write lock. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "lib/error.h"

struct range_allocator {
	uint64_t *bits;
	uint32_t first; /* the value of slot 0 */
	uint32_t size;
	uint32_t next; /* where the search for a free slot starts */
	uint32_t used;
};

int range_allocator_init(struct range_allocator *a, uint32_t first, uint32_t size);
void range_allocator_free(struct range_allocator *a);
/* Takes the next free value; -ENOSPC when full. */
int range_allocator_next(struct range_allocator *a, uint32_t *value);
/* Takes a given value; -EEXIST when taken, -ERANGE when outside the range. */
int range_allocator_take(struct range_allocator *a, uint32_t value);
void range_allocator_release(struct range_allocator *a, uint32_t value);
bool range_allocator_contains(const struct range_allocator *a, uint32_t value);

/* IPv4 addresses or blocks of a CIDR: slot i is base + i * block_size. */
struct ipv4_allocator {
	struct range_allocator slots;
	uint32_t base;         /* host order */
	unsigned prefix;       /* of the whole range */
	unsigned block_prefix; /* 32 for single addresses, 24 for per-node /24s */
};

/* For addresses, the network address of the range is never handed out, and neither is the
 * broadcast address. */
int ipv4_allocator_init(struct ipv4_allocator *a, const char *cidr, unsigned block_prefix,
			struct ck_error *err);
void ipv4_allocator_free(struct ipv4_allocator *a);
/* Text forms: "10.96.0.10" for addresses, "10.244.3.0/24" for blocks. */
int ipv4_allocator_next(struct ipv4_allocator *a, char *out, size_t out_len);
int ipv4_allocator_take(struct ipv4_allocator *a, const char *text);
void ipv4_allocator_release(struct ipv4_allocator *a, const char *text);
/* The first address that can be handed out ("10.96.0.1" of 10.96.0.0/12). */
void ipv4_allocator_first(const struct ipv4_allocator *a, char *out, size_t out_len);
/* The range in text, e.g. "10.96.0.0/12". */
void ipv4_allocator_range(const struct ipv4_allocator *a, char *out, size_t out_len);
