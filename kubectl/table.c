#include "kubectl/table.h"

#include <ctype.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json_util.h"

void table_printer_init(struct table_printer *p, bool wide, bool with_namespace,
			const char *name_prefix)
{
	*p = (struct table_printer){
	    .wide = wide, .with_namespace = with_namespace, .name_prefix = name_prefix};
	tabwriter_init_table(&p->tabs);
}

void table_printer_free(struct table_printer *p)
{
	tabwriter_free(&p->tabs);
	json_decref(p->columns);
	p->columns = NULL;
}

void append_escaped(struct buf *out, const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\x1b')
			buf_puts(out, "^[");
		else if (text[i] == '\r')
			buf_puts(out, "\\r");
		else
			buf_putc(out, text[i]);
	}
}

static bool column_shown(const struct table_printer *p, const json_t *column)
{
	return p->wide || json_integer_value(json_object_get(column, "priority")) == 0;
}

static void print_header(struct table_printer *p, const json_t *columns)
{
	bool first = true;
	if (p->with_namespace) {
		tabwriter_write(&p->tabs, "NAMESPACE");
		first = false;
	}
	size_t i;
	const json_t *column;
	json_array_foreach (columns, i, column) {
		if (!column_shown(p, column))
			continue;
		if (!first)
			tabwriter_write(&p->tabs, "\t");
		first = false;
		const char *name = json_string_value(json_object_get(column, "name"));
		for (const char *c = name ? name : ""; *c; c++)
			tabwriter_printf(&p->tabs, "%c", toupper((unsigned char)*c));
	}
	tabwriter_write(&p->tabs, "\n");
}

/* A cell as kubectl prints it: strings up to their first line break (then "..."), numbers and
 * booleans as text, nothing for null. */
static void append_cell(struct buf *cell, const json_t *value)
{
	if (json_is_string(value)) {
		const char *text = json_string_value(value);
		size_t len = strcspn(text, "\f\n\r");
		append_escaped(cell, text, len);
		if (text[len])
			buf_puts(cell, "...");
	} else if (value && !json_is_null(value)) {
		_cleanup_free_ char *text = json_dump_compact(value);
		append_escaped(cell, text, strlen(text));
	}
}

static void print_row(struct table_printer *p, const json_t *columns, const json_t *row)
{
	_cleanup_buf_ struct buf line = {0};
	bool first = true;
	if (p->with_namespace) {
		const char *ns =
		    json_path_string(json_object_get(row, "object"), "metadata.namespace");
		append_escaped(&line, ns ? ns : "", ns ? strlen(ns) : 0);
		first = false;
	}
	const json_t *cells = json_object_get(row, "cells");
	for (size_t i = 0; i < json_array_size(cells) && i < json_array_size(columns); i++) {
		const json_t *column = json_array_get(columns, i);
		if (!column_shown(p, column))
			continue;
		if (!first)
			buf_putc(&line, '\t');
		first = false;
		const char *format = json_string_value(json_object_get(column, "format"));
		if (p->name_prefix && format && strcmp(format, "name") == 0)
			buf_printf(&line, "%s/", p->name_prefix);
		/* A tab inside a cell would split it. */
		size_t start = line.len;
		append_cell(&line, json_array_get(cells, i));
		for (size_t c = start; c < line.len; c++)
			if (line.data[c] == '\t')
				line.data[c] = ' ';
	}
	buf_putc(&line, '\n');
	tabwriter_write(&p->tabs, line.data);
	p->rows_printed++;
}

void table_printer_print(struct table_printer *p, const json_t *table, struct buf *out)
{
	const json_t *columns = json_object_get(table, "columnDefinitions");
	const json_t *rows = json_object_get(table, "rows");
	bool has_columns = json_array_size(columns) > 0;
	bool same_columns = !has_columns || (p->columns && json_equal(columns, p->columns));
	if (has_columns && !same_columns) {
		json_decref(p->columns);
		p->columns = json_incref((json_t *)columns);
		p->printed_header = false;
	}
	if (json_array_size(rows) == 0 || !p->columns)
		return;
	if (!p->printed_header)
		print_header(p, p->columns);
	p->printed_header = true;
	size_t i;
	const json_t *row;
	json_array_foreach (rows, i, row)
		print_row(p, p->columns, row);
	tabwriter_flush(&p->tabs, out);
}
