/* nf_tables rule expressions built with libnftnl, one call per expression, for the rules ckube
 * writes without nft's parser (netns/masquerade.c, iptables/). Each call appends to `rule`.
 * Registers are the kernel's 32-bit ones, NFT_REG32_00 to NFT_REG32_15: a concatenation of
 * values (an address, a protocol, a port) takes consecutive ones, each value padded to 4 bytes,
 * which is how set keys and map data are laid out too. Addresses, ports and other packet data
 * are compared in network byte order. Allocation failures abort. */
#pragma once

#include <stdint.h>

#include <libnftnl/rule.h>

/* The 32-bit register number `i` (0..15). */
#define NFT_REG32(i) (NFT_REG32_00 + (i))

struct nftnl_rule *nft_rule_new(uint32_t family, const char *table, const char *chain);

/* `len` bytes at `offset` of the network or transport header into `dreg`. */
void nft_expr_payload(struct nftnl_rule *rule, uint32_t base, uint32_t offset, uint32_t len,
		      uint32_t dreg);
/* A meta key (NFT_META_MARK, NFT_META_L4PROTO...) into `dreg`, or set from `sreg`. */
void nft_expr_meta_load(struct nftnl_rule *rule, uint32_t key, uint32_t dreg);
void nft_expr_meta_set(struct nftnl_rule *rule, uint32_t key, uint32_t sreg);
/* A conntrack key of the original direction (NFT_CT_STATE, NFT_CT_STATUS...) into `dreg`. */
void nft_expr_ct_load(struct nftnl_rule *rule, uint32_t key, uint32_t dreg);
/* The route type of the destination address (RTN_LOCAL...) into `dreg`. */
void nft_expr_fib_daddr_type(struct nftnl_rule *rule, uint32_t dreg);
/* Ends the rule unless `reg` `op` `data`. */
void nft_expr_cmp(struct nftnl_rule *rule, uint32_t reg, uint32_t op, const void *data,
		  uint32_t len);
/* reg = (reg & mask) ^ xor, over `len` bytes. */
void nft_expr_bitwise(struct nftnl_rule *rule, uint32_t reg, uint32_t len, const void *mask,
		      const void * xor);
/* The 32-bit host-order value of `reg` compared under a mask: ends the rule unless
 * (reg & mask) `op` value. */
void nft_expr_masked_cmp32(struct nftnl_rule *rule, uint32_t reg, uint32_t mask, uint32_t op,
			   uint32_t value);
/* The IPv4 address at `offset` of the network header (12 source, 16 destination) compared
 * with network/prefix (host order) by `op` (NFT_CMP_EQ, NFT_CMP_NEQ), in register 0. */
void nft_expr_ipv4_prefix_match(struct nftnl_rule *rule, uint32_t offset, uint32_t network,
				unsigned prefix, uint32_t op);
/* The key starting at `sreg` looked up in `set`: the rule ends unless found (or, with
 * NFT_LOOKUP_F_INV in `flags`, unless absent). A map's data goes to `dreg`; 0: none wanted. */
void nft_expr_lookup(struct nftnl_rule *rule, const char *set, uint32_t sreg, uint32_t dreg,
		     uint32_t flags);
/* A 32-bit constant (host order) into `dreg`. */
void nft_expr_immediate_u32(struct nftnl_rule *rule, uint32_t dreg, uint32_t value);
/* A random number from 0 to modulus - 1 into `dreg` (host order, 4 bytes). */
void nft_expr_numgen_random(struct nftnl_rule *rule, uint32_t dreg, uint32_t modulus);
/* Adds, updates (an existing element gets a fresh timeout) or deletes (NFT_DYNSET_OP_*) the
 * element keyed at `key_reg`, with the data at `data_reg` for a map (0: none) and a timeout
 * in milliseconds (0: the set's). */
void nft_expr_dynset(struct nftnl_rule *rule, const char *set, uint32_t op, uint32_t key_reg,
		     uint32_t data_reg, uint64_t timeout_ms);
/* Destination NAT of an IPv4 packet to the address in `addr_reg` and the port in the first
 * two bytes of `port_reg`. */
void nft_expr_dnat_ipv4(struct nftnl_rule *rule, uint32_t addr_reg, uint32_t port_reg);
/* Source NAT to the outgoing interface's address; `flags`: NF_NAT_RANGE_* */
void nft_expr_masquerade(struct nftnl_rule *rule, uint32_t flags);
/* A verdict (NF_ACCEPT, NF_DROP, NFT_JUMP, NFT_GOTO...); `chain` for a jump or goto. */
void nft_expr_verdict(struct nftnl_rule *rule, int verdict, const char *chain);
/* Refuses the packet: NFT_REJECT_TCP_RST, or NFT_REJECT_ICMP_UNREACH with an ICMP code. */
void nft_expr_reject(struct nftnl_rule *rule, uint32_t type, uint8_t code);
