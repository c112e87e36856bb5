/*
 * keyset.c: an open-addressing hash set of (subject, period) keys, to find
 * two records for the same key inside one delivery without asking the
 * store. 24 bytes a slot, at most half full: about 50 MB for a delivery of
 * a million records.
 */
#include <stdlib.h>
#include <string.h>

#include "ingest/internal.h"

#define KEYSET_INITIAL 1024

void ingest_keyset_init(struct keyset *ks)
{
    memset(ks, 0, sizeof *ks);
}

void ingest_keyset_free(struct keyset *ks)
{
    free(ks->slots);
    memset(ks, 0, sizeof *ks);
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t key_hash(const struct dataset_key *k)
{
    return mix((uint64_t)k->subject ^
               mix(((uint64_t)(uint32_t)k->period_start << 32) | (uint32_t)k->period_end));
}

static struct keyset_entry *find_slot(struct keyset_entry *slots, size_t cap,
                                      const struct dataset_key *k)
{
    size_t i = key_hash(k) & (cap - 1);
    for (;;) {
        struct keyset_entry *e = &slots[i];
        if (e->line == 0 || (e->subject == k->subject && e->period_start == k->period_start &&
                             e->period_end == k->period_end))
            return e;
        i = (i + 1) & (cap - 1);
    }
}

static int grow(struct keyset *ks)
{
    size_t cap = ks->cap ? ks->cap * 2 : KEYSET_INITIAL;
    struct keyset_entry *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return DUPLA_ENOMEM;
    for (size_t i = 0; i < ks->cap; i++) {
        struct keyset_entry *e = &ks->slots[i];
        if (e->line) {
            struct dataset_key k = {e->subject, e->period_start, e->period_end};
            *find_slot(slots, cap, &k) = *e;
        }
    }
    free(ks->slots);
    ks->slots = slots;
    ks->cap = cap;
    return 0;
}

int ingest_keyset_add(struct keyset *ks, const struct dataset_key *key, uint32_t source,
                      uint32_t line, const struct keyset_entry **prev)
{
    if ((ks->n + 1) * 2 > ks->cap && grow(ks))
        return DUPLA_ENOMEM;
    struct keyset_entry *e = find_slot(ks->slots, ks->cap, key);
    if (e->line) {
        *prev = e;
        return 1;
    }
    *e = (struct keyset_entry){key->subject, key->period_start, key->period_end, line, source};
    ks->n++;
    return 0;
}
