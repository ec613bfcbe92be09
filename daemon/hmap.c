/* hmap — see include/engwatch/hmap.h.
 *
 * Entries live in one array in insertion order (key offset into the arena,
 * key length, hash, value); the index is a power-of-two table of entry
 * numbers with linear probing, kept at most half full.
 */
#include "engwatch/hmap.h"

#include <stdlib.h>
#include <string.h>

struct entry {
    size_t koff, klen;
    uint64_t hash;
};

struct ew_hmap {
    size_t val_size;
    struct entry *ent;
    unsigned char *vals;
    size_t n, cap;     /* entries */
    uint32_t *index;   /* entry number + 1; 0 = empty */
    size_t index_size; /* power of two */
    char *arena;
    size_t alen, acap;
};

/* 64-bit FNV-1a with a final avalanche (splitmix64 finaliser).  Its values
 * are stored and shown (comment fingerprints in Redis, alert and incident
 * ids), so it must never change; the tables below use table_hash. */
uint64_t ew_hash64(const void *p, size_t len)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

/* The tables' hash, never stored: word-at-a-time multiply-mix (the
 * construction of wyhash, written here).  Each 8 bytes go through one
 * 64x64->128 multiply whose halves are folded; the last 1..8 bytes are read
 * as two overlapping words.  Keys are short ("0:12345:p678..."): FNV-1a's
 * multiply per byte made hashing a fifth of the daemon's time. */
static inline uint64_t mix(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t table_hash(const void *p, size_t len)
{
    const uint64_t k1 = 0xa0761d6478bd642fULL, k2 = 0xe7037ed1a0b428dbULL,
                   k3 = 0x8ebc6af09c88c6e3ULL;
    const unsigned char *s = p;
    uint64_t h = mix((uint64_t)len ^ k1, k2);
    size_t n = len;
    for (; n > 8; n -= 8, s += 8)
        h = mix(rd64(s) ^ k1, h ^ k2);
    uint64_t t = 0;
    if (n >= 4)
        t = rd32(s) << 32 | rd32(s + n - 4);
    else if (n)
        t = (uint64_t)s[0] << 16 | (uint64_t)s[n >> 1] << 8 | s[n - 1];
    return mix(t ^ k3, h ^ k2);
}

struct ew_hmap *ew_hmap_new(size_t val_size)
{
    struct ew_hmap *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->val_size = val_size ? val_size : 1;
    return m;
}

void ew_hmap_free(struct ew_hmap *m)
{
    if (!m)
        return;
    free(m->ent);
    free(m->vals);
    free(m->index);
    free(m->arena);
    free(m);
}

void ew_hmap_clear(struct ew_hmap *m)
{
    if (m->index && m->n * 8 < m->index_size) {
        /* few entries in a table grown large once: clear just their slots
         * (there are no deletions, so the occupied slots are exactly theirs) */
        size_t mask = m->index_size - 1;
        for (size_t i = 0; i < m->n; i++) {
            size_t j = m->ent[i].hash & mask;
            while (m->index[j] != i + 1)
                j = (j + 1) & mask;
            m->index[j] = 0;
        }
    } else if (m->index) {
        memset(m->index, 0, m->index_size * sizeof *m->index);
    }
    m->n = 0;
    m->alen = 0;
}

size_t ew_hmap_count(const struct ew_hmap *m) { return m->n; }

static int grow_index(struct ew_hmap *m)
{
    size_t size = m->index_size ? m->index_size * 2 : 64;
    uint32_t *idx = calloc(size, sizeof *idx);
    if (!idx)
        return -1;
    for (size_t i = 0; i < m->n; i++) {
        size_t j = m->ent[i].hash & (size - 1);
        while (idx[j])
            j = (j + 1) & (size - 1);
        idx[j] = (uint32_t)(i + 1);
    }
    free(m->index);
    m->index = idx;
    m->index_size = size;
    return 0;
}

static size_t find_slot(const struct ew_hmap *m, const char *key, size_t klen, uint64_t h)
{
    size_t j = h & (m->index_size - 1);
    while (m->index[j]) {
        const struct entry *e = &m->ent[m->index[j] - 1];
        if (e->hash == h && e->klen == klen && memcmp(m->arena + e->koff, key, klen) == 0)
            return j;
        j = (j + 1) & (m->index_size - 1);
    }
    return j;
}

void *ew_hmap_get(const struct ew_hmap *m, const char *key, size_t klen)
{
    if (!m->index_size)
        return NULL;
    size_t j = find_slot(m, key, klen, table_hash(key, klen));
    return m->index[j] ? m->vals + (size_t)(m->index[j] - 1) * m->val_size : NULL;
}

void *ew_hmap_upsert(struct ew_hmap *m, const char *key, size_t klen, int *created)
{
    if ((m->n + 1) * 2 > m->index_size && grow_index(m) < 0)
        return NULL;
    uint64_t h = table_hash(key, klen);
    size_t j = find_slot(m, key, klen, h);
    if (created)
        *created = 0;
    if (m->index[j])
        return m->vals + (size_t)(m->index[j] - 1) * m->val_size;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 32;
        struct entry *e = realloc(m->ent, cap * sizeof *e);
        if (!e)
            return NULL;
        m->ent = e;
        unsigned char *v = realloc(m->vals, cap * m->val_size);
        if (!v)
            return NULL;
        m->vals = v;
        m->cap = cap;
    }
    if (m->alen + klen + 1 > m->acap) {
        size_t acap = m->acap ? m->acap * 2 : 1024;
        while (acap < m->alen + klen + 1)
            acap *= 2;
        char *a = realloc(m->arena, acap);
        if (!a)
            return NULL;
        m->arena = a;
        m->acap = acap;
    }
    memcpy(m->arena + m->alen, key, klen);
    m->arena[m->alen + klen] = '\0';
    m->ent[m->n] = (struct entry){m->alen, klen, h};
    m->alen += klen + 1;
    void *val = m->vals + m->n * m->val_size;
    memset(val, 0, m->val_size);
    m->index[j] = (uint32_t)(m->n + 1);
    m->n++;
    if (created)
        *created = 1;
    return val;
}

void *ew_hmap_at(const struct ew_hmap *m, size_t i, const char **key, size_t *klen)
{
    if (key)
        *key = m->arena + m->ent[i].koff;
    if (klen)
        *klen = m->ent[i].klen;
    return m->vals + i * m->val_size;
}
