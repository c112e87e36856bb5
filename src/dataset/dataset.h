/*
 * dataset.h: the bitemporal record store behind every data service.
 *
 * Each record is one version of a service's data about one subject (a CPR,
 * CVR or SE number) for one period (an income year, or a settlement period
 * from a first to a last day). A version holds the business fields, its
 * version number (1, 2, ... per subject and period), the moment the platform
 * registered it (ms, UTC) and the delivery that brought it. Versions are
 * never changed or deleted: a correction is a new version, and so is a
 * withdrawal (an annulled assessment): a version marked withdrawn, without
 * business fields, that current reads leave out (the key has no current
 * version until a later delivery) and registration windows show.
 *
 * Two questions are asked of it, and both stream (a cursor hands out one
 * record at a time; nothing is gathered in memory):
 *   - the current version for these subjects (and periods), and
 *   - every version registered in [from, to) for these subjects (or for all).
 *
 * Layout (SQLite; on PostgreSQL the same table is partitioned by HASH of
 * the subject into 16, see migration 2 in store.c):
 *   dataset_record, clustered on (service, subject, period_start, period_end,
 *   version): all versions of one subject sit together, so both questions
 *   for a list of subjects are one index range per subject, and the ingest
 *   question "the current version of this key" is one descent. A second
 *   index (service, registered_ms) answers the registration window when no
 *   subjects are given (batch feeds). Subjects are integers (the digits; the
 *   subject kind fixes the width), services small integers, periods day
 *   numbers: the keys stay short at millions of rows.
 *   The business fields are one blob in the compact encoding of codec.c
 *   (about half the size of the same values as JSON text, no parsing to
 *   read). Its order is the catalogue's order of business fields, so a
 *   catalogue may append fields but never reorder or remove them.
 *
 * Years are stored as periods too (1 January to 31 December), so every
 * service answers the same period filter.
 */
#ifndef DUPLA_DATASET_DATASET_H
#define DUPLA_DATASET_DATASET_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "core/buf.h"
#include "core/error.h"
#include "store/store.h"

#define DATASET_DELIVERY_ID_MAX 128 /* bytes of a delivery id */
#define DATASET_SOURCE_MAX      128 /* bytes of a delivery's source name */
#define DATASET_SHA256_HEX      64
/* Encoded business fields of one record: far above what a catalogue of
 * CATALOG_MAX_FIELDS fields of bounded size can produce. */
#define DATASET_ENCODED_MAX (CATALOG_MAX_FIELDS * (CATALOG_TEXT_FIELD_MAX + 16) + 64)
/* Services with several subject kinds store a record once under each
 * subject it names: the subject's digits plus its kind's place in
 * svc->subjects times this, so a CVR and an SE number with the same digits
 * are different keys. One-kind services have place 0: unchanged keys. */
#define DATASET_SUBJECT_TAG 10000000000LL
/* Filters on business fields in one read, and values per filter. */
#define DATASET_MAX_FILTERS   4
#define DATASET_FILTER_VALUES 64
/* A period filter that lets everything through. */
#define DATASET_DAY_MIN INT32_MIN
#define DATASET_DAY_MAX INT32_MAX

/* Applies the module's schema migrations. Call once at start-up. */
int dataset_migrate(store_t *st, err_t *err);
/* The migrations up to version only (tests of a later migration). */
int dataset_migrate_to(store_t *st, int version, err_t *err);

/* The small integer that stands for a service in the store; created on
 * first use when create is set (inside the caller's transaction), else
 * DUPLA_ENOTFOUND for a service never written. */
int dataset_service_id(store_conn_t *c, const struct catalog_service *svc, bool create, int64_t *id,
                       err_t *err);

/* The key of a record. */
struct dataset_key {
    int64_t subject;      /* the identifier's digits as an integer */
    int32_t period_start; /* days since 1970-01-01 */
    int32_t period_end;   /* inclusive */
};

/* A subject number's text (digits, the kind's width) as an integer. 0, or
 * DUPLA_EINVAL naming param when it is not digits of the right width. */
int dataset_subject_parse(enum catalog_ident kind, str_t s, int64_t *out);
/* The stored key of subject s of kind svc->subjects[index]: its digits,
 * tagged by index (DATASET_SUBJECT_TAG). 0, or DUPLA_EINVAL. */
int dataset_subject_key(const struct catalog_service *svc, size_t index, str_t s, int64_t *out);
/* Writes the subject back as text, zero-padded to the kind's width, into
 * out (at least 11 bytes). */
void dataset_subject_format(enum catalog_ident kind, int64_t subject, char *out, size_t cap);
/* The period of an income year: 1 January to 31 December. */
void dataset_year_period(int year, int32_t *start, int32_t *end);

/* ---- the encoding of the business fields (codec.c) ---- */

/* Encodes values (svc->n_business of them, in the catalogue's business
 * order) into out, replacing its contents. The encoding is canonical: equal
 * values give equal bytes, so comparing versions is comparing bytes. */
int dataset_encode(const struct catalog_service *svc, const struct catalog_value *values,
                   buf_t *out, err_t *err);
/* Decodes enc into values (svc->n_business entries). Text values point into
 * enc (borrowed). Fields the record predates are absent. DUPLA_EINVAL on a
 * corrupt encoding. */
int dataset_decode(const struct catalog_service *svc, str_t enc, struct catalog_value *values,
                   err_t *err);

/* ---- deliveries ---- */

struct dataset_delivery {
    int64_t seq; /* the store's number for it (set by dataset_delivery_begin) */
    char id[DATASET_DELIVERY_ID_MAX + 1];
    char service[CATALOG_NAME_MAX + 1]; /* the service's path */
    char source[DATASET_SOURCE_MAX + 1];
    char content_sha256[DATASET_SHA256_HEX + 1];
    int64_t received_ms;
    bool synthetic;
    int64_t records, new_versions, unchanged, rejected, withdrawn;
};

/* The delivery with this id: 0, or DUPLA_ENOTFOUND. */
int dataset_delivery_find(store_conn_t *c, str_t id, struct dataset_delivery *out, err_t *err);
/* The id of the delivery the store numbers seq, into out (cap bytes, at
 * least DATASET_DELIVERY_ID_MAX + 1): 0, or DUPLA_ENOTFOUND. */
int dataset_delivery_id(store_conn_t *c, int64_t seq, char *out, size_t cap, err_t *err);
/* Records a new delivery (inside the caller's transaction) and sets d->seq. */
int dataset_delivery_begin(store_conn_t *c, const struct catalog_service *svc,
                           struct dataset_delivery *d, err_t *err);
/* Stores the delivery's final counts. */
int dataset_delivery_finish(store_conn_t *c, const struct dataset_delivery *d, err_t *err);

/* ---- writing ---- */

enum dataset_put_outcome {
    DATASET_NEW_VERSION = 1, /* stored as the next version */
    DATASET_UNCHANGED = 2,   /* equal to the current version (or withdrawn already) */
    DATASET_WITHDRAWN = 3,   /* a withdrawal stored as the next version */
    DATASET_NO_RECORD = 4,   /* a withdrawal of a key that has no version: nothing stored */
};

/* Stores fields (an encoding from dataset_encode) as the next version of
 * key, unless they equal the current version's (then nothing is written).
 * Call inside a transaction. *outcome and *version tell what happened. */
int dataset_put(store_conn_t *c, int64_t service_id, const struct dataset_key *key, str_t fields,
                int64_t registered_ms, int64_t delivery_seq, enum dataset_put_outcome *outcome,
                int64_t *version, err_t *err);

/* Many records at once (a delivery): each item's current version is looked
 * up DATASET_PUT_CHUNK at a time, then its fields stored as the next
 * version unless they equal the current ones. Keys must be distinct. Call
 * inside a transaction; on return each item's outcome and version tell
 * what happened. */
#define DATASET_PUT_CHUNK 256
struct dataset_put_item {
    struct dataset_key key;
    str_t fields; /* in: an encoding from dataset_encode */
    /* in: withdraw the key's current version instead (fields: only what
     * identifies the record, the subject fields of a service with several
     * subject kinds, else an encoding of no values) */
    bool withdraw;
    enum dataset_put_outcome outcome; /* out */
    int64_t version;                  /* out: the key's version after the call */
    bool was_withdrawn;               /* out: the version before was a withdrawal */
};
int dataset_put_many(store_conn_t *c, int64_t service_id, struct dataset_put_item *items, size_t n,
                     int64_t registered_ms, int64_t delivery_seq, err_t *err);

/* ---- reading ---- */

enum dataset_mode {
    DATASET_CURRENT = 0, /* the newest version of each subject and period */
    DATASET_WINDOW = 1,  /* every version registered in [registered_from, registered_to) */
};

/* Records whose business field has one of the values: code fields the
 * indexes of codes in the field's table, integer fields integers. */
struct dataset_filter {
    const struct catalog_field *field;
    size_t n;
    int64_t values[DATASET_FILTER_VALUES];
};

struct dataset_query {
    const struct catalog_service *svc;
    enum dataset_mode mode;
    /* Which of svc->subjects the subjects are (0 for one-kind services). */
    size_t subject_index;
    /* Subjects (digits, already checked by the caller); none means every
     * subject, in subject order. Records come subject by subject in the
     * order given, and within a subject by period, then version. */
    const str_t *subjects;
    size_t n_subjects;
    /* Periods that overlap [period_from, period_to] (days, inclusive); use
     * DATASET_DAY_MIN/MAX for no bound. */
    int32_t period_from;
    int32_t period_to;
    /* Income years (year services): only these, when n_years > 0. */
    const int *years;
    size_t n_years;
    /* DATASET_WINDOW only: [registered_from, registered_to) in ms. */
    int64_t registered_from;
    int64_t registered_to;
    /* Filters on the records' business fields: every one must pass. In
     * DATASET_CURRENT mode they test the current version (a key whose
     * current version fails is left out, never answered by an older one). */
    size_t n_filters;
    struct dataset_filter filters[DATASET_MAX_FILTERS];
    /* Valid time (svc->valid_from/to): records in force at some day of
     * [valid_from, valid_to] (days, inclusive), when valid is set. */
    bool valid;
    int32_t valid_from, valid_to;
};

/* One version as read. Pointers are valid until the next cursor call. */
struct dataset_record {
    const struct catalog_service *svc;
    struct dataset_key key;
    int64_t version;
    int64_t registered_ms;
    int64_t delivery_seq;
    bool withdrawn; /* a withdrawal (only in DATASET_WINDOW reads) */
    str_t fields;   /* the encoded business fields */
};

typedef struct dataset_cursor dataset_cursor_t;

/* Opens a cursor over q on connection c (which it uses until closed; q and
 * its arrays must outlive the cursor). The caller owns *out. */
int dataset_cursor_open(store_conn_t *c, const struct dataset_query *q, dataset_cursor_t **out,
                        err_t *err);
/* STORE_ROW with *rec set, STORE_DONE, or a negative error. */
int dataset_cursor_next(dataset_cursor_t *cur, const struct dataset_record **rec, err_t *err);
void dataset_cursor_close(dataset_cursor_t *cur);

/* Appends one record as a JSON object: its fields in catalogue order, the
 * key fields always, the others only where include[field index] is set
 * (include NULL: every field). A withdrawal has its key fields (version
 * and registration time too), only the business fields it holds, and
 * DATASET_WITHDRAWN_MEMBER: true. */
#define DATASET_WITHDRAWN_MEMBER "Tilbagekaldt"
int dataset_record_to_json(const struct dataset_record *r, const bool *include, buf_t *out,
                           err_t *err);

#endif
