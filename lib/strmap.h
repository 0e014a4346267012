/* A hash map from strings to pointers, for in-memory indexes (caches of pods, nodes, ...).
 * Keys are copied; values are owned by the map when a free function is given. Not
 * thread-safe: callers lock around it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct strmap;

struct strmap *strmap_new(void (*free_value)(void *value));
void strmap_free(struct strmap *map);
/* For _cleanup_(strmap_freep): frees the map (NULL is fine). */
static inline void strmap_freep(struct strmap **map)
{
	if (*map)
		strmap_free(*map);
}
void *strmap_get(const struct strmap *map, const char *key);
/* Sets key to value, freeing a value it replaces. Aborts when out of memory. */
void strmap_put(struct strmap *map, const char *key, void *value);
/* Removes key (freeing its value); false when it was not there. */
bool strmap_remove(struct strmap *map, const char *key);
/* Removes key and hands its value to the caller (not freed); NULL when it was not there. */
void *strmap_take(struct strmap *map, const char *key);
size_t strmap_size(const struct strmap *map);

/* Iteration in no particular order; the map must not change meanwhile. */
struct strmap_iter {
	size_t bucket;
	void *entry;
};
bool strmap_next(const struct strmap *map, struct strmap_iter *iter, const char **key,
		 void **value);

#define STRMAP_FOREACH(map, iter, key, value) \
	for (struct strmap_iter iter = {0}; strmap_next((map), &iter, &(key), (void **)&(value));)
