/* Image references, read the way Docker's and Kubernetes' reference parser reads them
 * (github.com/distribution/reference): the grammar is checked piece by piece instead of with
 * one regular expression, so each rule is visible and bounded. */
#include "runtime/image_ref.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/cleanup.h"
#include "runtime/image_store.h"

/* The reference grammar caps the name (registry and repository) at 255 characters; whole
 * references longer than this cannot be valid, so nothing longer is even copied. */
#define NAME_MAX_LENGTH 255
#define TEXT_MAX_LENGTH 1024
#define TAG_MAX_LENGTH 128

#define DEFAULT_REGISTRY "docker.io"
#define LEGACY_DEFAULT_REGISTRY "index.docker.io"
#define OFFICIAL_NAMESPACE "library/"
#define DEFAULT_TAG "latest"

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_word(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* A path component: lower-case alphanumerics joined by ".", "_", "__" or runs of "-". */
static bool path_component_valid(const char *s, size_t len)
{
	size_t i = 0;
	if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
		return false;
	while (i < len) {
		if (is_lower_alnum(s[i])) {
			i++;
			continue;
		}
		size_t run = 0;
		while (i + run < len && !is_lower_alnum(s[i + run]))
			run++;
		const char *sep = s + i;
		bool dashes = strspn(sep, "-") >= run;
		bool ok = dashes || (run == 1 && (sep[0] == '.' || sep[0] == '_')) ||
			  (run == 2 && sep[0] == '_' && sep[1] == '_');
		if (!ok)
			return false;
		i += run;
	}
	return true;
}

static bool repository_valid(const char *path)
{
	for (;;) {
		size_t len = strcspn(path, "/");
		if (!path_component_valid(path, len))
			return false;
		if (!path[len])
			return true;
		path += len + 1;
	}
}

/* A domain component: alphanumerics with inner dashes, either case. */
static bool domain_component_valid(const char *s, size_t len)
{
	if (len == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	}
	return true;
}

static bool port_valid(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

/* host[:port], where host is dotted domain components or an IPv6 address in brackets. */
static bool registry_valid(const char *registry)
{
	const char *port = NULL;
	if (registry[0] == '[') {
		const char *close = strchr(registry, ']');
		if (!close || close == registry + 1)
			return false;
		size_t inner = (size_t)(close - registry - 1);
		if (strspn(registry + 1, "0123456789abcdefABCDEF:") != inner)
			return false;
		if (close[1] == '\0')
			return true;
		if (close[1] != ':')
			return false;
		port = close + 2;
		return port_valid(port);
	}
	size_t host_len = strcspn(registry, ":");
	if (registry[host_len] == ':' && !port_valid(registry + host_len + 1))
		return false;
	const char *component = registry;
	const char *end = registry + host_len;
	while (component <= end) {
		size_t len = strcspn(component, ".:");
		if (component + len > end)
			len = (size_t)(end - component);
		if (!domain_component_valid(component, len))
			return false;
		component += len + 1;
	}
	return true;
}

static bool tag_valid(const char *tag)
{
	size_t len = strlen(tag);
	if (len == 0 || len > TAG_MAX_LENGTH || !is_word(tag[0]))
		return false;
	for (size_t i = 1; i < len; i++) {
		if (!is_word(tag[i]) && tag[i] != '.' && tag[i] != '-')
			return false;
	}
	return true;
}

static bool has_upper(const char *s)
{
	for (; *s; s++) {
		if (isupper((unsigned char)*s))
			return true;
	}
	return false;
}

/* A bare 64-hex string would be an image ID, which Docker refuses as a name. */
static bool is_bare_identifier(const char *text)
{
	return strlen(text) == 64 && strspn(text, "0123456789abcdef") == 64;
}

/* Which part of "first/rest" is a registry: as Docker decides, the first element is one when
 * it is "localhost", contains "." or ":", or has upper case (namespaces never do). The legacy
 * Docker Hub name is folded into docker.io; host names ignore case, so both are compared
 * without it. */
static int split_registry(const char *name, char **registry, char **repository)
{
	const char *slash = strchr(name, '/');
	const char *rest = name;
	if (slash) {
		size_t len = (size_t)(slash - name);
		bool is_registry = (len == 9 && strncmp(name, "localhost", 9) == 0) ||
				   memchr(name, '.', len) || memchr(name, ':', len);
		for (size_t i = 0; i < len && !is_registry; i++)
			is_registry = isupper((unsigned char)name[i]);
		if (is_registry) {
			*registry = strndup(name, len);
			rest = slash + 1;
		}
	}
	if (!*registry)
		*registry = strdup(DEFAULT_REGISTRY);
	if (!*registry)
		return -ENOMEM;
	if (strcasecmp(*registry, LEGACY_DEFAULT_REGISTRY) == 0 ||
	    strcasecmp(*registry, DEFAULT_REGISTRY) == 0)
		strcpy(*registry, DEFAULT_REGISTRY);
	bool official = strcmp(*registry, DEFAULT_REGISTRY) == 0 && !strchr(rest, '/');
	if (asprintf(repository, "%s%s", official ? OFFICIAL_NAMESPACE : "", rest) < 0) {
		*repository = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int invalid(struct ck_error *err, const char *text, const char *why)
{
	return ck_error_set(err, EINVAL, "couldn't parse image reference \"%s\": %s", text, why);
}

int image_ref_parse(const char *text, struct image_ref *out, struct ck_error *err)
{
	memset(out, 0, sizeof(*out));
	if (strnlen(text, TEXT_MAX_LENGTH + 1) > TEXT_MAX_LENGTH)
		return ck_error_set(err, EINVAL,
				    "couldn't parse image reference: longer than %d characters",
				    TEXT_MAX_LENGTH);
	for (const char *p = text; *p; p++) {
		if (*p <= ' ' || *p > '~')
			return invalid(err, text, "invalid reference format");
	}
	if (is_bare_identifier(text))
		return invalid(
		    err, text,
		    "invalid repository name, cannot specify 64-byte hexadecimal strings");

	_cleanup_free_ char *name = strdup(text);
	if (!name)
		return ck_error_set(err, ENOMEM, "parse image reference: out of memory");
	char *at = strchr(name, '@');
	const char *digest = NULL;
	if (at) {
		*at = '\0';
		digest = at + 1;
		if (!image_digest_valid(digest))
			return invalid(err, text, "invalid reference format");
	}
	const char *tag = NULL;
	char *last_slash = strrchr(name, '/');
	char *colon = strrchr(last_slash ? last_slash : name, ':');
	if (colon) {
		*colon = '\0';
		tag = colon + 1;
		if (!tag_valid(tag))
			return invalid(err, text, "invalid reference format");
	}

	struct image_ref ref = {0};
	if (split_registry(name, &ref.registry, &ref.repository) < 0) {
		image_ref_clear(&ref);
		return ck_error_set(err, ENOMEM, "parse image reference: out of memory");
	}
	const char *why = NULL;
	if (has_upper(ref.repository))
		why = "invalid reference format: repository name must be lowercase";
	else if (!registry_valid(ref.registry) || !repository_valid(ref.repository))
		why = "invalid reference format";
	else if (strlen(ref.registry) + 1 + strlen(ref.repository) > NAME_MAX_LENGTH)
		why = "invalid reference format: repository name must not be more than 255 "
		      "characters";
	if (why) {
		image_ref_clear(&ref);
		return invalid(err, text, why);
	}
	if (!tag && !digest)
		tag = DEFAULT_TAG;
	ref.tag = tag ? strdup(tag) : NULL;
	ref.digest = digest ? strdup(digest) : NULL;
	if ((tag && !ref.tag) || (digest && !ref.digest)) {
		image_ref_clear(&ref);
		return ck_error_set(err, ENOMEM, "parse image reference: out of memory");
	}
	*out = ref;
	return 0;
}

void image_ref_clear(struct image_ref *ref)
{
	free(ref->registry);
	free(ref->repository);
	free(ref->tag);
	free(ref->digest);
	memset(ref, 0, sizeof(*ref));
}

char *image_ref_string(const struct image_ref *ref)
{
	char *text = NULL;
	int ret;
	if (ref->digest)
		ret = asprintf(&text, "%s/%s@%s", ref->registry, ref->repository, ref->digest);
	else
		ret = asprintf(&text, "%s/%s:%s", ref->registry, ref->repository,
			       ref->tag ? ref->tag : DEFAULT_TAG);
	return ret < 0 ? NULL : text;
}
