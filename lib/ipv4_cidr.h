/* IPv4 addresses and CIDR blocks as the pod network and the Service proxy need them: parsed once
 * from the text the API carries ("10.244.1.0/24"), then compared and counted in host byte order. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

struct ipv4_cidr {
	uint32_t network; /* host order, no bits set past the prefix */
	unsigned prefix;  /* 0..32 */
};

/* Text of an address: room for "255.255.255.255" and "/32". */
#define IPV4_TEXT_MAX 19

/* "a.b.c.d/n" with no host bits set; -EINVAL with the reason otherwise. */
int ipv4_cidr_parse(const char *text, struct ipv4_cidr *out, struct ck_error *err);
/* "a.b.c.d"; -EINVAL otherwise. */
int ipv4_address_parse(const char *text, uint32_t *out, struct ck_error *err);

uint32_t ipv4_cidr_mask(const struct ipv4_cidr *cidr);
bool ipv4_cidr_contains(const struct ipv4_cidr *cidr, uint32_t address);
bool ipv4_cidr_overlaps(const struct ipv4_cidr *a, const struct ipv4_cidr *b);
/* The last address of the block (its broadcast address for prefixes up to /30). */
uint32_t ipv4_cidr_last(const struct ipv4_cidr *cidr);

/* Formats into `out` (at least IPV4_TEXT_MAX + 1 bytes) and returns it. */
char *ipv4_address_format(uint32_t address, char *out);
char *ipv4_cidr_format(const struct ipv4_cidr *cidr, char *out);
