#include "allocator.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"

int range_allocator_init(struct range_allocator *a, uint32_t first, uint32_t size)
{
	memset(a, 0, sizeof(*a));
	a->bits = calloc((size + 63) / 64, sizeof(uint64_t));
	if (!a->bits)
		return -ENOMEM;
	a->first = first;
	a->size = size;
	return 0;
}

void range_allocator_free(struct range_allocator *a)
{
	free(a->bits);
	a->bits = NULL;
}

static bool slot_taken(const struct range_allocator *a, uint32_t slot)
{
	return a->bits[slot / 64] & (UINT64_C(1) << (slot % 64));
}

bool range_allocator_contains(const struct range_allocator *a, uint32_t value)
{
	return value >= a->first && value - a->first < a->size;
}

int range_allocator_take(struct range_allocator *a, uint32_t value)
{
	if (!range_allocator_contains(a, value))
		return -ERANGE;
	uint32_t slot = value - a->first;
	if (slot_taken(a, slot))
		return -EEXIST;
	a->bits[slot / 64] |= UINT64_C(1) << (slot % 64);
	a->used++;
	return 0;
}

int range_allocator_next(struct range_allocator *a, uint32_t *value)
{
	if (a->used >= a->size)
		return -ENOSPC;
	/* Next-fit: values are not reused right after release, which keeps a deleted Service's
	 * address from reappearing at once under another Service. */
	for (uint32_t i = 0; i < a->size; i++) {
		uint32_t slot = (a->next + i) % a->size;
		if (!slot_taken(a, slot)) {
			a->bits[slot / 64] |= UINT64_C(1) << (slot % 64);
			a->used++;
			a->next = (slot + 1) % a->size;
			*value = a->first + slot;
			return 0;
		}
	}
	return -ENOSPC;
}

void range_allocator_release(struct range_allocator *a, uint32_t value)
{
	if (!range_allocator_contains(a, value))
		return;
	uint32_t slot = value - a->first;
	if (slot_taken(a, slot)) {
		a->bits[slot / 64] &= ~(UINT64_C(1) << (slot % 64));
		a->used--;
	}
}

int ipv4_allocator_init(struct ipv4_allocator *a, const char *cidr, unsigned block_prefix,
			struct ck_error *err)
{
	memset(a, 0, sizeof(*a));
	char address[INET_ADDRSTRLEN];
	unsigned prefix;
	char tail;
	struct in_addr in;
	if (sscanf(cidr, "%15[0-9.]/%u%c", address, &prefix, &tail) != 2 ||
	    inet_pton(AF_INET, address, &in) != 1 || prefix > block_prefix || block_prefix > 32 ||
	    block_prefix - prefix > 24)
		return ck_error_set(err, EINVAL, "range %s: want an IPv4 CIDR no bigger than /%u",
				    cidr, block_prefix > 24 ? block_prefix - 24 : 0);
	uint32_t mask = prefix ? ~UINT32_C(0) << (32 - prefix) : 0;
	a->base = ntohl(in.s_addr) & mask;
	a->prefix = prefix;
	a->block_prefix = block_prefix;
	uint32_t slots = UINT32_C(1) << (block_prefix - prefix);
	if (range_allocator_init(&a->slots, 0, slots) < 0)
		return ck_error_set(err, ENOMEM, "range %s: out of memory", cidr);
	if (block_prefix == 32 && slots > 2) {
		range_allocator_take(&a->slots, 0);
		range_allocator_take(&a->slots, slots - 1);
	}
	return 0;
}

void ipv4_allocator_free(struct ipv4_allocator *a)
{
	range_allocator_free(&a->slots);
}

static void format_slot(const struct ipv4_allocator *a, uint32_t slot, char *out, size_t out_len)
{
	struct in_addr in = {.s_addr = htonl(a->base + (slot << (32 - a->block_prefix)))};
	char address[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &in, address, sizeof(address));
	if (a->block_prefix == 32)
		snprintf(out, out_len, "%s", address);
	else
		snprintf(out, out_len, "%s/%u", address, a->block_prefix);
}

/* The slot of an address or block in text form; -ERANGE when outside or misaligned. */
static int parse_slot(const struct ipv4_allocator *a, const char *text, uint32_t *slot)
{
	char address[INET_ADDRSTRLEN];
	unsigned prefix = 32;
	char tail;
	int fields = sscanf(text, "%15[0-9.]/%u%c", address, &prefix, &tail);
	struct in_addr in;
	if (fields < 1 || fields > 2 || inet_pton(AF_INET, address, &in) != 1 ||
	    prefix != a->block_prefix)
		return -EINVAL;
	uint32_t value = ntohl(in.s_addr);
	uint32_t offset = value - a->base;
	unsigned host_bits = 32 - a->block_prefix;
	uint32_t block_mask = host_bits ? (UINT32_C(1) << host_bits) - 1 : 0;
	if (value < a->base || (offset >> host_bits) >= a->slots.size || (offset & block_mask))
		return -ERANGE;
	*slot = offset >> host_bits;
	return 0;
}

int ipv4_allocator_next(struct ipv4_allocator *a, char *out, size_t out_len)
{
	uint32_t slot;
	int ret = range_allocator_next(&a->slots, &slot);
	if (ret < 0)
		return ret;
	format_slot(a, slot, out, out_len);
	return 0;
}

int ipv4_allocator_take(struct ipv4_allocator *a, const char *text)
{
	uint32_t slot;
	int ret = parse_slot(a, text, &slot);
	if (ret < 0)
		return ret;
	return range_allocator_take(&a->slots, slot);
}

void ipv4_allocator_release(struct ipv4_allocator *a, const char *text)
{
	uint32_t slot;
	if (parse_slot(a, text, &slot) == 0) {
		/* The range's own network and broadcast addresses stay reserved. */
		if (a->block_prefix == 32 && (slot == 0 || slot == a->slots.size - 1))
			return;
		range_allocator_release(&a->slots, slot);
	}
}

void ipv4_allocator_first(const struct ipv4_allocator *a, char *out, size_t out_len)
{
	format_slot(a, a->block_prefix == 32 && a->slots.size > 2 ? 1 : 0, out, out_len);
}

void ipv4_allocator_range(const struct ipv4_allocator *a, char *out, size_t out_len)
{
	struct in_addr in = {.s_addr = htonl(a->base)};
	char address[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &in, address, sizeof(address));
	snprintf(out, out_len, "%s/%u", address, a->prefix);
}
