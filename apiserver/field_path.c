#include "apiserver/field_path.h"

size_t field_path_push_name(struct buf *path, const char *name, size_t len)
{
	size_t mark = path->len;
	if (mark)
		buf_putc(path, '.');
	buf_append(path, name, len);
	return mark;
}

size_t field_path_push_index(struct buf *path, size_t index)
{
	size_t mark = path->len;
	buf_printf(path, "[%zu]", index);
	return mark;
}

void field_path_pop(struct buf *path, size_t mark)
{
	path->len = mark;
	if (path->data)
		path->data[mark] = '\0';
}

const char *field_path_text(const struct buf *path)
{
	return path->data ? path->data : "";
}
