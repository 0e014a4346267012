/* Prints the meta.k8s.io/v1 Tables the server renders for `get`, laid out like kubectl: the
 * columns of priority 0 (and 1 with -o wide), upper-case headers, a NAMESPACE column first with
 * -A, "kind/" before names when several types are listed. Watch events carry one-row Tables
 * without column definitions: the header is printed once and the widths only grow. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "kubectl/tabwriter.h"
#include "lib/buf.h"

struct table_printer {
	bool wide;
	bool with_namespace;
	const char *name_prefix; /* "pod" gives "pod/nginx"; NULL for plain names */
	struct tabwriter tabs;
	json_t *columns; /* the last column definitions seen */
	bool printed_header;
	size_t rows_printed;
};

void table_printer_init(struct table_printer *p, bool wide, bool with_namespace,
			const char *name_prefix);
/* Appends the table's rows (and the header when it is new) to `out`. */
void table_printer_print(struct table_printer *p, const json_t *table, struct buf *out);
void table_printer_free(struct table_printer *p);

/* Terminal control characters in server-provided text are shown, not obeyed. */
void append_escaped(struct buf *out, const char *text, size_t len);
