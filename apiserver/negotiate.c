#include "negotiate.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* One media range of an Accept header: "application/json;as=Table;v=v1;g=meta.k8s.io". */
struct media_range {
	char type[64];
	char as[48];
	char version[16];
	char group[48];
};

static void trim_copy(char *out, size_t out_len, const char *start, size_t len)
{
	while (len && (*start == ' ' || *start == '\t'))
		start++, len--;
	while (len && (start[len - 1] == ' ' || start[len - 1] == '\t'))
		len--;
	if (len >= out_len)
		len = out_len - 1;
	memcpy(out, start, len);
	out[len] = '\0';
}

/* Parses the media range in [start, end); returns false when it does not fit the buffers. */
static bool parse_range(const char *start, const char *end, struct media_range *range)
{
	memset(range, 0, sizeof(*range));
	const char *semicolon = memchr(start, ';', (size_t)(end - start));
	const char *type_end = semicolon ? semicolon : end;
	trim_copy(range->type, sizeof(range->type), start, (size_t)(type_end - start));
	const char *p = semicolon;
	while (p && p < end) {
		const char *param = p + 1;
		const char *next = memchr(param, ';', (size_t)(end - param));
		const char *param_end = next ? next : end;
		const char *equals = memchr(param, '=', (size_t)(param_end - param));
		if (equals) {
			char key[16], value[64];
			trim_copy(key, sizeof(key), param, (size_t)(equals - param));
			trim_copy(value, sizeof(value), equals + 1,
				  (size_t)(param_end - equals - 1));
			if (!strcmp(key, "as"))
				snprintf(range->as, sizeof(range->as), "%s", value);
			else if (!strcmp(key, "v"))
				snprintf(range->version, sizeof(range->version), "%s", value);
			else if (!strcmp(key, "g"))
				snprintf(range->group, sizeof(range->group), "%s", value);
		}
		p = next;
	}
	return true;
}

static bool is_json_type(const char *type)
{
	return !strcasecmp(type, "application/json") || !strcmp(type, "*/*") ||
	       !strcasecmp(type, "application/*");
}

/* Calls `pick` for each media range until it returns true. */
static bool each_range(const char *accept, bool (*pick)(const struct media_range *, void *),
		       void *ctx)
{
	const char *p = accept;
	while (p && *p) {
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);
		struct media_range range;
		if (parse_range(p, end, &range) && pick(&range, ctx))
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

static bool pick_output(const struct media_range *range, void *ctx)
{
	struct output_format *out = ctx;
	if (!is_json_type(range->type))
		return false;
	if (!range->as[0]) {
		out->kind = OUTPUT_JSON;
		return true;
	}
	if (strcmp(range->group, "meta.k8s.io") != 0 ||
	    (strcmp(range->version, "v1") != 0 && strcmp(range->version, "v1beta1") != 0))
		return false;
	if (!strcmp(range->as, "Table"))
		out->kind = OUTPUT_TABLE;
	else if (!strcmp(range->as, "PartialObjectMetadata") ||
		 !strcmp(range->as, "PartialObjectMetadataList"))
		out->kind = OUTPUT_PARTIAL_METADATA;
	else
		return false;
	snprintf(out->api_version, sizeof(out->api_version), "meta.k8s.io/%s", range->version);
	return true;
}

bool negotiate_output(const char *accept, struct output_format *out)
{
	memset(out, 0, sizeof(*out));
	if (!accept || !*accept)
		return true;
	return each_range(accept, pick_output, out);
}

static bool pick_discovery(const struct media_range *range, void *ctx)
{
	const char **version = ctx;
	if (!is_json_type(range->type))
		return false;
	if (!strcmp(range->as, "APIGroupDiscoveryList") &&
	    !strcmp(range->group, "apidiscovery.k8s.io") &&
	    (!strcmp(range->version, "v2") || !strcmp(range->version, "v2beta1"))) {
		*version = !strcmp(range->version, "v2") ? "v2" : "v2beta1";
		return true;
	}
	/* A plain JSON entry before any aggregated one means the legacy documents. */
	return !range->as[0];
}

const char *negotiate_discovery(const char *accept)
{
	const char *version = NULL;
	if (accept)
		each_range(accept, pick_discovery, &version);
	return version;
}

enum body_format negotiate_body(const char *content_type)
{
	if (!content_type || !*content_type)
		return BODY_JSON;
	char type[64];
	const char *semicolon = strchr(content_type, ';');
	trim_copy(type, sizeof(type), content_type,
		  semicolon ? (size_t)(semicolon - content_type) : strlen(content_type));
	if (!strcasecmp(type, "application/json") || !strcasecmp(type, "*/*") ||
	    !strcasecmp(type, "application/merge-patch+json") ||
	    !strcasecmp(type, "application/json-patch+json") ||
	    !strcasecmp(type, "application/strategic-merge-patch+json"))
		return BODY_JSON;
	if (!strcasecmp(type, "application/yaml") ||
	    !strcasecmp(type, "application/apply-patch+yaml"))
		return BODY_YAML;
	if (!strcasecmp(type, "application/vnd.kubernetes.protobuf"))
		return BODY_PROTOBUF;
	return BODY_UNSUPPORTED;
}
