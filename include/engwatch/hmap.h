/* hmap — a string-keyed open-addressing hash map for per-batch folding.
 *
 * Keys are copied into an arena owned by the map; values are a fixed-size
 * slot of val_size bytes (zeroed on insert).  ew_hmap_clear keeps all memory
 * for the next batch, so a steady state allocates nothing.  Iteration order
 * is insertion order (deterministic output for replay).
 */
#ifndef ENGWATCH_HMAP_H
#define ENGWATCH_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct ew_hmap;

struct ew_hmap *ew_hmap_new(size_t val_size);
void ew_hmap_free(struct ew_hmap *m); /* accepts NULL */
void ew_hmap_clear(struct ew_hmap *m);
size_t ew_hmap_count(const struct ew_hmap *m);

/* The value slot for key, inserting a zeroed one when absent (*created = 1).
 * NULL on allocation failure.  The pointer is valid until the next insert. */
void *ew_hmap_upsert(struct ew_hmap *m, const char *key, size_t klen, int *created);
/* The value slot for key, or NULL. */
void *ew_hmap_get(const struct ew_hmap *m, const char *key, size_t klen);

/* Entry i in insertion order (0 <= i < count): key (NUL-terminated, borrowed)
 * and value slot. */
void *ew_hmap_at(const struct ew_hmap *m, size_t i, const char **key, size_t *klen);

/* FNV-1a + avalanche, seedless.  Stored and shown (fingerprints, alert and incident ids):
 * its values must never change. */
uint64_t ew_hash64(const void *p, size_t len);

#endif
