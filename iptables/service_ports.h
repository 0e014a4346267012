/* Services and Endpoints as the proxy acts on them: read from the API's JSON once, at the
 * edge, into C structures, then joined into service ports, each with its ready endpoints. A
 * Service port finds its endpoint port by name (and protocol) in every subset, which is how a
 * named targetPort that differs between pods arrives: as subsets with different ports. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

#define SERVICE_PORT_NAME_MAX 64

struct service_spec_port {
	char name[SERVICE_PORT_NAME_MAX]; /* "" when the Service has one unnamed port */
	uint8_t protocol;                 /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP */
	uint16_t port;
	uint16_t node_port; /* 0: none */
};

struct service_spec {
	uint32_t cluster_ip;       /* host order; 0: none (headless, ExternalName): no rules */
	uint32_t affinity_seconds; /* ClientIP affinity; 0: none */
	size_t port_count;
	struct service_spec_port *ports;
};

struct endpoint_address {
	uint32_t address; /* host order */
	bool local;       /* on this node (nodeName), or of unknown place */
};

struct endpoint_port {
	char name[SERVICE_PORT_NAME_MAX];
	uint8_t protocol;
	uint16_t port;
};

struct endpoints_subset {
	size_t address_count; /* ready addresses only: the others get no traffic */
	struct endpoint_address *addresses;
	size_t port_count;
	struct endpoint_port *ports;
};

struct endpoints_spec {
	size_t subset_count;
	struct endpoints_subset *subsets;
};

/* One port of a Service with its ready endpoints: what the rules are made of. */
struct proxy_endpoint {
	uint32_t address; /* host order */
	uint16_t port;
	bool local;
};

struct service_port {
	uint32_t cluster_ip;
	uint8_t protocol;
	uint16_t port, node_port;
	uint32_t affinity_seconds;
	size_t endpoint_count;
	struct proxy_endpoint *endpoints; /* sorted by address and port, no duplicates */
};

/* `node_name` tells local endpoints from others. Errors name the object:
 * "service default/web: spec.ports[1].protocol \"ICMP\": not TCP, UDP or SCTP". */
int service_spec_parse(const json_t *service, struct service_spec *out, struct ck_error *err);
int endpoints_spec_parse(const json_t *endpoints, const char *node_name, struct endpoints_spec *out,
			 struct ck_error *err);
void service_spec_clear(struct service_spec *spec);
void endpoints_spec_clear(struct endpoints_spec *spec);

/* The Service's ports with their endpoints (none when `endpoints` is NULL); none at all for a
 * Service without a ClusterIP. Frees with service_ports_free. */
void service_ports_build(const struct service_spec *service, const struct endpoints_spec *endpoints,
			 struct service_port **out, size_t *count);
void service_ports_free(struct service_port *ports, size_t count);
