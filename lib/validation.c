#include "validation.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Kubernetes words its messages as "<what> (e.g. '<example>',  or '<example>', regex used for
 * validation is '<regex>')", the double space included; these are those texts, whole. */
#define DNS1123_LABEL_REGEX "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
#define DNS1123_LABEL_ERROR                                                                      \
	"a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', " \
	"and must start and end with an alphanumeric character (e.g. 'my-name',  or "            \
	"'123-abc', regex used for validation is '" DNS1123_LABEL_REGEX "')"
#define DNS1123_SUBDOMAIN_ERROR                                                                   \
	"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' " \
	"or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "     \
	"regex used for validation is '" DNS1123_LABEL_REGEX "(\\." DNS1123_LABEL_REGEX ")*')"
#define DNS1035_LABEL_ERROR                                                                       \
	"a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with " \
	"an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "   \
	"'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
#define LABEL_KEY_REGEX "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
#define LABEL_KEY_ERROR                                                                          \
	"must consist of alphanumeric characters, '-', '_' or '.', and must start and end with " \
	"an "                                                                                    \
	"alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "   \
	"validation is '" LABEL_KEY_REGEX "')"
#define LABEL_VALUE_ERROR                                                                        \
	"a valid label must be an empty string or consist of alphanumeric characters, '-', '_' " \
	"or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "    \
	"'my_value',  or '12345', regex used for validation is '(" LABEL_KEY_REGEX ")?')"

#define DNS_LABEL_MAX 63
#define DNS1123_SUBDOMAIN_MAX 253
#define LABEL_NAME_MAX 63
#define PORT_NAME_MAX 15

static void add_message(struct validation_messages *msgs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add_message(struct validation_messages *msgs, const char *fmt, ...)
{
	if (!msgs || msgs->count >= VALIDATION_MAX_MESSAGES)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msgs->text[msgs->count++], VALIDATION_MESSAGE_SIZE, fmt, ap);
	va_end(ap);
}

/* Every check starts from an empty list, so callers can reuse one without clearing it. */
static void start(struct validation_messages *msgs)
{
	if (msgs)
		msgs->count = 0;
}

void validation_messages_join(const struct validation_messages *msgs, const char *separator,
			      struct buf *out)
{
	for (size_t i = 0; i < msgs->count; i++) {
		if (i > 0)
			buf_puts(out, separator);
		buf_puts(out, msgs->text[i]);
	}
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])?, or [a-z]... when the first character must be a letter. */
static bool is_dns_label(const char *s, size_t len, bool letter_first)
{
	if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
		return false;
	if (letter_first && !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 1; i + 1 < len; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* DNS labels joined by single dots. */
static bool is_dns_subdomain(const char *s, size_t len)
{
	for (;;) {
		const char *dot = memchr(s, '.', len);
		size_t label_len = dot ? (size_t)(dot - s) : len;
		if (!is_dns_label(s, label_len, false))
			return false;
		if (!dot)
			return true;
		len -= label_len + 1;
		s = dot + 1;
	}
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] */
static bool is_label_name(const char *s, size_t len)
{
	if (len == 0 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return false;
	for (size_t i = 1; i + 1 < len; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

static bool check_length(size_t len, size_t max, const char *context, const char *unit,
			 struct validation_messages *msgs)
{
	if (len <= max)
		return true;
	add_message(msgs, "%smust be no more than %zu %s", context, max, unit);
	return false;
}

bool validate_dns1123_label(const char *value, struct validation_messages *msgs)
{
	start(msgs);
	size_t len = strlen(value);
	bool valid = check_length(len, DNS_LABEL_MAX, "", "characters", msgs);
	if (!is_dns_label(value, len, false)) {
		if (is_dns_subdomain(value, len))
			add_message(msgs, "must not contain dots");
		else
			add_message(msgs, "%s", DNS1123_LABEL_ERROR);
		valid = false;
	}
	return valid;
}

/* Label keys, checked by the newer code, word lengths in bytes; names in characters. */
static bool check_dns1123_subdomain(const char *value, size_t len, const char *context,
				    const char *unit, struct validation_messages *msgs)
{
	bool valid = check_length(len, DNS1123_SUBDOMAIN_MAX, context, unit, msgs);
	if (!is_dns_subdomain(value, len)) {
		add_message(msgs, "%s%s", context, DNS1123_SUBDOMAIN_ERROR);
		valid = false;
	}
	return valid;
}

bool validate_dns1123_subdomain(const char *value, struct validation_messages *msgs)
{
	start(msgs);
	return check_dns1123_subdomain(value, strlen(value), "", "characters", msgs);
}

bool validate_dns1035_label(const char *value, struct validation_messages *msgs)
{
	start(msgs);
	size_t len = strlen(value);
	bool valid = check_length(len, DNS_LABEL_MAX, "", "characters", msgs);
	if (!is_dns_label(value, len, true)) {
		add_message(msgs, "%s", DNS1035_LABEL_ERROR);
		valid = false;
	}
	return valid;
}

bool validate_qualified_name(const char *value, struct validation_messages *msgs)
{
	start(msgs);
	const char *slash = strchr(value, '/');
	if (slash && strchr(slash + 1, '/')) {
		add_message(
		    msgs,
		    "a valid label key %s with an optional DNS subdomain prefix and '/' (e.g. "
		    "'example.com/MyName')",
		    LABEL_KEY_ERROR);
		return false;
	}
	bool valid = true;
	const char *name = value;
	if (slash) {
		size_t prefix_len = (size_t)(slash - value);
		if (prefix_len == 0) {
			add_message(msgs, "prefix part must be non-empty");
			valid = false;
		} else if (!check_dns1123_subdomain(value, prefix_len, "prefix part ", "bytes",
						    msgs)) {
			valid = false;
		}
		name = slash + 1;
	}
	size_t name_len = strlen(name);
	if (name_len == 0) {
		add_message(msgs, "name part must be non-empty");
		valid = false;
	} else if (!check_length(name_len, LABEL_NAME_MAX, "name part ", "bytes", msgs)) {
		valid = false;
	}
	if (!is_label_name(name, name_len)) {
		add_message(msgs, "name part %s", LABEL_KEY_ERROR);
		valid = false;
	}
	return valid;
}

bool validate_label_value(const char *value, struct validation_messages *msgs)
{
	start(msgs);
	size_t len = strlen(value);
	bool valid = check_length(len, LABEL_NAME_MAX, "", "bytes", msgs);
	if (len > 0 && !is_label_name(value, len)) {
		add_message(msgs, "%s", LABEL_VALUE_ERROR);
		valid = false;
	}
	return valid;
}

bool validate_port_name(const char *value, struct validation_messages *msgs)
{
	start(msgs);
	size_t len = strlen(value);
	bool valid = check_length(len, PORT_NAME_MAX, "", "characters", msgs);
	bool charset_ok = len > 0, has_letter = false;
	for (size_t i = 0; i < len; i++) {
		charset_ok = charset_ok && (is_lower_alnum(value[i]) || value[i] == '-');
		has_letter = has_letter || (value[i] >= 'a' && value[i] <= 'z');
	}
	if (!charset_ok) {
		add_message(
		    msgs, "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
		valid = false;
	}
	if (!has_letter) {
		add_message(msgs, "must contain at least one letter (a-z)");
		valid = false;
	}
	if (strstr(value, "--")) {
		add_message(msgs, "must not contain consecutive hyphens");
		valid = false;
	}
	if (len > 0 && (value[0] == '-' || value[len - 1] == '-')) {
		add_message(msgs, "must not begin or end with a hyphen");
		valid = false;
	}
	return valid;
}

bool validate_port_number(int64_t port, struct validation_messages *msgs)
{
	start(msgs);
	if (port >= 1 && port <= 65535)
		return true;
	add_message(msgs, "must be between 1 and 65535, inclusive");
	return false;
}

bool validate_env_var_name(const char *value, struct validation_messages *msgs)
{
	start(msgs);
	bool valid = true;
	if (!*value) {
		add_message(msgs, "environment variable name must be non-empty");
		valid = false;
	}
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (*p < 0x20 || *p > 0x7E || *p == '=') {
			add_message(msgs, "a valid environment variable name must consist only of "
					  "printable ASCII characters other than '='");
			valid = false;
			break;
		}
	}
	return valid;
}

/* An address as Kubernetes' lenient parser (k8s.io/utils/net ParseIPSloppy, the parser of Go
 * before 1.17) reads it, and whether Go's strict net/netip would read it too. */
struct ip_text {
	unsigned char bytes[16];
	bool is_ipv4; /* written as a dotted quad; only bytes[0..3] are used */
	bool strict;  /* no leading zeros, no hex group longer than 4 digits */
};

/* Leading zeros are accepted, as long as the value fits in a byte. */
static bool parse_ipv4(const char *s, size_t len, unsigned char out[4], bool *strict)
{
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
		size_t start = i;
		unsigned value = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			value = value * 10 + (unsigned)(s[i] - '0');
			if (value > 255)
				return false;
			i++;
		}
		if (i == start)
			return false;
		if (s[start] == '0' && i - start > 1)
			*strict = false;
		out[part] = (unsigned char)value;
	}
	return i == len;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Groups of hex digits split by ':', one "::" for a run of zero groups, optionally ending in a
 * dotted quad. */
static bool parse_ipv6(const char *s, size_t len, unsigned char out[16], bool *strict)
{
	memset(out, 0, 16);
	size_t i = 0, filled = 0;
	long ellipsis = -1;
	if (len >= 2 && s[0] == ':' && s[1] == ':') {
		ellipsis = 0;
		i = 2;
		if (i == len)
			return true;
	}
	while (filled < 16) {
		size_t start = i;
		unsigned value = 0;
		int digit;
		while (i < len && (digit = hex_value(s[i])) >= 0) {
			value = value * 16 + (unsigned)digit;
			if (value > 0xFFFF)
				return false;
			i++;
		}
		if (i == start)
			return false;
		if (i - start > 4)
			*strict = false;
		if (i < len && s[i] == '.') {
			if ((ellipsis < 0 && filled != 12) || filled + 4 > 16)
				return false;
			if (!parse_ipv4(s + start, len - start, out + filled, strict))
				return false;
			filled += 4;
			i = len;
			break;
		}
		out[filled++] = (unsigned char)(value >> 8);
		out[filled++] = (unsigned char)value;
		if (i == len)
			break;
		if (s[i] != ':' || i + 1 == len)
			return false;
		i++;
		if (s[i] == ':') {
			if (ellipsis >= 0)
				return false;
			ellipsis = (long)filled;
			if (++i == len)
				break;
		}
	}
	if (i != len)
		return false;
	if (filled < 16) {
		if (ellipsis < 0)
			return false;
		size_t gap = 16 - filled;
		memmove(out + ellipsis + gap, out + ellipsis, filled - (size_t)ellipsis);
		memset(out + ellipsis, 0, gap);
	} else if (ellipsis >= 0) {
		return false; /* "::" must stand for at least one group */
	}
	return true;
}

/* Go's net.ParseIP: the first '.' or ':' decides the family. */
static bool parse_ip(const char *s, size_t len, struct ip_text *ip)
{
	ip->strict = true;
	size_t separator = strcspn(s, ".:");
	if (separator >= len)
		return false;
	ip->is_ipv4 = s[separator] == '.';
	if (ip->is_ipv4)
		return parse_ipv4(s, len, ip->bytes, &ip->strict);
	return parse_ipv6(s, len, ip->bytes, &ip->strict);
}

static bool is_ipv4_mapped(const struct ip_text *ip)
{
	static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
	return !ip->is_ipv4 && memcmp(ip->bytes, prefix, sizeof(prefix)) == 0;
}

/* The text Go prints: a dotted quad, or RFC 5952 (lower-case hex, the first longest run of
 * two or more zero groups written "::"). */
static void format_ip(const struct ip_text *ip, char *out, size_t size)
{
	const unsigned char *b = ip->bytes;
	if (ip->is_ipv4) {
		snprintf(out, size, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
		return;
	}
	int run_start = -1, run_len = 0;
	for (int group = 0; group < 8;) {
		int end = group;
		while (end < 8 && b[2 * end] == 0 && b[2 * end + 1] == 0)
			end++;
		if (end - group > run_len) {
			run_start = group;
			run_len = end - group;
		}
		group = end > group ? end : group + 1;
	}
	if (run_len < 2)
		run_start = -1;
	size_t used = 0;
	out[0] = '\0';
	for (int group = 0; group < 8 && used < size; group++) {
		if (group == run_start) {
			used += (size_t)snprintf(out + used, size - used, "::");
			group += run_len - 1;
			continue;
		}
		const char *separator = group > 0 && group != run_start + run_len ? ":" : "";
		used += (size_t)snprintf(out + used, size - used, "%s%x", separator,
					 (unsigned)(b[2 * group] << 8 | b[2 * group + 1]));
	}
}

bool validate_ip_address(const char *value, struct validation_messages *msgs)
{
	start(msgs);
	struct ip_text ip;
	if (!parse_ip(value, strlen(value), &ip)) {
		add_message(msgs, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)");
		return false;
	}
	if (!ip.strict) {
		add_message(msgs, "must not have leading 0s");
		return false;
	}
	if (is_ipv4_mapped(&ip)) {
		add_message(msgs, "must not be an IPv4-mapped IPv6 address");
		return false;
	}
	char canonical[64];
	format_ip(&ip, canonical, sizeof(canonical));
	if (strcmp(canonical, value) != 0) {
		add_message(msgs, "must be in canonical form (\"%s\")", canonical);
		return false;
	}
	return true;
}

bool validate_cidr(const char *value, struct validation_messages *msgs)
{
	start(msgs);
	const char *slash = strchr(value, '/');
	struct ip_text ip = {.strict = true, .is_ipv4 = true};
	size_t addr_len = slash ? (size_t)(slash - value) : 0;
	bool parsed = slash != NULL;
	if (parsed && !parse_ipv4(value, addr_len, ip.bytes, &ip.strict)) {
		ip = (struct ip_text){.strict = true, .is_ipv4 = false};
		parsed = parse_ipv6(value, addr_len, ip.bytes, &ip.strict);
	}
	const unsigned max_bits = ip.is_ipv4 ? 32 : 128;
	unsigned bits = 0;
	const char *digits = parsed ? slash + 1 : "";
	size_t digit_count = strspn(digits, "0123456789");
	parsed = parsed && digit_count > 0 && digits[digit_count] == '\0';
	for (size_t i = 0; parsed && i < digit_count; i++) {
		bits = bits * 10 + (unsigned)(digits[i] - '0');
		parsed = bits <= max_bits;
	}
	if (!parsed) {
		add_message(msgs,
			    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)");
		return false;
	}
	if (!ip.strict || (digits[0] == '0' && digit_count > 1)) {
		add_message(msgs, "must not have leading 0s in IP or prefix length");
		return false;
	}
	if (is_ipv4_mapped(&ip)) {
		add_message(msgs, "must not have an IPv4-mapped IPv6 address");
		return false;
	}
	for (unsigned bit = bits; bit < max_bits; bit++) {
		if (ip.bytes[bit / 8] & (0x80 >> (bit % 8))) {
			add_message(msgs, "must not have bits set beyond the prefix length");
			return false;
		}
	}
	char canonical[80];
	format_ip(&ip, canonical, sizeof(canonical));
	size_t used = strlen(canonical);
	snprintf(canonical + used, sizeof(canonical) - used, "/%u", bits);
	if (strcmp(canonical, value) != 0) {
		add_message(msgs, "must be in canonical form (\"%s\")", canonical);
		return false;
	}
	return true;
}

bool validate_annotations_size(const json_t *annotations, struct validation_messages *msgs)
{
	start(msgs);
	size_t total = 0;
	const char *key;
	json_t *value;
	json_object_foreach ((json_t *)annotations, key, value)
		total += strlen(key) + (json_is_string(value) ? json_string_length(value) : 0);
	if (total <= ANNOTATIONS_TOTAL_SIZE_LIMIT)
		return true;
	add_message(msgs, "may not be more than %d bytes", ANNOTATIONS_TOTAL_SIZE_LIMIT);
	return false;
}
