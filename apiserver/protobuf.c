#include "apiserver/protobuf.h"
#include "apiserver/field_path.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "apiserver/schema.h"
#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/timeutil.h"

/* Kubernetes objects nest about a dozen messages deep; this bounds recursion on hostile input. */
#define MAX_DEPTH 64
/* The largest field number protobuf allows, 2^29 - 1. */
#define FIELD_NUMBER_MAX 536870911u
/* How much of a hostile text an error message repeats. */
#define ECHO_MAX 80

#define NANOS_PER_SECOND 1000000000
/* Go's zero time.Time (0001-01-01T00:00:00Z) in Unix seconds: JSON writes it as null. */
#define GO_ZERO_TIME_SECONDS (-62135596800LL)
/* What RFC 3339's four-digit years can say: 0000-01-01T00:00:00Z to 9999-12-31T23:59:59Z. */
#define TIME_MIN_SECONDS (-62167219200LL)
#define TIME_MAX_SECONDS 253402300799LL

enum {
	WIRE_VARINT = 0,
	WIRE_FIXED64 = 1,
	WIRE_BYTES = 2, /* strings, bytes, messages, packed lists */
	WIRE_GROUP_START = 3,
	WIRE_GROUP_END = 4,
	WIRE_FIXED32 = 5,
};

static const uint8_t envelope_magic[4] = {'k', '8', 's', 0};
/* Where empty payloads point, so that no data pointer is ever NULL. */
static const uint8_t nothing[1];

/* One field as read from the wire. */
struct wire_field {
	unsigned number; /* 0: not read (a slot of read_small_message() left empty) */
	unsigned type;
	uint64_t varint;     /* WIRE_VARINT */
	const uint8_t *data; /* WIRE_BYTES: the payload; never NULL */
	size_t len;
};

struct reader {
	const uint8_t *next;
	const uint8_t *end;
};

struct decoder {
	struct ck_error *err;
	struct buf path; /* "spec.containers[0].ports": where the decoder is, for messages */
};

static void decoder_release(struct decoder *d)
{
	buf_free(&d->path);
}

static int fail(struct decoder *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct decoder *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ck_error_setv(d->err, EINVAL, fmt, ap);
	va_end(ap);
	if (d->path.len)
		ck_error_prefix(d->err, "%s", field_path_text(&d->path));
	return -EINVAL;
}

static int out_of_memory(struct decoder *d)
{
	return ck_error_set(d->err, ENOMEM, "out of memory");
}

/* Hostile text in a message stays short and printable ASCII, so that the message is valid
 * UTF-8 wherever it is cut and whatever the text held. */
static void append_printable(struct buf *out, const void *text, size_t len)
{
	const uint8_t *bytes = text;
	for (size_t i = 0; i < len && i < ECHO_MAX; i++)
		buf_putc(out, bytes[i] >= 0x20 && bytes[i] < 0x7f ? (char)bytes[i] : '?');
	if (len > ECHO_MAX)
		buf_puts(out, "...");
}

/* --- the wire ------------------------------------------------------------------------------ */

static int read_varint(struct decoder *d, struct reader *r, uint64_t *value)
{
	uint64_t result = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (r->next == r->end)
			return fail(d, "truncated varint");
		uint8_t byte = *r->next++;
		result |= (uint64_t)(byte & 0x7f) << shift;
		if (byte < 0x80) {
			*value = result;
			return 0;
		}
	}
	return fail(d, "varint longer than 10 bytes");
}

static int skip_bytes(struct decoder *d, struct reader *r, uint64_t len, unsigned number)
{
	if (len > (uint64_t)(r->end - r->next))
		return fail(d, "field %u: %" PRIu64 " bytes announced, %zu left", number, len,
			    (size_t)(r->end - r->next));
	r->next += len;
	return 0;
}

static int read_any_field(struct decoder *d, struct reader *r, struct wire_field *f,
			  unsigned depth);

/* Groups are a proto2 form Kubernetes never sends; Go's decoder skips them, and so does this
 * one. */
static int skip_group(struct decoder *d, struct reader *r, unsigned number, unsigned depth)
{
	if (depth >= MAX_DEPTH)
		return fail(d, "nested deeper than %d levels", MAX_DEPTH);
	struct wire_field inner;
	int ret;
	while ((ret = read_any_field(d, r, &inner, depth + 1)) > 0)
		if (inner.type == WIRE_GROUP_END)
			return inner.number == number
				   ? 0
				   : fail(d, "group %u ended as group %u", number, inner.number);
	return ret < 0 ? ret : fail(d, "group %u is not ended", number);
}

/* Reads the next field of a message, the end of a group included. Returns 1, 0 at the end of
 * the message, or -EINVAL. */
static int read_any_field(struct decoder *d, struct reader *r, struct wire_field *f, unsigned depth)
{
	if (r->next == r->end)
		return 0;
	uint64_t tag;
	int ret = read_varint(d, r, &tag);
	if (ret < 0)
		return ret;
	if (tag >> 3 == 0 || tag >> 3 > FIELD_NUMBER_MAX)
		return fail(d, "field number %" PRIu64 " is out of range", tag >> 3);
	*f = (struct wire_field){.number = (unsigned)(tag >> 3), .type = tag & 7, .data = nothing};
	uint64_t len;
	switch (f->type) {
	case WIRE_VARINT:
		ret = read_varint(d, r, &f->varint);
		break;
	case WIRE_FIXED64:
		ret = skip_bytes(d, r, 8, f->number);
		break;
	case WIRE_FIXED32:
		ret = skip_bytes(d, r, 4, f->number);
		break;
	case WIRE_BYTES:
		ret = read_varint(d, r, &len);
		f->data = r->next;
		if (ret == 0)
			ret = skip_bytes(d, r, len, f->number);
		f->len = (size_t)(r->next - f->data);
		break;
	case WIRE_GROUP_START:
		ret = skip_group(d, r, f->number, depth);
		break;
	case WIRE_GROUP_END:
		break;
	default:
		return fail(d, "field %u has the unknown wire type %u", f->number, f->type);
	}
	return ret < 0 ? ret : 1;
}

static int read_field(struct decoder *d, struct reader *r, struct wire_field *f, unsigned depth)
{
	int ret = read_any_field(d, r, f, depth);
	if (ret > 0 && f->type == WIRE_GROUP_END)
		return fail(d, "group %u ends without starting", f->number);
	return ret;
}

static int wrong_wire_type(struct decoder *d, const struct wire_field *f, unsigned expected)
{
	return fail(d, "field %u has wire type %u, expected %u", f->number, f->type, expected);
}

static struct wire_field empty_slot(unsigned type)
{
	return (struct wire_field){.type = type, .data = nothing};
}

/* Reads a message of a few fields numbered from 1: the last occurrence of field N lands in
 * fields[N - 1], whose `type` says the wire type expected; other numbers are skipped. The small
 * messages of Kubernetes (the envelope, Time, Quantity, IntOrString, map entries) read so. */
static int read_small_message(struct decoder *d, const struct wire_field *message,
			      struct wire_field *fields, size_t count, unsigned depth)
{
	struct reader r = {message->data, message->data + message->len};
	struct wire_field f;
	int ret;
	while ((ret = read_field(d, &r, &f, depth)) > 0) {
		if (f.number > count)
			continue;
		if (f.type != fields[f.number - 1].type)
			return wrong_wire_type(d, &f, fields[f.number - 1].type);
		fields[f.number - 1] = f;
	}
	return ret;
}

/* --- values -------------------------------------------------------------------------------- */

/* As for JSON bodies, a string is UTF-8 without NUL bytes. */
static int make_string(struct decoder *d, const uint8_t *data, size_t len, json_t **value)
{
	if (memchr(data, 0, len))
		return fail(d, "a string holds a NUL byte");
	*value = json_stringn((const char *)data, len);
	return *value ? 0 : fail(d, "a string is not valid UTF-8");
}

static int decode_bytes(struct decoder *d, const struct wire_field *f, json_t **value)
{
	_cleanup_buf_ struct buf text = {0};
	base64_encode(f->data, f->len, &text);
	*value = json_stringn(text.data ? text.data : "", text.len);
	return *value ? 0 : out_of_memory(d);
}

/* metav1.Time and MicroTime travel as a Timestamp: seconds (1) and nanos (2). Leaves *value
 * NULL for Go's zero time, which an empty message stands for. */
static int decode_time(struct decoder *d, const struct wire_field *f, bool micro, unsigned depth,
		       json_t **value)
{
	if (f->len == 0)
		return 0;
	struct wire_field parts[] = {empty_slot(WIRE_VARINT), empty_slot(WIRE_VARINT)};
	int ret = read_small_message(d, f, parts, 2, depth);
	if (ret < 0)
		return ret;
	int64_t seconds = (int64_t)parts[0].varint;
	if (seconds < TIME_MIN_SECONDS - 3 || seconds > TIME_MAX_SECONDS + 3)
		return fail(d, "time %" PRId64 " s is outside the years 0 to 9999", seconds);
	/* Time keeps whole seconds (metav1.Time's decoder drops nanos). MicroTime truncates to
	 * microseconds, toward zero, then time.Unix() carries nanos out of [0, 1s) into the
	 * seconds: at most 3 s either way, hence the margin above. */
	int64_t nanos = micro ? (int32_t)parts[1].varint : 0;
	nanos -= nanos % 1000;
	seconds += nanos / NANOS_PER_SECOND;
	nanos %= NANOS_PER_SECOND;
	if (nanos < 0) {
		nanos += NANOS_PER_SECOND;
		seconds--;
	}
	if (seconds == GO_ZERO_TIME_SECONDS && nanos == 0)
		return 0;
	if (seconds < TIME_MIN_SECONDS || seconds > TIME_MAX_SECONDS)
		return fail(d, "time %" PRId64 " s is outside the years 0 to 9999", seconds);
	char text[TIMEUTIL_TEXT_SIZE];
	if (micro)
		timeutil_format_rfc3339_micro(
		    (struct timespec){.tv_sec = seconds, .tv_nsec = nanos}, text);
	else
		timeutil_format_rfc3339(seconds, text);
	*value = json_string(text);
	return *value ? 0 : out_of_memory(d);
}

/* intstr.IntOrString: type (1; 0 int, 1 string), intVal (2), strVal (3). */
static int decode_int_or_string(struct decoder *d, const struct wire_field *f, unsigned depth,
				json_t **value)
{
	struct wire_field parts[] = {empty_slot(WIRE_VARINT), empty_slot(WIRE_VARINT),
				     empty_slot(WIRE_BYTES)};
	int ret = read_small_message(d, f, parts, 3, depth);
	if (ret < 0)
		return ret;
	switch (parts[0].varint) {
	case 0:
		*value = json_integer((int32_t)parts[1].varint);
		return *value ? 0 : out_of_memory(d);
	case 1:
		return make_string(d, parts[2].data, parts[2].len, value);
	default:
		return fail(d, "IntOrString type %" PRIu64 " is neither 0 (int) nor 1 (string)",
			    parts[0].varint);
	}
}

/* resource.Quantity: its text in field 1. Without it, Go's zero Quantity, which is "0". */
static int decode_quantity(struct decoder *d, const struct wire_field *f, unsigned depth,
			   json_t **value)
{
	struct wire_field text = empty_slot(WIRE_BYTES);
	int ret = read_small_message(d, f, &text, 1, depth);
	if (ret < 0)
		return ret;
	if (!text.number)
		return make_string(d, (const uint8_t *)"0", 1, value);
	return make_string(d, text.data, text.len, value);
}

/* FieldsV1 (and RawExtension) carry JSON text in field 1; without any, the field is unset. */
static int decode_embedded_json(struct decoder *d, const struct wire_field *f, unsigned depth,
				json_t **value)
{
	struct wire_field raw = empty_slot(WIRE_BYTES);
	int ret = read_small_message(d, f, &raw, 1, depth);
	if (ret < 0 || raw.len == 0)
		return ret;
	json_error_t error;
	*value = json_loadb((const char *)raw.data, raw.len, JSON_DECODE_ANY, &error);
	if (*value)
		return 0;
	_cleanup_buf_ struct buf why = {0};
	append_printable(&why, error.text, strlen(error.text));
	return fail(d, "the embedded JSON is invalid: %s", why.data);
}

static unsigned wire_type_of(const struct schema_type *type)
{
	return type->kind == SCHEMA_INTEGER || type->kind == SCHEMA_BOOLEAN ? WIRE_VARINT
									    : WIRE_BYTES;
}

static int decode_message(struct decoder *d, const struct schema_type *type, unsigned embedded,
			  const struct wire_field *message, json_t *object, unsigned depth);

/* Decodes one value of `type` into a new reference at *value, or leaves it NULL for a value
 * that means unset (a zero Time, FieldsV1 without JSON). */
static int decode_value(struct decoder *d, const struct schema_type *type,
			const struct wire_field *f, unsigned depth, json_t **value)
{
	*value = NULL;
	if (f->type != wire_type_of(type))
		return wrong_wire_type(d, f, wire_type_of(type));
	switch (type->kind) {
	case SCHEMA_INTEGER:
		/* Go keeps the low bits of a varint too large for the field, as protobuf says. */
		*value = json_integer(type->bits == 32 ? (int32_t)f->varint : (int64_t)f->varint);
		break;
	case SCHEMA_BOOLEAN:
		*value = json_boolean(f->varint != 0);
		break;
	case SCHEMA_STRING:
		if (type->base64)
			return decode_bytes(d, f, value);
		if (!strcmp(type->name, "time") || !strcmp(type->name, "microtime"))
			return decode_time(d, f, !strcmp(type->name, "microtime"), depth, value);
		return make_string(d, f->data, f->len, value);
	case SCHEMA_INT_OR_STRING:
		return decode_int_or_string(d, f, depth, value);
	case SCHEMA_QUANTITY:
		return decode_quantity(d, f, depth, value);
	case SCHEMA_ANY:
		return decode_embedded_json(d, f, depth, value);
	case SCHEMA_OBJECT:
		*value = json_object();
		if (!*value)
			return out_of_memory(d);
		return decode_message(d, type, 0, f, *value, depth + 1);
	case SCHEMA_NUMBER:
	case SCHEMA_ARRAY:
	case SCHEMA_MAP:
		return fail(d, "%s has no protobuf form", type->name);
	}
	return *value ? 0 : out_of_memory(d);
}

static int append_value(struct decoder *d, const struct schema_type *element,
			const struct wire_field *f, json_t *list, unsigned depth)
{
	_cleanup_json_ json_t *value = NULL;
	int ret = decode_value(d, element, f, depth, &value);
	if (ret < 0)
		return ret;
	return json_array_append(list, value ? value : json_null()) < 0 ? out_of_memory(d) : 0;
}

/* Lists of numbers may come packed: one field holding varints back to back. */
static int append_packed(struct decoder *d, const struct schema_type *element,
			 const struct wire_field *f, json_t *list, unsigned depth)
{
	struct reader r = {f->data, f->data + f->len};
	while (r.next != r.end) {
		size_t mark = field_path_push_index(&d->path, json_array_size(list));
		struct wire_field item = {
		    .number = f->number, .type = WIRE_VARINT, .data = nothing};
		int ret = read_varint(d, &r, &item.varint);
		if (ret == 0)
			ret = append_value(d, element, &item, list, depth);
		field_path_pop(&d->path, mark);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int decode_list_item(struct decoder *d, const struct schema_type *element,
			    const struct wire_field *f, json_t *list, unsigned depth)
{
	if (f->type == WIRE_BYTES && wire_type_of(element) == WIRE_VARINT)
		return append_packed(d, element, f, list, depth);
	size_t mark = field_path_push_index(&d->path, json_array_size(list));
	int ret = append_value(d, element, f, list, depth);
	field_path_pop(&d->path, mark);
	return ret;
}

/* A map travels as repeated entry messages: the key in field 1, the value in field 2; either
 * may be missing and then is its zero value. */
static int decode_map_entry(struct decoder *d, const struct schema_type *element,
			    const struct wire_field *f, json_t *map, unsigned depth)
{
	if (f->type != WIRE_BYTES)
		return wrong_wire_type(d, f, WIRE_BYTES);
	struct wire_field parts[] = {empty_slot(WIRE_BYTES), empty_slot(wire_type_of(element))};
	int ret = read_small_message(d, f, parts, 2, depth);
	_cleanup_json_ json_t *key = NULL;
	if (ret == 0)
		ret = make_string(d, parts[0].data, parts[0].len, &key);
	if (ret < 0)
		return ret;
	size_t mark =
	    field_path_push_name(&d->path, json_string_value(key), json_string_length(key));
	_cleanup_json_ json_t *value = NULL;
	ret = decode_value(d, element, &parts[1], depth, &value);
	field_path_pop(&d->path, mark);
	if (ret < 0 || !value)
		return ret;
	return json_object_set(map, json_string_value(key), value) < 0 ? out_of_memory(d) : 0;
}

/* The list, map or object under `name`, created when missing: a field sent again adds to what
 * came before, as Go's decoder appends to lists, fills maps and merges messages. */
static json_t *member(json_t *object, const char *name, json_type type)
{
	json_t *existing = json_object_get(object, name);
	if (existing)
		return existing;
	json_t *created = type == JSON_ARRAY ? json_array() : json_object();
	return created && json_object_set_new(object, name, created) == 0 ? created : NULL;
}

/* Go sends plain fields always; their zero value means unset, and JSON leaves them out. */
static bool zero_means_unset(const struct schema_field *field, const json_t *value)
{
	if (field->pointer)
		return false;
	switch (field->type->kind) {
	case SCHEMA_STRING:
		return json_string_length(value) == 0;
	case SCHEMA_INTEGER:
		return json_integer_value(value) == 0;
	case SCHEMA_BOOLEAN:
		return json_is_false(value);
	default:
		return false;
	}
}

static int decode_scalar_field(struct decoder *d, const struct schema_field *field,
			       const struct wire_field *f, json_t *object, unsigned depth)
{
	_cleanup_json_ json_t *value = NULL;
	int ret = decode_value(d, field->type, f, depth, &value);
	if (ret < 0)
		return ret;
	/* The last occurrence wins, also when it unsets the field. */
	if (!value || zero_means_unset(field, value)) {
		json_object_del(object, field->name);
		return 0;
	}
	return json_object_set(object, field->name, value) < 0 ? out_of_memory(d) : 0;
}

static int decode_field(struct decoder *d, const struct schema_field *field,
			const struct wire_field *f, json_t *object, unsigned depth)
{
	size_t mark = field_path_push_name(&d->path, field->name, strlen(field->name));
	const struct schema_type *type = field->type;
	json_t *target = NULL;
	int ret;
	switch (type->kind) {
	case SCHEMA_ARRAY:
		target = member(object, field->name, JSON_ARRAY);
		ret = target ? decode_list_item(d, type->element, f, target, depth)
			     : out_of_memory(d);
		break;
	case SCHEMA_MAP:
		target = member(object, field->name, JSON_OBJECT);
		ret = target ? decode_map_entry(d, type->element, f, target, depth)
			     : out_of_memory(d);
		break;
	case SCHEMA_OBJECT:
		if (f->type != WIRE_BYTES) {
			ret = wrong_wire_type(d, f, WIRE_BYTES);
			break;
		}
		target = member(object, field->name, JSON_OBJECT);
		ret = target ? decode_message(d, type, 0, f, target, depth + 1) : out_of_memory(d);
		break;
	default:
		ret = decode_scalar_field(d, field, f, object, depth);
		break;
	}
	field_path_pop(&d->path, mark);
	return ret;
}

/* The field numbered `number` in the message at `embedded` (0: the type's own message). */
static const struct schema_field *field_by_number(const struct schema_type *type, unsigned embedded,
						  unsigned number)
{
	for (size_t i = 0; i < type->field_count; i++)
		if (type->fields[i].pb_number == number && type->fields[i].pb_embedded == embedded)
			return &type->fields[i];
	return NULL;
}

static bool embeds(const struct schema_type *type, unsigned number)
{
	for (size_t i = 0; i < type->field_count; i++)
		if (type->fields[i].pb_embedded == number)
			return true;
	return false;
}

/* Decodes the fields of `message` into `object`. With `embedded` nonzero, the message is the
 * struct Go embeds in that field of `type`, whose fields JSON shows in `object` itself. */
static int decode_message(struct decoder *d, const struct schema_type *type, unsigned embedded,
			  const struct wire_field *message, json_t *object, unsigned depth)
{
	if (depth >= MAX_DEPTH)
		return fail(d, "nested deeper than %d levels", MAX_DEPTH);
	struct reader r = {message->data, message->data + message->len};
	struct wire_field f;
	int ret;
	while ((ret = read_field(d, &r, &f, depth)) > 0) {
		const struct schema_field *field = field_by_number(type, embedded, f.number);
		if (field)
			ret = decode_field(d, field, &f, object, depth);
		else if (!embedded && embeds(type, f.number))
			ret = f.type == WIRE_BYTES
				  ? decode_message(d, type, f.number, &f, object, depth + 1)
				  : wrong_wire_type(d, &f, WIRE_BYTES);
		if (ret < 0)
			return ret;
	}
	return ret;
}

/* --- the envelope -------------------------------------------------------------------------- */

/* runtime.Unknown's fields: typeMeta {apiVersion, kind}, raw, contentEncoding, contentType. */
enum { UNKNOWN_TYPE_META, UNKNOWN_RAW, UNKNOWN_CONTENT_ENCODING, UNKNOWN_CONTENT_TYPE };
enum { TYPE_META_API_VERSION, TYPE_META_KIND };

static bool text_equals(const struct wire_field *f, const char *text)
{
	return f->len == strlen(text) && memcmp(f->data, text, f->len) == 0;
}

/* The raw message must be plain protobuf: Go's serializer never sets the two fields saying
 * otherwise, and nothing here could read another encoding. */
static int check_raw_encoding(struct decoder *d, const struct wire_field *unknown)
{
	const struct wire_field *encoding = &unknown[UNKNOWN_CONTENT_ENCODING];
	const struct wire_field *type = &unknown[UNKNOWN_CONTENT_TYPE];
	if (encoding->len == 0 && (type->len == 0 || text_equals(type, PROTOBUF_CONTENT_TYPE)))
		return 0;
	_cleanup_buf_ struct buf what = {0};
	append_printable(&what, encoding->len ? encoding->data : type->data,
			 encoding->len ? encoding->len : type->len);
	return fail(d, "the object is encoded as \"%s\", not as plain protobuf", what.data);
}

static int decode_envelope(struct decoder *d, const uint8_t *data, size_t len, json_t **object)
{
	struct wire_field body = {.type = WIRE_BYTES, .data = data, .len = len};
	struct wire_field unknown[] = {empty_slot(WIRE_BYTES), empty_slot(WIRE_BYTES),
				       empty_slot(WIRE_BYTES), empty_slot(WIRE_BYTES)};
	struct wire_field type_meta[] = {empty_slot(WIRE_BYTES), empty_slot(WIRE_BYTES)};
	int ret = read_small_message(d, &body, unknown, 4, 0);
	if (ret == 0)
		ret = read_small_message(d, &unknown[UNKNOWN_TYPE_META], type_meta, 2, 1);
	if (ret == 0)
		ret = check_raw_encoding(d, unknown);
	if (ret < 0)
		return ck_error_prefix(d->err, "protobuf envelope");

	const struct wire_field *kind = &type_meta[TYPE_META_KIND];
	const struct wire_field *api_version = &type_meta[TYPE_META_API_VERSION];
	if (kind->len == 0 || api_version->len == 0)
		return ck_error_set(d->err, EINVAL, "protobuf envelope: no %s",
				    kind->len ? "apiVersion" : "kind");
	_cleanup_buf_ struct buf kind_name = {0};
	append_printable(&kind_name, kind->data, kind->len);
	_cleanup_json_ json_t *result = json_object();
	_cleanup_json_ json_t *kind_value = NULL, *api_version_value = NULL;
	if (!result)
		return out_of_memory(d);
	ret = make_string(d, kind->data, kind->len, &kind_value);
	if (ret == 0)
		ret = make_string(d, api_version->data, api_version->len, &api_version_value);
	if (ret < 0)
		return ck_error_prefix(d->err, "protobuf envelope: kind %s", kind_name.data);

	/* A kind has "kind" among its fields; a type such as ObjectMeta is no kind. */
	const struct schema_type *type = schema_lookup(json_string_value(kind_value));
	if (!type || !schema_field(type, "kind"))
		return ck_error_set(d->err, EINVAL, "protobuf: kind %s is not known",
				    kind_name.data);
	if (json_object_set(result, "apiVersion", api_version_value) < 0 ||
	    json_object_set(result, "kind", kind_value) < 0)
		return out_of_memory(d);
	ret = decode_message(d, type, 0, &unknown[UNKNOWN_RAW], result, 1);
	if (ret < 0)
		return ck_error_prefix(d->err, "protobuf %s", kind_name.data);
	*object = steal_ptr(&result);
	return 0;
}

int protobuf_decode(const void *data, size_t len, json_t **object, struct ck_error *err)
{
	*object = NULL;
	struct ck_error unwanted;
	if (!err)
		err = &unwanted;
	int ret = schema_init(err);
	if (ret < 0)
		return ret;
	if (len < sizeof(envelope_magic) || memcmp(data, envelope_magic, sizeof(envelope_magic)))
		return ck_error_set(err, EINVAL,
				    "protobuf: the body does not start with \"k8s\\0\", the "
				    "Kubernetes envelope");
	_cleanup_(decoder_release) struct decoder d = {.err = err};
	return decode_envelope(&d, (const uint8_t *)data + sizeof(envelope_magic),
			       len - sizeof(envelope_magic), object);
}
