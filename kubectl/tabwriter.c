#include "kubectl/tabwriter.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"

struct cell {
	const char *text;
	size_t size;
	int width; /* in code points */
};

struct line {
	struct cell *cells;
	size_t count;
};

struct layout {
	struct tabwriter *tw;
	struct line *lines;
	size_t line_count;
	int *widths; /* of the columns being formatted, left to right */
	size_t depth;
	struct buf *out;
};

static void *grow(void *array, size_t count, size_t size)
{
	void *grown = realloc(array, (count + 1) * size);
	if (!grown)
		abort();
	return grown;
}

void tabwriter_init_table(struct tabwriter *tw)
{
	*tw = (struct tabwriter){.min_width = 6, .padding = 3, .remember_widths = true};
}

void tabwriter_init_describe(struct tabwriter *tw)
{
	*tw = (struct tabwriter){.min_width = 0, .padding = 2};
}

void tabwriter_write(struct tabwriter *tw, const char *text)
{
	buf_puts(&tw->pending, text);
}

void tabwriter_printf(struct tabwriter *tw, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&tw->pending, fmt, ap);
	va_end(ap);
}

static int utf8_width(const char *text, size_t size)
{
	int width = 0;
	for (size_t i = 0; i < size; i++)
		if (((unsigned char)text[i] & 0xc0) != 0x80)
			width++;
	return width;
}

/* Splits the pending text into lines of cells; the text after the last newline becomes a last
 * line that is printed without one. */
static void split(struct layout *l, const char *text, size_t size)
{
	struct line current = {0};
	const char *cell_start = text;
	for (const char *p = text;; p++) {
		bool at_end = p == text + size;
		if (!at_end && *p != '\t' && *p != '\n')
			continue;
		current.cells = grow(current.cells, current.count, sizeof(struct cell));
		current.cells[current.count++] =
		    (struct cell){cell_start, (size_t)(p - cell_start),
				  utf8_width(cell_start, (size_t)(p - cell_start))};
		cell_start = p + 1;
		if (at_end || *p == '\n') {
			l->lines = grow(l->lines, l->line_count, sizeof(struct line));
			l->lines[l->line_count++] = current;
			current = (struct line){0};
		}
		if (at_end)
			return;
	}
}

static void write_lines(struct layout *l, size_t line0, size_t line1)
{
	for (size_t i = line0; i < line1; i++) {
		const struct line *line = &l->lines[i];
		for (size_t j = 0; j < line->count; j++) {
			const struct cell *c = &line->cells[j];
			buf_append(l->out, c->text, c->size);
			if (j < l->depth)
				for (int pad = c->width; pad < l->widths[j]; pad++)
					buf_putc(l->out, ' ');
		}
		if (i + 1 < l->line_count)
			buf_putc(l->out, '\n');
	}
}

static bool has_column(const struct line *line, size_t column)
{
	return column + 1 < line->count;
}

/* Keeps the widest width ever seen for this column, and uses it. */
static int remembered_width(struct layout *l, int width)
{
	struct tabwriter *tw = l->tw;
	while (tw->max_widths_count < l->depth) {
		tw->max_widths = grow(tw->max_widths, tw->max_widths_count, sizeof(int));
		tw->max_widths[tw->max_widths_count] = l->widths[tw->max_widths_count];
		tw->max_widths_count++;
	}
	if (tw->max_widths_count == l->depth) {
		tw->max_widths = grow(tw->max_widths, tw->max_widths_count, sizeof(int));
		tw->max_widths[tw->max_widths_count++] = width;
	} else if (tw->max_widths[l->depth] > width) {
		width = tw->max_widths[l->depth];
	} else {
		tw->max_widths[l->depth] = width;
	}
	return width;
}

static void format(struct layout *l, size_t line0, size_t line1)
{
	size_t column = l->depth;
	for (size_t this = line0; this < line1; this ++) {
		if (!has_column(&l->lines[this], column))
			continue;
		write_lines(l, line0, this);
		line0 = this;
		int width = l->tw->min_width;
		for (; this < line1 && has_column(&l->lines[this], column); this ++) {
			int cell_width = l->lines[this].cells[column].width + l->tw->padding;
			if (cell_width > width)
				width = cell_width;
		}
		if (l->tw->remember_widths)
			width = remembered_width(l, width);
		l->widths = grow(l->widths, l->depth, sizeof(int));
		l->widths[l->depth++] = width;
		format(l, line0, this);
		l->depth--;
		line0 = this;
		if (this == line1)
			break;
	}
	write_lines(l, line0, line1);
}

void tabwriter_flush(struct tabwriter *tw, struct buf *out)
{
	if (tw->pending.len == 0)
		return;
	struct layout l = {.tw = tw, .out = out};
	split(&l, tw->pending.data, tw->pending.len);
	format(&l, 0, l.line_count);
	for (size_t i = 0; i < l.line_count; i++)
		free(l.lines[i].cells);
	free(l.lines);
	free(l.widths);
	buf_reset(&tw->pending);
}

void tabwriter_free(struct tabwriter *tw)
{
	free(tw->max_widths);
	tw->max_widths = NULL;
	tw->max_widths_count = 0;
	buf_free(&tw->pending);
}
