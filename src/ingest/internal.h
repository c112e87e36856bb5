/*
 * internal.h: the ingest module's private parts, shared by its files.
 */
#ifndef DUPLA_INGEST_INTERNAL_H
#define DUPLA_INGEST_INTERNAL_H

#include <stdio.h>

#include "catalog/catalog.h"
#include "core/buf.h"
#include "ingest/ingest.h"

/* reader.c: one source, line by line. */
struct reader {
    const struct ingest_source *src;
    FILE *f;     /* a file source */
    char *chunk; /* its read buffer */
    size_t chunk_len, chunk_pos;
    bool eof;
    const char *mem; /* a memory source */
    size_t mem_len, mem_pos;
    buf_t line;     /* a line that spans chunks */
    long lineno;    /* of the line last returned */
    uint64_t bytes; /* consumed so far */
};

int ingest_reader_open(struct reader *r, const struct ingest_source *src, err_t *err);
/* 1 with *line (valid until the next call; no newline, no CR), 0 at the
 * end, or a negative error. *too_long is set (and *line empty) for a line
 * past INGEST_MAX_LINE_BYTES. */
int ingest_reader_next(struct reader *r, str_t *line, bool *too_long, err_t *err);
void ingest_reader_close(struct reader *r);

/* The SHA-256 (hex) of svc's path and the sources' bytes, and their total
 * size. */
int ingest_hash_sources(const struct catalog_service *svc, const struct ingest_source *src,
                        size_t n, char hex[DATASET_SHA256_HEX + 1], uint64_t *total, err_t *err);

/* flat.c: a record line that is one object of scalar members without
 * escapes, read without jansson (keys and strings point into the line). */
#define INGEST_FLAT_MAX 256 /* members */
struct ingest_flat_member {
    str_t key;
    struct catalog_json v;
};
struct ingest_flat {
    size_t n;
    struct ingest_flat_member m[INGEST_FLAT_MAX];
};
/* True when line is such an object, read exactly as jansson (with
 * JSON_REJECT_DUPLICATES) would read it; false for anything else, which
 * the caller reads with jansson. */
bool ingest_flat_read(str_t line, struct ingest_flat *out);

/* keyset.c: the keys seen in one delivery (duplicate detection). */
struct keyset_entry {
    int64_t subject;
    int32_t period_start, period_end;
    uint32_t line;   /* 0: empty slot */
    uint32_t source; /* index of the source */
};

struct keyset {
    struct keyset_entry *slots;
    size_t cap; /* a power of two */
    size_t n;
};

void ingest_keyset_init(struct keyset *ks);
void ingest_keyset_free(struct keyset *ks);
/* Adds key (first seen at source:line). 0 if new; 1 if it was there, with
 * *prev set to its first occurrence; DUPLA_ENOMEM. */
int ingest_keyset_add(struct keyset *ks, const struct dataset_key *key, uint32_t source,
                      uint32_t line, const struct keyset_entry **prev);

#endif
