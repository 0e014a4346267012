/* Column alignment as Go's text/tabwriter does it (elastic tabstops), which kubectl's tables and
 * describe output are made with: cells end with '\t', a line's last cell is not part of a
 * column, and a column block runs over consecutive lines that have a cell in that column.
 * With `remember_widths` (kubectl's get) columns never shrink between flushes, so rows printed
 * later by a watch stay aligned under the header. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

struct tabwriter {
	int min_width; /* of a column, padding included */
	int padding;   /* spaces added after the widest cell */
	bool remember_widths;
	int *max_widths;
	size_t max_widths_count;
	struct buf pending;
};

/* kubectl get: minimum width 6, padding 3, widths remembered. */
void tabwriter_init_table(struct tabwriter *tw);
/* kubectl describe: no minimum, padding 2. */
void tabwriter_init_describe(struct tabwriter *tw);

void tabwriter_write(struct tabwriter *tw, const char *text);
void tabwriter_printf(struct tabwriter *tw, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Aligns everything written since the last flush and appends it to `out`. */
void tabwriter_flush(struct tabwriter *tw, struct buf *out);
void tabwriter_free(struct tabwriter *tw);
