#include "lib/strmap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	struct entry *next;
	void *value;
	uint64_t hash;
	char key[];
};

struct strmap {
	struct entry **buckets;
	size_t bucket_count;
	size_t size;
	void (*free_value)(void *value);
};

static void *checked(void *p)
{
	if (!p) {
		fprintf(stderr, "out of memory in a hash map\n");
		abort();
	}
	return p;
}

static uint64_t hash_of(const char *key)
{
	uint64_t hash = 0xcbf29ce484222325ull;
	for (; *key; key++)
		hash = (hash ^ (unsigned char)*key) * 0x100000001b3ull;
	return hash;
}

struct strmap *strmap_new(void (*free_value)(void *value))
{
	struct strmap *map = checked(calloc(1, sizeof(*map)));
	map->bucket_count = 16;
	map->buckets = checked(calloc(map->bucket_count, sizeof(*map->buckets)));
	map->free_value = free_value;
	return map;
}

void strmap_free(struct strmap *map)
{
	if (!map)
		return;
	for (size_t i = 0; i < map->bucket_count; i++) {
		for (struct entry *e = map->buckets[i], *next; e; e = next) {
			next = e->next;
			if (map->free_value)
				map->free_value(e->value);
			free(e);
		}
	}
	free(map->buckets);
	free(map);
}

static struct entry **slot_of(const struct strmap *map, const char *key, uint64_t hash)
{
	struct entry **slot = &map->buckets[hash % map->bucket_count];
	while (*slot && ((*slot)->hash != hash || strcmp((*slot)->key, key) != 0))
		slot = &(*slot)->next;
	return slot;
}

void *strmap_get(const struct strmap *map, const char *key)
{
	struct entry *e = *slot_of(map, key, hash_of(key));
	return e ? e->value : NULL;
}

static void grow(struct strmap *map)
{
	size_t count = map->bucket_count * 2;
	struct entry **buckets = checked(calloc(count, sizeof(*buckets)));
	for (size_t i = 0; i < map->bucket_count; i++) {
		for (struct entry *e = map->buckets[i], *next; e; e = next) {
			next = e->next;
			e->next = buckets[e->hash % count];
			buckets[e->hash % count] = e;
		}
	}
	free(map->buckets);
	map->buckets = buckets;
	map->bucket_count = count;
}

void strmap_put(struct strmap *map, const char *key, void *value)
{
	uint64_t hash = hash_of(key);
	struct entry **slot = slot_of(map, key, hash);
	if (*slot) {
		if (map->free_value && (*slot)->value != value)
			map->free_value((*slot)->value);
		(*slot)->value = value;
		return;
	}
	size_t len = strlen(key);
	struct entry *e = checked(malloc(sizeof(*e) + len + 1));
	memcpy(e->key, key, len + 1);
	e->hash = hash;
	e->value = value;
	e->next = NULL;
	*slot = e;
	if (++map->size > map->bucket_count * 3 / 4)
		grow(map);
}

void *strmap_take(struct strmap *map, const char *key)
{
	struct entry **slot = slot_of(map, key, hash_of(key));
	struct entry *e = *slot;
	if (!e)
		return NULL;
	*slot = e->next;
	void *value = e->value;
	free(e);
	map->size--;
	return value;
}

bool strmap_remove(struct strmap *map, const char *key)
{
	struct entry **slot = slot_of(map, key, hash_of(key));
	if (!*slot)
		return false;
	void *value = strmap_take(map, key);
	if (map->free_value)
		map->free_value(value);
	return true;
}

size_t strmap_size(const struct strmap *map)
{
	return map->size;
}

bool strmap_next(const struct strmap *map, struct strmap_iter *iter, const char **key, void **value)
{
	struct entry *e = iter->entry ? ((struct entry *)iter->entry)->next : NULL;
	while (!e && iter->bucket < map->bucket_count)
		e = map->buckets[iter->bucket++];
	iter->entry = e;
	if (!e)
		return false;
	*key = e->key;
	*value = e->value;
	return true;
}
