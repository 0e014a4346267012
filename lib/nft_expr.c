/* nf_tables rule expressions: see nft_expr.h. */
#include "lib/nft_expr.h"

#include <endian.h>
#include <stdlib.h>

#include <libnftnl/expr.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>

struct nftnl_rule *nft_rule_new(uint32_t family, const char *table, const char *chain)
{
	struct nftnl_rule *rule = nftnl_rule_alloc();

	if (!rule)
		abort();
	nftnl_rule_set_u32(rule, NFTNL_RULE_FAMILY, family);
	nftnl_rule_set_str(rule, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(rule, NFTNL_RULE_CHAIN, chain);
	return rule;
}

static struct nftnl_expr *expr_add(struct nftnl_rule *rule, const char *name)
{
	struct nftnl_expr *expr = nftnl_expr_alloc(name);

	if (!expr)
		abort();
	nftnl_rule_add_expr(rule, expr);
	return expr;
}

void nft_expr_payload(struct nftnl_rule *rule, uint32_t base, uint32_t offset, uint32_t len,
		      uint32_t dreg)
{
	struct nftnl_expr *expr = expr_add(rule, "payload");

	nftnl_expr_set_u32(expr, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_PAYLOAD_DREG, dreg);
}

void nft_expr_meta_load(struct nftnl_rule *rule, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *expr = expr_add(rule, "meta");

	nftnl_expr_set_u32(expr, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_META_DREG, dreg);
}

void nft_expr_meta_set(struct nftnl_rule *rule, uint32_t key, uint32_t sreg)
{
	struct nftnl_expr *expr = expr_add(rule, "meta");

	nftnl_expr_set_u32(expr, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_META_SREG, sreg);
}

void nft_expr_ct_load(struct nftnl_rule *rule, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *expr = expr_add(rule, "ct");

	nftnl_expr_set_u32(expr, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_CT_DREG, dreg);
}

void nft_expr_fib_daddr_type(struct nftnl_rule *rule, uint32_t dreg)
{
	struct nftnl_expr *expr = expr_add(rule, "fib");

	nftnl_expr_set_u32(expr, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_FIB_DREG, dreg);
}

void nft_expr_cmp(struct nftnl_rule *rule, uint32_t reg, uint32_t op, const void *data,
		  uint32_t len)
{
	struct nftnl_expr *expr = expr_add(rule, "cmp");

	nftnl_expr_set_u32(expr, NFTNL_EXPR_CMP_SREG, reg);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(expr, NFTNL_EXPR_CMP_DATA, data, len);
}

void nft_expr_bitwise(struct nftnl_rule *rule, uint32_t reg, uint32_t len, const void *mask,
		      const void * xor)
{
	struct nftnl_expr *expr = expr_add(rule, "bitwise");

	nftnl_expr_set_u32(expr, NFTNL_EXPR_BITWISE_SREG, reg);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_BITWISE_DREG, reg);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(expr, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(expr, NFTNL_EXPR_BITWISE_XOR, xor, len);
}

void nft_expr_masked_cmp32(struct nftnl_rule *rule, uint32_t reg, uint32_t mask, uint32_t op,
			   uint32_t value)
{
	uint32_t zero = 0;

	nft_expr_bitwise(rule, reg, sizeof(mask), &mask, &zero);
	nft_expr_cmp(rule, reg, op, &value, sizeof(value));
}

void nft_expr_ipv4_prefix_match(struct nftnl_rule *rule, uint32_t offset, uint32_t network,
				unsigned prefix, uint32_t op)
{
	uint32_t mask = htobe32(prefix ? ~0u << (32 - prefix) : 0);
	uint32_t network_be = htobe32(network);
	uint32_t zero = 0;

	nft_expr_payload(rule, NFT_PAYLOAD_NETWORK_HEADER, offset, sizeof(uint32_t), NFT_REG32(0));
	/* A /32 compares the whole address; a mask of all ones would only cost a step. */
	if (prefix < 32)
		nft_expr_bitwise(rule, NFT_REG32(0), sizeof(mask), &mask, &zero);
	nft_expr_cmp(rule, NFT_REG32(0), op, &network_be, sizeof(network_be));
}

void nft_expr_lookup(struct nftnl_rule *rule, const char *set, uint32_t sreg, uint32_t dreg,
		     uint32_t flags)
{
	struct nftnl_expr *expr = expr_add(rule, "lookup");

	nftnl_expr_set_str(expr, NFTNL_EXPR_LOOKUP_SET, set);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_LOOKUP_SREG, sreg);
	if (dreg)
		nftnl_expr_set_u32(expr, NFTNL_EXPR_LOOKUP_DREG, dreg);
	if (flags)
		nftnl_expr_set_u32(expr, NFTNL_EXPR_LOOKUP_FLAGS, flags);
}

void nft_expr_immediate_u32(struct nftnl_rule *rule, uint32_t dreg, uint32_t value)
{
	struct nftnl_expr *expr = expr_add(rule, "immediate");

	nftnl_expr_set_u32(expr, NFTNL_EXPR_IMM_DREG, dreg);
	nftnl_expr_set(expr, NFTNL_EXPR_IMM_DATA, &value, sizeof(value));
}

void nft_expr_numgen_random(struct nftnl_rule *rule, uint32_t dreg, uint32_t modulus)
{
	struct nftnl_expr *expr = expr_add(rule, "numgen");

	nftnl_expr_set_u32(expr, NFTNL_EXPR_NG_DREG, dreg);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_NG_MODULUS, modulus);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
}

void nft_expr_dynset(struct nftnl_rule *rule, const char *set, uint32_t op, uint32_t key_reg,
		     uint32_t data_reg, uint64_t timeout_ms)
{
	struct nftnl_expr *expr = expr_add(rule, "dynset");

	nftnl_expr_set_str(expr, NFTNL_EXPR_DYNSET_SET_NAME, set);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_DYNSET_OP, op);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_DYNSET_SREG_KEY, key_reg);
	if (data_reg)
		nftnl_expr_set_u32(expr, NFTNL_EXPR_DYNSET_SREG_DATA, data_reg);
	if (timeout_ms)
		nftnl_expr_set_u64(expr, NFTNL_EXPR_DYNSET_TIMEOUT, timeout_ms);
}

void nft_expr_dnat_ipv4(struct nftnl_rule *rule, uint32_t addr_reg, uint32_t port_reg)
{
	struct nftnl_expr *expr = expr_add(rule, "nat");

	nftnl_expr_set_u32(expr, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_NAT_FAMILY, NFPROTO_IPV4);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_NAT_REG_ADDR_MIN, addr_reg);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_NAT_REG_PROTO_MIN, port_reg);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_NAT_FLAGS,
			   NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED);
}

void nft_expr_masquerade(struct nftnl_rule *rule, uint32_t flags)
{
	struct nftnl_expr *expr = expr_add(rule, "masq");

	if (flags)
		nftnl_expr_set_u32(expr, NFTNL_EXPR_MASQ_FLAGS, flags);
}

void nft_expr_verdict(struct nftnl_rule *rule, int verdict, const char *chain)
{
	struct nftnl_expr *expr = expr_add(rule, "immediate");

	nftnl_expr_set_u32(expr, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(expr, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	if (chain)
		nftnl_expr_set_str(expr, NFTNL_EXPR_IMM_CHAIN, chain);
}

void nft_expr_reject(struct nftnl_rule *rule, uint32_t type, uint8_t code)
{
	struct nftnl_expr *expr = expr_add(rule, "reject");

	nftnl_expr_set_u32(expr, NFTNL_EXPR_REJECT_TYPE, type);
	nftnl_expr_set_u8(expr, NFTNL_EXPR_REJECT_CODE, code);
}
