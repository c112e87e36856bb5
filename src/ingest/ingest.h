/*
 * ingest.h: deliveries from source systems into the dataset store.
 *
 * A delivery is one or more NDJSON sources (files, or a request body) for
 * one service: one JSON object per line, its keys the catalogue's field
 * names (the subject and period keys and the business fields; the version
 * and registration time are set by the platform and refused). Every line is
 * checked against the catalogue; each problem names the source, the line,
 * the field and the reason.
 *
 * Semantics:
 *   - A delivery has an id: the caller's, or by default "sha256:" and the
 *     SHA-256 of the service path and the content, so that sending the same
 *     data again is recognised. A known id changes nothing (the result says
 *     "already delivered" with the first delivery's counts); a known id
 *     with different content is refused (DUPLA_ECONFLICT).
 *   - A record that differs from the current version of its subject and
 *     period becomes the next version; an identical one is counted
 *     unchanged. All versions of one delivery get the same registration time.
 *   - A withdrawal line, {"withdraw": true} with the record's key fields
 *     (subject and period; a service with several subject kinds: the same
 *     subject fields as the record) and no other field, withdraws the key's
 *     current version: stored as the next version, marked withdrawn (see
 *     dataset.h). Withdrawing a withdrawn key is unchanged (idempotent);
 *     withdrawing a key that never had a version is an invalid line.
 *   - All or nothing (default): one transaction; any invalid line and the
 *     store is left as it was (DUPLA_EINVAL, the problems listed). With
 *     skip_invalid, the valid lines go in and each invalid one goes to the
 *     reject callback.
 *   - Environments: a delivery is synthetic when the caller says so
 *     (CLI --synthetic) or when every source starts with the header line
 *     {"delivery": {"synthetic": true}} (which the test data generator
 *     writes). A production deployment refuses synthetic deliveries; a test
 *     deployment refuses deliveries not marked synthetic (DUPLA_EFORBIDDEN).
 *
 * The CLI (dupla ingest) and the HTTP endpoint (POST /ingest/<service>) are
 * both thin wrappers over ingest_delivery(): a file is a source with a path,
 * a request body a source with its bytes in memory.
 */
#ifndef DUPLA_INGEST_INGEST_H
#define DUPLA_INGEST_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "core/config.h"
#include "core/error.h"
#include "dataset/dataset.h"
#include "store/store.h"

#define INGEST_MAX_LINE_BYTES       (64 * 1024) /* one record's line */
#define INGEST_DEFAULT_MAX_RECORDS  5000000     /* records in one delivery */
#define INGEST_DEFAULT_MAX_PROBLEMS 100         /* problems kept and reported */
#define INGEST_MAX_SOURCES          256         /* files in one delivery */
#define INGEST_PROBLEM_FIELD_MAX    CATALOG_NAME_MAX
#define INGEST_PROBLEM_REASON_MAX   ERR_DETAIL_MAX
/* The header line's key (first line of a source; optional). */
#define INGEST_HEADER_KEY "delivery"
/* A line {"withdraw": true, <the record's key fields>} withdraws the
 * key's current version (an annulled assessment): see the semantics above. */
#define INGEST_WITHDRAW_KEY "withdraw"

struct ingest_source {
    const char *name; /* for messages: the file name, or "body" */
    const char *path; /* read this file, or, when NULL, ... */
    str_t data;       /* ... these bytes (borrowed for the call) */
};

/* One problem with one line. */
struct ingest_problem {
    const char *source;                       /* the source's name (borrowed from the sources) */
    long line;                                /* 1-based; 0 for the delivery as a whole */
    char field[INGEST_PROBLEM_FIELD_MAX + 1]; /* "" when about the line */
    char reason[INGEST_PROBLEM_REASON_MAX];
};

struct ingest_progress {
    int64_t records;     /* lines read so far */
    uint64_t bytes_done; /* of bytes_total */
    uint64_t bytes_total;
};

struct ingest_options {
    enum environment environment; /* of the deployment */
    const char *delivery_id;      /* NULL: "sha256:<hex of service path + content>" */
    const char *source;           /* who delivered ("cli", a system's name); NULL: "unknown" */
    bool synthetic;               /* the caller marks the delivery synthetic */
    bool skip_invalid;            /* store the valid lines, reject the others */
    size_t max_records;           /* 0: INGEST_DEFAULT_MAX_RECORDS */
    size_t max_problems;          /* 0: INGEST_DEFAULT_MAX_PROBLEMS */
    int64_t now_ms;               /* registration time; 0: the clock */
    /* Called for every invalid line with skip_invalid (the line's bytes,
     * without its newline, and its first problem). Nonzero stops the
     * delivery with that error (nothing is stored). */
    int (*reject)(void *cls, const struct ingest_problem *p, str_t line);
    void *reject_cls;
    /* Called now and then (every few thousand lines) and at the end. */
    void (*progress)(void *cls, const struct ingest_progress *p);
    void *progress_cls;
};

enum ingest_status {
    INGEST_ACCEPTED = 0, /* every record went in (new versions or unchanged) */
    INGEST_PARTIAL,      /* skip_invalid: the valid records went in, some were rejected */
    INGEST_ALREADY,      /* this delivery id was received before; nothing changed */
    INGEST_REJECTED,     /* invalid lines: nothing stored */
    INGEST_REFUSED,      /* not allowed here (environment), or the id was reused */
};

struct ingest_result {
    enum ingest_status status;
    char delivery_id[DATASET_DELIVERY_ID_MAX + 1];
    bool synthetic;
    int64_t records; /* lines with a record (the header excluded) */
    int64_t new_versions;
    int64_t unchanged;
    int64_t withdrawn; /* withdrawals stored (counted apart from new_versions) */
    int64_t rejected;
    int64_t registered_ms;
    /* The first max_problems problems (owned; ingest_result_free) and how
     * many there were in all. */
    struct ingest_problem *problems;
    size_t n_problems;
    int64_t n_problems_total;
};

/* Runs one delivery of sources for svc into st. Returns 0 when the delivery
 * was accepted (status ACCEPTED, PARTIAL or ALREADY); DUPLA_EINVAL when it
 * was rejected for invalid lines (status REJECTED, problems listed);
 * DUPLA_EFORBIDDEN or DUPLA_ECONFLICT when refused (status REFUSED, err
 * says why); DUPLA_ELIMIT past max_records (nothing stored); or another
 * negative code for I/O or store failures (nothing stored). In every case
 * res is filled as far as the delivery got; free it with
 * ingest_result_free(). */
int ingest_delivery(store_t *st, const struct catalog_service *svc,
                    const struct ingest_source *sources, size_t n_sources,
                    const struct ingest_options *opt, struct ingest_result *res, err_t *err);
void ingest_result_free(struct ingest_result *res);

const char *ingest_status_name(enum ingest_status s);

#endif
