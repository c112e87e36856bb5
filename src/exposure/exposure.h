/*
 * exposure.h: the data request path, one generic engine for every service
 * of the catalogue.
 *
 *   GET /<service path>  and  GET /<Danish alias>   (percent-encoded UTF-8)
 *
 * runs, in this order (the first step that refuses answers), in five
 * phases (the first two steps are the HTTP edge's, routes.c; the phases are
 * the functions of the same names in engine.c, one call state and one way
 * out between them):
 *
 * admit: may this caller ask at all?
 *   1. saturation: a planned service window (the operations log's hook),
 *      or too many requests in flight: 503 + Retry-After;
 *   2. the bearer token (token_http_authenticate): 401 + WWW-Authenticate;
 *   3. the protocol headers: X-Request-ID (a UUID), X-Transaktions-ID,
 *      UFST-Adgangsgrundlag (urn:ufst:adgangsgrundlag:aftale:<id>): 400
 *      naming the header;
 *   4. the rate limit of (agreement, system): 429 + Retry-After;
 * decide: what may it have (service, subjects, fields)?
 *   5. the parameters, as the catalogue declares them (exposure_query_parse):
 *      400 naming the parameter;
 *   6. the agreement decision (agreement_decide): 403 (or 400/503) with a
 *      problem type per reason ("agreement-revoked", "field-not-granted"...);
 * census: what does the answer hold?
 *   7. the read, in one read snapshot of the store: a first pass counts the
 *      records and collects the subjects and periods they concern (and keeps
 *      the JSON when the whole answer fits in EXPOSURE_INLINE_MAX bytes);
 * record: the durable disclosure entry
 *   8. the disclosure is handed to the log (audit_submit) and the request
 *      is suspended (its connection leaves the event loop, no thread waits)
 *      until the log's writer has made it durable and resumes it; its
 *      receipt is what the answer phase needs to run;
 * answer: the data
 *   9. the answer {"data":[...]}: the kept bytes, or, for a larger answer, a
 *      second pass over the same snapshot streamed with http_reply_stream.
 * Refusals after step 2 are recorded in the disclosure log too (outcome
 * "refused", the reason as problem type), except 429 and 503: those protect
 * the platform (the log included) and are counted in the metrics instead.
 *
 * Exactly what was sent is what is logged: the same snapshot serves both
 * passes, so the subjects (those with at least one record sent), the periods
 * (distinct, of the records sent), the fields (the keys plus granted ∩ asked)
 * and the record count in the entry are those of the answer.
 *
 * The "exposure" configuration section (every key optional):
 *   max_subjects            subjects per call (EXPOSURE_DEFAULT_MAX_SUBJECTS)
 *   rate_per_second         token bucket refill per (agreement, system)
 *   rate_burst              its size
 *   rate_shared             true: the buckets are shared by every node on
 *                           the store (exposure_limiter_share); default:
 *                           true on PostgreSQL, false on SQLite
 *   max_in_flight           data requests at once before 503
 *   retry_after_seconds     Retry-After of a 503 for saturation
 *   window_margin_seconds   an open registration window ends this long
 *                           before now (see exposure_query_parse)
 *   environment_header      false: do not send X-Dupla-Miljoe
 *   public_url              where clients reach the platform
 *                           ("https://api.example"), for the absolute IRIs
 *                           of the DCAT catalogue; absent: https:// and the
 *                           request's Host
 *   publisher               the data owner's name in the DCAT catalogue
 *                           (EXPOSURE_DEFAULT_PUBLISHER)
 */
#ifndef DUPLA_EXPOSURE_EXPOSURE_H
#define DUPLA_EXPOSURE_EXPOSURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agreement/agreement.h"
#include "audit/audit.h"
#include "catalog/catalog.h"
#include "core/arena.h"
#include "core/config.h"
#include "core/error.h"
#include "core/problem.h"
#include "core/str.h"
#include "dataset/dataset.h"
#include "store/store.h"
#include "token/token.h"

#define EXPOSURE_CONFIG_SECTION "exposure"

/* Defaults of the configuration. */
#define EXPOSURE_DEFAULT_MAX_SUBJECTS  1000
#define EXPOSURE_MAX_SUBJECTS_LIMIT    AUDIT_SUBJECTS_MAX
#define EXPOSURE_DEFAULT_RATE          200 /* calls per second per (agreement, system) */
#define EXPOSURE_DEFAULT_BURST         400
#define EXPOSURE_DEFAULT_MAX_IN_FLIGHT 256
#define EXPOSURE_DEFAULT_RETRY_AFTER_S 2
#define EXPOSURE_DEFAULT_WINDOW_MARGIN 5 /* seconds */
#define EXPOSURE_MAX_WINDOW_MARGIN     86400
#define EXPOSURE_MAX_RATE              1000000
#define EXPOSURE_DEFAULT_PUBLISHER     "Skatteforvaltningen"
#define EXPOSURE_PUBLISHER_MAX         200  /* bytes of the publisher's name */
#define EXPOSURE_RATE_BUCKETS          4096 /* (agreement, system) pairs tracked at once */

/* Limits of one request. */
#define EXPOSURE_MAX_YEARS      50   /* income years in one call */
#define EXPOSURE_MAX_FIELD_ARGS 256  /* names in the fields parameter */
#define EXPOSURE_TXID_MAX       128  /* bytes of X-Transaktions-ID */
#define EXPOSURE_YEAR_MIN       1900 /* income years accepted */
#define EXPOSURE_YEAR_MAX       9999
/* An answer up to this size is built during the counting pass and sent
 * whole (with Content-Length); a larger one is streamed in a second pass. */
#define EXPOSURE_INLINE_MAX (64u * 1024)
/* Bytes handed to the server per stream callback (about). */
#define EXPOSURE_STREAM_CHUNK (64u * 1024)
/* Distinct periods one answer may concern (the log's limit). */
#define EXPOSURE_MAX_PERIODS AUDIT_PERIODS_MAX

/* The protocol's header names. */
#define EXPOSURE_H_REQUEST_ID  "X-Request-ID"
#define EXPOSURE_H_TXID        "X-Transaktions-ID"
#define EXPOSURE_H_AGREEMENT   "UFST-Adgangsgrundlag"
#define EXPOSURE_H_ENVIRONMENT "X-Dupla-Miljoe" /* "test" or "produktion" on every answer */
/* The end of the registration window actually used (UTC timestamp), on
 * answers to a window question: where a batch client resumes next time. */
#define EXPOSURE_H_WINDOW_END "X-Dupla-Registrering-Til"
/* The sequence number of the answer's disclosure log entry, on every data
 * answer: the recipient's handle for its receipt (GET /api/receipts/<seq>). */
#define EXPOSURE_H_DISCLOSURE "X-Dupla-Udlevering"
/* The recipient's own case reference (optional; audit_case_ref_valid):
 * recorded in the disclosure log with the call. */
#define EXPOSURE_H_CASE_REF "X-Dupla-Sagsreference"

/* The refusals the engine itself decides carry their PROBLEM_* slug
 * (core/problem.h: PROBLEM_INVALID_HEADER, PROBLEM_INVALID_PARAMETER, ...,
 * PROBLEM_SATURATED, PROBLEM_SERVICE_WINDOW); the agreement's verdicts
 * agreement_verdict_name's, the token's PROBLEM_TOKEN_*. */

struct exposure_config {
    unsigned max_subjects;
    unsigned rate_per_second;
    unsigned rate_burst;
    unsigned max_in_flight;
    unsigned retry_after_s;
    unsigned window_margin_s;
    bool environment_header;
    int rate_shared;                            /* 1, 0, or -1: as the store's backend says */
    char public_url[CATALOG_DCAT_BASE_MAX + 1]; /* "" when not configured */
    char publisher[EXPOSURE_PUBLISHER_MAX + 1];
};

/* Reads the "exposure" section of cfg (defaults above). */
int exposure_config_read(const struct dupla_config *cfg, struct exposure_config *out, err_t *err);

/* ---- the parameters (query.c) ---- */

/* One query parameter as it arrived (decoded). */
struct exposure_arg {
    str_t name;
    str_t value;
};

/* A request's question, checked against the catalogue. Arrays live in the
 * arena given to exposure_query_parse. */
struct exposure_query {
    const struct catalog_service *svc;
    size_t subject_index; /* the kind asked: svc->subjects[subject_index] */
    str_t *subjects;      /* distinct, in the order asked */
    size_t n_subjects;
    int *years; /* distinct */
    size_t n_years;
    int32_t period_from, period_to; /* DATASET_DAY_MIN / MAX when not given */
    bool window;                    /* a registration window was asked */
    int64_t registered_from, registered_to;
    bool window_end_clamped; /* registered_to was moved back to now - margin */
    str_t *fields;           /* the fields parameter's names (explicit narrowing) */
    size_t n_fields;
    bool fields_given;
    /* code parameters, and year parameters of services whose period is
     * not a year: filters on business fields */
    size_t n_filters;
    struct dataset_filter filters[DATASET_MAX_FILTERS];
    bool valid; /* a valid-time filter was asked: [valid_from, valid_to] (days) */
    int32_t valid_from, valid_to;
};

/*
 * Checks args against svc's parameters and fills *q. Lists are the name
 * repeated; the fields parameter also takes comma-separated names. A
 * service with several subject kinds is asked by exactly one of its subject
 * parameters (none, or two kinds: 400 naming them). Refuses
 * with DUPLA_EINVAL (400), err naming the parameter and problem type one of
 * PROBLEM_*: an unknown or repeated (non-list) parameter, a value that is
 * not of the parameter's type (CPR: 10 digits, a date DDMMYY or its +60
 * substitute; CVR: 8 digits modulus 11; SE: 8 digits; year: yyyy; date:
 * yyyy-mm-dd; timestamp: yyyy-mm-ddTHH:MM:SSZ), a required one missing, a
 * period, window or valid time whose end is before its start, more than
 * max_subjects subjects, an unknown field name, a code not in the code
 * table of the parameter's field.
 *
 * A registration window open at its end (only the "from" given), or ending
 * after now - margin_ms, ends at now - margin_ms: versions registered in the
 * last moments may belong to a delivery still being written, whose versions
 * carry the delivery's start time; a batch client that resumes from the end
 * it was told (EXPOSURE_H_WINDOW_END) then misses none. Everything in *q is
 * allocated from a.
 */
int exposure_query_parse(const struct catalog_service *svc, const struct exposure_arg *args,
                         size_t n_args, unsigned max_subjects, int64_t now_ms, int64_t margin_ms,
                         arena_t *a, struct exposure_query *q, err_t *err);

/* ---- the rate limiter (limit.c) ---- */

typedef struct exposure_limiter exposure_limiter_t;

/* A token bucket per key, refilled at rate per second up to burst. The
 * caller owns *out. */
int exposure_limiter_new(unsigned rate, unsigned burst, exposure_limiter_t **out, err_t *err);
void exposure_limiter_free(exposure_limiter_t *l);
/* Shares the buckets with every process on st (the nodes of a cluster):
 * the tokens are in the store's exposure_rate_budget, and each process draws
 * them in chunks of `chunk` (at least 1), keeping a drawn chunk at most
 * EXPOSURE_RATE_HOLD_MS. The configured rate then holds across all nodes:
 * never more calls than rate and burst allow, and at most nodes x chunk
 * tokens drawn but unused for a moment. If the store cannot be reached the
 * process falls back to its own bucket for that key (per-node limit) and
 * logs it. Call before the first take. */
#define EXPOSURE_RATE_HOLD_MS 1000
int exposure_limiter_share(exposure_limiter_t *l, store_t *st, unsigned chunk, err_t *err);
/* The chunk a shared limiter draws by default: a twentieth of a second's
 * rate, at most an eighth of the burst, at least 1. */
unsigned exposure_rate_chunk(unsigned rate, unsigned burst);
/* The data path's table (schema.c); exposure_new applies it. */
int exposure_migrate(store_t *st, err_t *err);
/* Takes one token for key at now_ms: true if there was one; else false and
 * *retry_after_s (>= 1) says when there will be. Thread-safe. */
bool exposure_limiter_take(exposure_limiter_t *l, str_t key, int64_t now_ms,
                           unsigned *retry_after_s);

/* A bucket's state after a take, as the IETF RateLimit header fields say it
 * (draft-ietf-httpapi-ratelimit-headers, structured fields):
 *   RateLimit-Policy: "agreement";q=<quota>;w=<window>
 *   RateLimit: "agreement";r=<remaining>;t=<reset>
 * quota is the burst, window the seconds an empty bucket takes to fill
 * (burst / rate, rounded up). remaining is the whole tokens left; reset is,
 * while some remain, the seconds until the bucket is full again, and when
 * none remain the seconds until the next (the 429's Retry-After). */
struct exposure_rate {
    bool known; /* a bucket was asked (false before admission) */
    unsigned quota, window_s, remaining, reset_s;
};
/* exposure_limiter_take that also fills *st. */
bool exposure_limiter_take_rate(exposure_limiter_t *l, str_t key, int64_t now_ms,
                                struct exposure_rate *st);
/* exposure_limiter_take_rate with the key's own budget: rate and burst (0
 * each: the limiter's). A bucket holding more than a lowered burst is cut
 * to it. */
bool exposure_limiter_take_budget(exposure_limiter_t *l, str_t key, unsigned rate, unsigned burst,
                                  int64_t now_ms, struct exposure_rate *st);
/* The two header values of st into policy and rate (EXPOSURE_RATE_TEXT). */
#define EXPOSURE_RATE_TEXT 96
void exposure_rate_headers(const struct exposure_rate *st, char policy[EXPOSURE_RATE_TEXT],
                           char rate[EXPOSURE_RATE_TEXT]);

/* ---- the engine ---- */

/* Tells whether a planned service window is on (the operations log's
 * opslog_service_window_now): true, with *retry_after_s, during one. */
typedef bool (*exposure_window_fn)(void *ctx, int64_t now_ms, int64_t *retry_after_s);

/* What the engine uses; every pointer borrowed, and must outlive it. */
struct exposure_deps {
    const catalog_t *catalog;
    store_t *store;
    token_service_t *token;
    agreement_registry_t *agreements;
    audit_log_t *audit;
    enum environment env;
};

typedef struct exposure exposure_t;

int exposure_new(const struct exposure_config *cfg, const struct exposure_deps *deps,
                 exposure_t **out, err_t *err);
void exposure_free(exposure_t *ex);
/* Installs the service-window hook (NULL: none). Call before serving. */
void exposure_set_window_hook(exposure_t *ex, exposure_window_fn fn, void *ctx);

/* Counters since start (metrics, tests). */
struct exposure_stats {
    uint64_t answered;  /* 200 answers */
    uint64_t records;   /* records sent */
    uint64_t refused;   /* 4xx answers */
    uint64_t saturated; /* 503 answers */
    uint64_t in_flight; /* now */
};
void exposure_stats_get(exposure_t *ex, struct exposure_stats *out);

#endif
