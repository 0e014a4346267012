/* IPv4 addresses and CIDR blocks: see ipv4_cidr.h. */
#include "lib/ipv4_cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/strconv.h"

int ipv4_address_parse(const char *text, uint32_t *out, struct ck_error *err)
{
	struct in_addr address;

	/* inet_pton takes only the four-part dotted form, unlike inet_aton's "10.1" shorthands. */
	if (inet_pton(AF_INET, text, &address) != 1)
		return ck_error_set(err, EINVAL, "%s: not an IPv4 address", text);
	*out = ntohl(address.s_addr);
	return 0;
}

int ipv4_cidr_parse(const char *text, struct ipv4_cidr *out, struct ck_error *err)
{
	const char *slash = strchr(text, '/');
	char address[IPV4_TEXT_MAX + 1];
	struct ipv4_cidr cidr;
	uint32_t value = 0;
	int64_t prefix;

	if (!slash || (size_t)(slash - text) >= sizeof(address))
		return ck_error_set(err, EINVAL, "%s: not a CIDR (address/prefix)", text);
	memcpy(address, text, (size_t)(slash - text));
	address[slash - text] = '\0';
	if (ipv4_address_parse(address, &value, err) < 0)
		return err ? ck_error_prefix(err, "CIDR %s", text) : -EINVAL;
	/* Digits alone, as in the API's text: strconv would also take a sign. */
	if (slash[1] < '0' || slash[1] > '9' ||
	    strconv_parse_int(slash + 1, 0, 32, &prefix, NULL) < 0)
		return ck_error_set(err, EINVAL, "%s: prefix length must be 0 to 32", text);
	cidr = (struct ipv4_cidr){.network = value, .prefix = (unsigned)prefix};
	if (value & ~ipv4_cidr_mask(&cidr))
		return ck_error_set(err, EINVAL, "%s: host bits set (the network is %s/%u)", text,
				    ipv4_address_format(value & ipv4_cidr_mask(&cidr), address),
				    cidr.prefix);
	*out = cidr;
	return 0;
}

uint32_t ipv4_cidr_mask(const struct ipv4_cidr *cidr)
{
	return cidr->prefix == 0 ? 0 : UINT32_MAX << (32 - cidr->prefix);
}

bool ipv4_cidr_contains(const struct ipv4_cidr *cidr, uint32_t address)
{
	return (address & ipv4_cidr_mask(cidr)) == cidr->network;
}

bool ipv4_cidr_overlaps(const struct ipv4_cidr *a, const struct ipv4_cidr *b)
{
	/* Two blocks overlap exactly when the larger one contains the smaller one's network. */
	return a->prefix <= b->prefix ? ipv4_cidr_contains(a, b->network)
				      : ipv4_cidr_contains(b, a->network);
}

uint32_t ipv4_cidr_last(const struct ipv4_cidr *cidr)
{
	return cidr->network | ~ipv4_cidr_mask(cidr);
}

char *ipv4_address_format(uint32_t address, char *out)
{
	snprintf(out, IPV4_TEXT_MAX + 1, "%u.%u.%u.%u", address >> 24, (address >> 16) & 0xff,
		 (address >> 8) & 0xff, address & 0xff);
	return out;
}

char *ipv4_cidr_format(const struct ipv4_cidr *cidr, char *out)
{
	char address[IPV4_TEXT_MAX + 1];

	snprintf(out, IPV4_TEXT_MAX + 1, "%s/%u", ipv4_address_format(cidr->network, address),
		 cidr->prefix);
	return out;
}
