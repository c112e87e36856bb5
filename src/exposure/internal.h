/*
 * internal.h: the module's private header: the engine's object
 * (exposure.c), its call interface between engine.c (no HTTP) and routes.c
 * (the HTTP edge) and the unit tests, and the streamed answer (stream.c).
 *
 * routes.c reads the request (headers, query, the verified token) into a
 * struct exposure_call, starts it (exposure_call_begin), suspends the
 * request while the log makes its entry durable, then asks
 * exposure_call_finish for the answer and turns it into one http_reply_*:
 * the inline body, the stream, or the problem in err.
 */
#ifndef DUPLA_EXPOSURE_INTERNAL_H
#define DUPLA_EXPOSURE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/buf.h"
#include "dataset/dataset.h"
#include "exposure/exposure.h"
#include "http/http.h"

struct dataset_query;

/* A route's context: the engine and the service it answers for. */
struct exposure_route {
    struct exposure *ex;
    const struct catalog_service *svc;
};

/* Delivery ids by their sequence number, for the log entry of a call
 * (engine.c): a delivery's id never changes and a delivery is never
 * removed, so a hit needs no statement. Direct-mapped; a miss reads the
 * store and takes the slot. */
#define EXPOSURE_DELIVERY_CACHE 64
struct exposure_delivery_cache {
    pthread_mutex_t mu;
    struct {
        int64_t seq; /* 0: empty */
        char id[DATASET_DELIVERY_ID_MAX + 1];
    } slot[EXPOSURE_DELIVERY_CACHE];
};

struct exposure {
    struct exposure_config cfg;
    struct exposure_delivery_cache deliveries;
    struct exposure_route routes[CATALOG_MAX_SERVICES];
    char *openapi;      /* GET /openapi.json, made once (routes.c) */
    char *catalog_json; /* GET /servicekatalog.json */
    char *catalog_html; /* GET /servicekatalog */
    struct exposure_deps deps;
    exposure_limiter_t *limiter;
    exposure_window_fn window_fn;
    void *window_ctx;
    atomic_uint_fast64_t in_flight;
    atomic_uint_fast64_t answered;
    atomic_uint_fast64_t records;
    atomic_uint_fast64_t refused;
    atomic_uint_fast64_t saturated;
};

/* One call, as routes.c read it. Strings borrowed for the call. */
struct exposure_call {
    const struct catalog_service *svc;
    const struct token_principal *principal;
    str_t server_request_id; /* the id the server answers with (logged) */
    bool has_request_id;     /* the X-Request-ID header as sent */
    str_t request_id;
    bool has_txid;
    str_t txid;
    bool has_agreement;
    str_t agreement;
    bool has_case_ref; /* X-Dupla-Sagsreference, optional */
    str_t case_ref;
    const struct exposure_arg *args;
    size_t n_args;
    int64_t now_ms;
    arena_t *arena; /* the request's */
};

typedef struct exposure_stream exposure_stream_t;

struct exposure_answer {
    unsigned retry_after_s;    /* 429 / 503: the Retry-After to send (0: none) */
    str_t body;                /* 200 inline: the whole answer (in the call's arena) */
    exposure_stream_t *stream; /* 200 streamed: owned by the caller (exposure_stream_free) */
    char window_end[32];       /* a window question: its end as used, else "" */
    int64_t records;
    int64_t audit_seq;         /* the disclosure log entry */
    struct exposure_rate rate; /* the agreement's budget once admitted (the RateLimit fields) */
};

/* Counts a 503 and sets err to it (problem type, detail): DUPLA_EBUSY. */
int exposure_busy(exposure_t *ex, err_t *err, const char *type, const char *detail);
/* The 503 for a disclosure the log could not take (DUPLA_EBUSY from
 * audit_record): the store's own reason when its disk is full or it refuses
 * writes (store-full, store-read-only: nothing was recorded), else
 * saturated. */
int exposure_log_busy(exposure_t *ex, err_t *err);

/* Admission before anything else: the service window hook, then the
 * in-flight limit. 0 (then exposure_leave, or the stream's free, must
 * follow), or DUPLA_EBUSY with err a 503 and *retry_after_s set. */
int exposure_enter(exposure_t *ex, int64_t now_ms, unsigned *retry_after_s, err_t *err);
void exposure_leave(exposure_t *ex);

/* Step 3: the protocol headers of call (request id, transaction id, the
 * agreement's URN), the agreement id into *agreement_id; 400 naming the
 * header (engine.c; the event lists use it too). */
int exposure_check_headers(const struct exposure_call *call, str_t *agreement_id, err_t *err);

/* A supplier's token for its certificate alone (p->any_org): binds it to
 * the recipient of agreement_id, whose registration of the certificate must
 * be usable (403 with the registry's reason, naming UFST-Adgangsgrundlag,
 * when not). An unknown agreement, or a recipient that has not registered
 * the certificate, leaves p unbound: the agreement decision then refuses
 * it as agreement-not-found. */
int exposure_bind_supplier(exposure_t *ex, struct token_principal *p, str_t agreement_id,
                           int64_t now_ms, err_t *err);

/* events.c: GET /Haendelser, /Haendelser/start and the subscription
 * (/Haendelser/abonnement) on srv. */
int exposure_events_register(http_server_t *srv, exposure_t *ex, const char *listener, err_t *err);
/* Adds the event lists' paths to an OpenAPI document from catalog_openapi. */
int exposure_events_openapi(json_t *doc);

/* A call waiting for its disclosure entry (exposure_call_begin). */
typedef struct exposure_pending exposure_pending_t;
/* Wakes the caller of exposure_call_begin: runs on the log's writer
 * thread, must not block (http_wait_wake). */
typedef void (*exposure_wake_fn)(void *ctx);

/* Runs steps 3-8 of exposure.h (the phases admit, decide, census, and
 * record's hand-over) for an authenticated call, without waiting for the
 * log: 0 and *pending when an entry (the disclosure's, or a refusal's) was
 * handed to the log; wake(wake_ctx) then runs exactly once, from the log's
 * writer, when it is durable or its batch failed, and exposure_call_finish
 * makes the answer. Otherwise *pending is NULL and the result is the call's
 * (a negative code with err the problem to send, ans->retry_after_s for
 * 429/503). call, what it points to, and ans must live in call->arena (the
 * log reads them until the wake). */
int exposure_call_begin(exposure_t *ex, const struct exposure_call *call, exposure_wake_fn wake,
                        void *wake_ctx, struct exposure_answer *ans, exposure_pending_t **pending,
                        err_t *err);
/* After the wake (or abandoned: the server is stopping and the wake has not
 * come; a 503, no data): step 9, the answer, only with the durable entry's
 * receipt. 0 with *ans filled (body or stream), or a negative code with err
 * the problem to send. A stream carries the admission: exposure_stream_free
 * leaves; otherwise the caller calls exposure_leave. */
int exposure_call_finish(exposure_pending_t *pending, bool abandoned, struct exposure_answer *ans,
                         err_t *err);

/* Both, sleeping on the log between them (the unit tests, callers
 * without an event loop): 0 with *ans filled, or the problem in err. */
int exposure_call(exposure_t *ex, const struct exposure_call *call, struct exposure_answer *ans,
                  err_t *err);

/* Opens the second pass of an answer too large to keep, over q (copied)
 * on conn, whose read snapshot the census counted; expected is the record
 * count the log holds, include the fields sent. On success *out owns conn
 * (and its snapshot) and the call's admission; on failure conn stays the
 * caller's. */
int exposure_stream_open(exposure_t *ex, store_conn_t *conn, const struct dataset_query *q,
                         const bool *include, int64_t expected, str_t request_id,
                         exposure_stream_t **out, err_t *err);

/* Appends the next part of a streamed answer to out: 1 more follows, 0
 * ended, < 0 failed (abort the connection: the client sees a truncated
 * answer, never a wrong one). */
int exposure_stream_next(exposure_stream_t *st, buf_t *out);
void exposure_stream_free(exposure_stream_t *st);

/* The environment's name as sent in EXPOSURE_H_ENVIRONMENT. */
const char *exposure_environment_word(enum environment env);

#endif
