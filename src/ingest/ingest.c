/*
 * ingest.c: one delivery, from sources to versions in the store.
 *
 * Order of work, so that a refused delivery costs nothing and a rejected
 * one leaves nothing behind:
 *   1. hash the content (the default delivery id) and read each source's
 *      first line for the synthetic header; refuse by environment;
 *   2. in one transaction: a known id ends here (already delivered, or a
 *      conflict); else record the delivery and check, encode and store line
 *      by line (after the first invalid line in all-or-nothing mode, lines
 *      are still checked, to report them, but no longer written);
 *   3. commit, or roll back when a line was invalid and skip_invalid is off.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/problem.h"
#include "events/events.h"
#include "ingest/internal.h"

#define INGEST_PROGRESS_EVERY 4096
#define INGEST_YEAR_MIN       1900
#define INGEST_YEAR_MAX       9999
/* A record number (period kind "number") is stored as the period: an int32. */
#define INGEST_NUMBER_MAX 2000000000
/* The page cache of the connection that writes a delivery (KiB), and the
 * SQLite default it returns to. */
#define INGEST_SQLITE_CACHE_PRAGMA "PRAGMA cache_size = -262144"
#define INGEST_SQLITE_CACHE_RESET  "PRAGMA cache_size = -2000"
/* Valid records are stored in runs of up to this many (or this many bytes
 * of encodings), each sorted by key first: the record tree is then walked
 * once a run, in order, instead of at a random place for each record. */
#define INGEST_SORT_RUN   65536
#define INGEST_SORT_BYTES (32 * 1024 * 1024)

const char *ingest_status_name(enum ingest_status s)
{
    switch (s) {
    case INGEST_ACCEPTED:
        return "accepted";
    case INGEST_PARTIAL:
        return "partial";
    case INGEST_ALREADY:
        return "already-delivered";
    case INGEST_REJECTED:
        return "rejected";
    case INGEST_REFUSED:
        return "refused";
    }
    return "?";
}

void ingest_result_free(struct ingest_result *res)
{
    free(res->problems);
    res->problems = NULL;
    res->n_problems = 0;
}

/* The state of one delivery. */
struct run {
    const struct catalog_service *svc;
    const struct ingest_options *opt;
    struct ingest_result *res;
    size_t max_problems;
    size_t max_records;
    store_conn_t *conn;
    int64_t service_id;
    struct dataset_delivery delivery;
    struct keyset keys;
    buf_t enc;
    /* valid records waiting to be stored, DATASET_PUT_CHUNK at a time: their
     * keys, and their encodings one after another in `pending` (offsets in
     * pending_at until the flush, as the buffer may move while it grows) */
    struct dataset_put_item batch[DATASET_PUT_CHUNK];
    struct events_change change[DATASET_PUT_CHUNK]; /* the batch's changes, for events_record */
    size_t pending_at[DATASET_PUT_CHUNK];
    bool pending_counted[DATASET_PUT_CHUNK]; /* a record's first key: counts it */
    long pending_line[DATASET_PUT_CHUNK];    /* where each came from, for problems */
    const struct ingest_source *pending_src[DATASET_PUT_CHUNK];
    size_t n_pending;
    buf_t pending;
    bool writing;    /* false once a line was invalid (all-or-nothing) */
    bool no_memory;  /* a record could not be encoded for want of memory */
    int64_t changes; /* recorded for the event lists */
    /* the line being checked */
    const struct ingest_source *src;
    long line;
    bool line_bad;
    struct ingest_problem first; /* the line's first problem (for the reject file) */
    struct ingest_flat *rec;     /* the line's members (flat.c, or jansson's) */
    /* the run of valid records waiting to be sorted (INGEST_SORT_RUN) */
    struct sort_item *sort;
    size_t n_sort;
    buf_t sort_enc;
};

/* A valid record (or withdrawal) in the run, under one of its keys. */
struct sort_item {
    struct dataset_key key;
    size_t at, len; /* its encoding in run.sort_enc */
    long line;
    const struct ingest_source *src;
    size_t order; /* in the run: equal keys keep their order */
    bool counted, withdraw;
};

static void problem(struct run *r, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records a problem with the current line (or, with line 0, the delivery). */
static void problem(struct run *r, const char *field, const char *fmt, ...)
{
    struct ingest_problem p = {.source = r->src ? r->src->name : "", .line = r->line};
    snprintf(p.field, sizeof p.field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p.reason, sizeof p.reason, fmt, ap);
    va_end(ap);
    if (!r->line_bad)
        r->first = p;
    r->line_bad = true;
    r->res->n_problems_total++;
    if (r->res->n_problems < r->max_problems) {
        if (!r->res->problems) {
            r->res->problems = calloc(r->max_problems, sizeof *r->res->problems);
            if (!r->res->problems)
                return;
        }
        r->res->problems[r->res->n_problems++] = p;
    }
}

static bool is_platform(const struct catalog_field *f)
{
    return f->role == CATALOG_ROLE_VERSION || f->role == CATALOG_ROLE_REGISTERED;
}

/* A header line: an object whose only key is "delivery". Sets *synthetic. */
static bool parse_header(str_t line, bool *synthetic)
{
    *synthetic = false;
    str_t t = str_trim(line);
    if (t.len < 12 || t.ptr[0] != '{')
        return false;
    json_t *j = json_parse(t.ptr, t.len, JSON_REJECT_DUPLICATES, NULL, NULL);
    if (!j)
        return false;
    json_t *d = json_object_get(j, INGEST_HEADER_KEY);
    bool ok = json_is_object(j) && json_object_size(j) == 1 && json_is_object(d);
    if (ok)
        *synthetic = json_is_true(json_object_get(d, "synthetic"));
    json_decref(j);
    return ok;
}

/* Reads each source's first non-empty line: how many carry a header saying
 * synthetic. */
static int scan_headers(const struct ingest_source *src, size_t n, size_t *n_synthetic, err_t *err)
{
    *n_synthetic = 0;
    for (size_t i = 0; i < n; i++) {
        struct reader rd;
        int rc = ingest_reader_open(&rd, &src[i], err);
        if (rc)
            return rc;
        str_t line;
        bool too_long, syn = false;
        rc = ingest_reader_next(&rd, &line, &too_long, err);
        if (rc == 1 && !too_long && parse_header(line, &syn) && syn)
            (*n_synthetic)++;
        ingest_reader_close(&rd);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A business field that names one of the record's subjects (services with
 * several subject kinds): a withdrawal names it like a delivery. */
static bool is_subject_field(const struct catalog_service *svc, const struct catalog_field *f)
{
    for (size_t j = 0; svc->subjects_in_record && j < svc->n_subjects; j++)
        if (svc->subjects[j].field == f)
            return true;
    return false;
}

/* Checks one record's members (rec, in their order in the line); on
 * success fills the encoding and the keys it is stored under (*n_keys:
 * one, or one per subject it names when the service has several subject
 * kinds). A withdrawal (withdraw set) has the same keys and no other
 * business field. */
static void check_record(struct run *r, const struct ingest_flat *rec, bool withdraw,
                         struct dataset_key *keys_out, size_t *n_keys)
{
    struct dataset_key one = {0}, *key = &one;
    *n_keys = 0;
    const struct catalog_service *svc = r->svc;
    short at[CATALOG_MAX_FIELDS]; /* each field's member, or -1 */
    for (size_t i = 0; i < svc->n_fields; i++)
        at[i] = -1;
    for (size_t m = 0; m < rec->n; m++) {
        str_t k = rec->m[m].key;
        if (str_eq_cstr(k, INGEST_WITHDRAW_KEY))
            continue; /* checked by the caller */
        long i = catalog_field_index(svc, k);
        if (i >= 0)
            at[i] = (short)m;
        if (i < 0 || is_platform(&svc->fields[i])) {
            char name[sizeof r->first.field];
            snprintf(name, sizeof name, "%.*s", (int)k.len, k.ptr);
            if (i < 0)
                problem(r, name, "unknown field (not in the %s catalogue)", svc->path);
            else
                problem(r, name, "is set by the platform; leave it out");
        }
    }
    static const struct catalog_json absent = {.kind = CATALOG_JSON_ABSENT};
    struct catalog_value values[CATALOG_MAX_FIELDS];
    struct catalog_value keys[4] = {{0}};
    bool keys_ok = true; /* the key fields' values are there and well-formed */
    for (size_t i = 0; i < svc->n_fields; i++) {
        const struct catalog_field *f = &svc->fields[i];
        if (is_platform(f))
            continue;
        struct catalog_value val;
        const struct catalog_json *j = at[i] >= 0 ? &rec->m[at[i]].v : &absent;
        if (withdraw && f->role == CATALOG_ROLE_BUSINESS && !is_subject_field(svc, f)) {
            values[f->business_index] = (struct catalog_value){0};
            if (at[i] >= 0)
                problem(r, f->name, "a withdrawal names only the record's key; leave it out");
            continue;
        }
        err_t err; /* filled only on error */
        if (catalog_value_from_scalar(f, j, &val, &err)) {
            problem(r, f->name, "%s", err.detail);
            keys_ok = keys_ok && !catalog_field_is_key(f);
            continue;
        }
        if (!val.present && f->required) {
            problem(r, f->name, "is required");
            keys_ok = keys_ok && !catalog_field_is_key(f);
            continue;
        }
        switch (f->role) {
        case CATALOG_ROLE_SUBJECT:
            keys[0] = val;
            break;
        case CATALOG_ROLE_YEAR:
            keys[1] = val;
            break;
        case CATALOG_ROLE_PERIOD_START:
            keys[2] = val;
            break;
        case CATALOG_ROLE_PERIOD_END:
            keys[3] = val;
            break;
        case CATALOG_ROLE_NUMBER:
            keys[1] = val;
            break;
        default:
            values[f->business_index] = val;
        }
    }
    if (!keys_ok)
        return;
    if (!svc->subjects_in_record &&
        dataset_subject_parse(svc->subject_kind, keys[0].s, &key->subject)) {
        problem(r, svc->subject->name, "is not a %s number", catalog_ident_name(svc->subject_kind));
        return;
    }
    if (svc->period_kind == CATALOG_PERIOD_NUMBER) {
        if (keys[1].i < 0 || keys[1].i > INGEST_NUMBER_MAX) {
            problem(r, svc->number->name, "must be a number from 0 to %d", INGEST_NUMBER_MAX);
            return;
        }
        key->period_start = key->period_end = (int32_t)keys[1].i;
    } else if (svc->period_kind == CATALOG_PERIOD_YEAR) {
        if (keys[1].i < INGEST_YEAR_MIN || keys[1].i > INGEST_YEAR_MAX) {
            problem(r, svc->year->name, "must be an income year from %d to %d", INGEST_YEAR_MIN,
                    INGEST_YEAR_MAX);
            return;
        }
        dataset_year_period((int)keys[1].i, &key->period_start, &key->period_end);
    } else {
        key->period_start = (int32_t)keys[2].i;
        key->period_end = (int32_t)keys[3].i;
        if (key->period_end < key->period_start) {
            problem(r, svc->period_end->name, "the period ends before it starts (%s)",
                    svc->period_start->name);
            return;
        }
    }
    if (r->line_bad)
        return;
    if (!svc->subjects_in_record) {
        keys_out[(*n_keys)++] = *key;
    } else {
        /* stored under each subject the record names; it must name one */
        for (size_t j = 0; j < svc->n_subjects; j++) {
            const struct catalog_value *sv = &values[svc->subjects[j].field->business_index];
            if (!sv->present)
                continue;
            keys_out[*n_keys] = *key;
            if (dataset_subject_key(svc, j, sv->s, &keys_out[*n_keys].subject)) {
                problem(r, svc->subjects[j].field->name, "is not a %s number",
                        catalog_ident_name(svc->subjects[j].kind));
                return;
            }
            (*n_keys)++;
        }
        if (*n_keys == 0) {
            problem(r, svc->subject->name, "a record names at least one of its subjects (%s%s%s)",
                    svc->subjects[0].field->name, svc->n_subjects > 1 ? ", " : "",
                    svc->n_subjects > 1 ? svc->subjects[1].field->name : "");
            return;
        }
    }
    err_t err;
    int rc = dataset_encode(svc, values, &r->enc, &err);
    if (rc == DUPLA_ENOMEM)
        r->no_memory = true; /* the server's fault, not the line's: do_line ends the delivery */
    else if (rc)
        problem(r, "", "the record is too large to store");
}

/* The change a stored version makes, for the event lists (events.h): in
 * the delivery's transaction, so a delivery that fails leaves none. A
 * record of a service with several subject kinds is one change per
 * subject it names (its keys). */
static void record_change(struct run *r, const struct dataset_put_item *it,
                          struct events_change *ch)
{
    const struct catalog_service *svc = r->svc;
    *ch = (struct events_change){.period_start = it->key.period_start,
                                 .period_end = it->key.period_end,
                                 .version = it->version,
                                 .registered_ms = r->res->registered_ms};
    size_t index = (size_t)(it->key.subject / DATASET_SUBJECT_TAG);
    ch->subject.kind = index < svc->n_subjects ? svc->subjects[index].kind : svc->subject_kind;
    ch->subject.number = it->key.subject % DATASET_SUBJECT_TAG;
    ch->kind = it->outcome == DATASET_WITHDRAWN        ? EVENTS_WITHDRAWN
               : it->version == 1 || it->was_withdrawn ? EVENTS_NEW
                                                       : EVENTS_CHANGED;
    snprintf(ch->service, sizeof ch->service, "%s", svc->path);
    r->changes++;
}

/* Stores the queued records: one current-version question per chunk. */
static int flush_records(struct run *r, err_t *err)
{
    if (r->n_pending == 0)
        return 0;
    str_t all = buf_str(&r->pending);
    for (size_t i = 0; i < r->n_pending; i++) {
        size_t end = i + 1 < r->n_pending ? r->pending_at[i + 1] : all.len;
        r->batch[i].fields = (str_t){all.ptr + r->pending_at[i], end - r->pending_at[i]};
    }
    size_t n_changes = 0;
    int rc = dataset_put_many(r->conn, r->service_id, r->batch, r->n_pending, r->res->registered_ms,
                              r->delivery.seq, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < r->n_pending; i++) {
        if (r->batch[i].outcome == DATASET_NO_RECORD) {
            /* found only now, by the current-version question: the line
             * is invalid after all (counted once, by its first key) */
            const struct ingest_source *src = r->src;
            long line = r->line;
            r->src = r->pending_src[i];
            r->line = r->pending_line[i];
            r->line_bad = false;
            problem(r, r->svc->subject->name,
                    "a withdrawal of a record that has no current version (nothing to withdraw)");
            r->src = src;
            r->line = line;
            if (r->pending_counted[i]) {
                r->res->rejected++;
                if (!r->opt->skip_invalid)
                    r->writing = false;
                else if (r->opt->reject &&
                         (rc = r->opt->reject(r->opt->reject_cls, &r->first, STR_NULL)))
                    return err_set(err, rc < 0 ? rc : DUPLA_EIO,
                                   "%s:%ld: the rejected line could not be recorded",
                                   r->pending_src[i]->name, r->pending_line[i]);
            }
            continue;
        }
        if (r->batch[i].outcome == DATASET_NEW_VERSION || r->batch[i].outcome == DATASET_WITHDRAWN)
            record_change(r, &r->batch[i], &r->change[n_changes++]);
        if (!r->pending_counted[i])
            continue;
        if (r->batch[i].outcome == DATASET_NEW_VERSION)
            r->res->new_versions++;
        else if (r->batch[i].outcome == DATASET_WITHDRAWN)
            r->res->withdrawn++;
        else
            r->res->unchanged++;
    }
    if ((rc = events_record(r->conn, r->change, n_changes, err)))
        return rc;
    r->n_pending = 0;
    buf_reset(&r->pending);
    return 0;
}

/* Queues a run's record for storing, DATASET_PUT_CHUNK at a time. */
static int queue_chunk(struct run *r, const struct sort_item *it, err_t *err)
{
    r->pending_at[r->n_pending] = buf_str(&r->pending).len;
    if (buf_append(&r->pending, r->sort_enc.data + it->at, it->len))
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    r->pending_counted[r->n_pending] = it->counted;
    r->pending_line[r->n_pending] = it->line;
    r->pending_src[r->n_pending] = it->src;
    r->batch[r->n_pending++] = (struct dataset_put_item){.key = it->key, .withdraw = it->withdraw};
    return r->n_pending == DATASET_PUT_CHUNK ? flush_records(r, err) : 0;
}

static int by_key(const void *pa, const void *pb)
{
    const struct sort_item *a = pa, *b = pb;
    if (a->key.subject != b->key.subject)
        return a->key.subject < b->key.subject ? -1 : 1;
    if (a->key.period_start != b->key.period_start)
        return a->key.period_start < b->key.period_start ? -1 : 1;
    if (a->key.period_end != b->key.period_end)
        return a->key.period_end < b->key.period_end ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* Stores the run: sorted by key, then in chunks. */
static int flush_run(struct run *r, err_t *err)
{
    if (r->n_sort)
        qsort(r->sort, r->n_sort, sizeof *r->sort, by_key);
    int rc = 0;
    for (size_t i = 0; i < r->n_sort && !rc; i++)
        rc = queue_chunk(r, &r->sort[i], err);
    if (!rc)
        rc = flush_records(r, err);
    r->n_sort = 0;
    buf_reset(&r->sort_enc);
    return rc;
}

/* Queues a valid record (or withdrawal) under one of its keys (the
 * encoding in r->enc) for storing; `counted`: the record's first key,
 * which counts it. */
static int queue_record(struct run *r, const struct dataset_key *key, bool counted, bool withdraw,
                        err_t *err)
{
    if (!r->sort && !(r->sort = malloc(INGEST_SORT_RUN * sizeof *r->sort)))
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    str_t enc = buf_str(&r->enc);
    struct sort_item *it = &r->sort[r->n_sort];
    *it = (struct sort_item){.key = *key,
                             .at = r->sort_enc.len,
                             .len = enc.len,
                             .line = r->line,
                             .src = r->src,
                             .order = r->n_sort,
                             .counted = counted,
                             .withdraw = withdraw};
    if (buf_append(&r->sort_enc, enc.ptr, enc.len))
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    r->n_sort++;
    return r->n_sort == INGEST_SORT_RUN || r->sort_enc.len >= INGEST_SORT_BYTES ? flush_run(r, err)
                                                                                : 0;
}

/* A JSON object's members, in order, as the flat reader gives them (the
 * text borrowed from obj); false when there are more than it holds. */
static bool members_of(json_t *obj, struct ingest_flat *rec)
{
    rec->n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        if (rec->n == INGEST_FLAT_MAX)
            return false;
        rec->m[rec->n].key = str_from_cstr(k);
        catalog_json_of(v, &rec->m[rec->n].v);
        rec->n++;
    }
    return true;
}

static const struct catalog_json *member(const struct ingest_flat *rec, const char *name)
{
    for (size_t i = 0; i < rec->n; i++)
        if (str_eq_cstr(rec->m[i].key, name))
            return &rec->m[i].v;
    return NULL;
}

/* One line: checked, then stored when the delivery is still being written.
 * Returns 0, or a negative error that ends the delivery. */
static int do_line(struct run *r, size_t src_index, str_t line, bool too_long, err_t *err)
{
    r->line_bad = false;
    if (too_long) {
        r->res->records++;
        problem(r, "", "the line is longer than %d bytes", INGEST_MAX_LINE_BYTES);
    } else {
        /* the common line without jansson (flat.c); any other with it, and
         * then the record's members point into its tree until the end */
        json_error_t jerr;
        bool oom = false, flat = ingest_flat_read(line, r->rec);
        json_t *obj =
            flat ? NULL : json_parse(line.ptr, line.len, JSON_REJECT_DUPLICATES, &jerr, &oom);
        if (!flat && !obj && oom)
            return err_internal(err, DUPLA_ENOMEM, "ingest: out of memory reading a line");
        r->res->records++;
        struct dataset_key keys[CATALOG_MAX_SUBJECTS];
        size_t n_keys = 0;
        bool withdraw = false;
        if (!flat && !obj) {
            problem(r, "", "malformed JSON at column %d: %s", jerr.column, jerr.text);
        } else if (!flat && !json_is_object(obj)) {
            problem(r, "", "a record is a JSON object");
        } else if (!flat && !members_of(obj, r->rec)) {
            problem(r, "", "a record has more than %d fields", INGEST_FLAT_MAX);
        } else {
            const struct catalog_json *w = member(r->rec, INGEST_WITHDRAW_KEY);
            withdraw = w != NULL;
            if (w && !(w->kind == CATALOG_JSON_BOOLEAN && w->i == 1))
                problem(r, INGEST_WITHDRAW_KEY, "is true (a withdrawal) or left out");
            check_record(r, r->rec, withdraw, keys, &n_keys);
            if (r->no_memory) {
                json_decref(obj);
                return err_internal(err, DUPLA_ENOMEM, "ingest: out of memory encoding a record");
            }
            for (size_t k = 0; !r->line_bad && k < n_keys; k++) {
                const struct keyset_entry *prev;
                int dup = ingest_keyset_add(&r->keys, &keys[k], (uint32_t)src_index,
                                            (uint32_t)r->line, &prev);
                if (dup < 0) {
                    json_decref(obj);
                    return err_set(err, DUPLA_ENOMEM, "out of memory");
                }
                if (dup == 1)
                    problem(r, r->svc->subject->name,
                            "the same subject and period as line %u of this delivery's source %u",
                            prev->line, prev->source + 1);
            }
        }
        if (!r->line_bad && r->writing) {
            /* one record, stored under each of its keys: counted once, by
             * its first key */
            for (size_t k = 0; k < n_keys; k++) {
                int rc = queue_record(r, &keys[k], k == 0, withdraw, err);
                if (rc) {
                    json_decref(obj);
                    return rc;
                }
            }
        }
        json_decref(obj);
    }
    if (r->line_bad) {
        r->res->rejected++;
        if (!r->opt->skip_invalid) {
            r->writing = false;
        } else if (r->opt->reject) {
            int rc = r->opt->reject(r->opt->reject_cls, &r->first, too_long ? STR_NULL : line);
            if (rc)
                return err_set(err, rc < 0 ? rc : DUPLA_EIO,
                               "%s:%ld: the rejected line could not be recorded", r->src->name,
                               r->line);
        }
    }
    return 0;
}

static bool blank(str_t s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] != ' ' && s.ptr[i] != '\t')
            return false;
    return true;
}

/* Step 2 and 3: inside the transaction. */
static int run_lines(struct run *r, const struct ingest_source *src, size_t n, uint64_t total,
                     err_t *err)
{
    struct ingest_progress prog = {.bytes_total = total};
    uint64_t bytes_before = 0;
    for (size_t i = 0; i < n; i++) {
        struct reader rd;
        int rc = ingest_reader_open(&rd, &src[i], err);
        if (rc)
            return rc;
        r->src = &src[i];
        str_t line;
        bool too_long;
        while ((rc = ingest_reader_next(&rd, &line, &too_long, err)) == 1) {
            r->line = rd.lineno;
            bool syn;
            if (!too_long && blank(line))
                continue;
            if (rd.lineno == 1 && !too_long && parse_header(line, &syn))
                continue;
            if ((size_t)r->res->records >= r->max_records) {
                r->line = 0;
                rc = err_set(err, DUPLA_ELIMIT,
                             "%s: more than %zu records in one delivery; split it", src[i].name,
                             r->max_records);
                break;
            }
            if ((rc = do_line(r, i, line, too_long, err)))
                break;
            if (r->opt->progress && r->res->records % INGEST_PROGRESS_EVERY == 0) {
                prog.records = r->res->records;
                prog.bytes_done = bytes_before + rd.bytes;
                r->opt->progress(r->opt->progress_cls, &prog);
            }
        }
        bytes_before += rd.bytes;
        ingest_reader_close(&rd);
        if (rc < 0)
            return rc;
    }
    /* queued records are stored (and checked: a withdrawal of nothing is
     * found only there) even after a later line was invalid; the
     * transaction is rolled back then anyway */
    if (r->writing || r->n_sort) {
        int rc = flush_run(r, err);
        if (rc)
            return rc;
    }
    if (r->opt->progress) {
        prog.records = r->res->records;
        prog.bytes_done = total;
        r->opt->progress(r->opt->progress_cls, &prog);
    }
    return 0;
}

int ingest_delivery(store_t *st, const struct catalog_service *svc,
                    const struct ingest_source *sources, size_t n_sources,
                    const struct ingest_options *opt, struct ingest_result *res, err_t *err)
{
    memset(res, 0, sizeof *res);
    res->status = INGEST_REJECTED;
    if (n_sources == 0 || n_sources > INGEST_MAX_SOURCES)
        return err_set(err, DUPLA_EINVAL, "a delivery has 1 to %d sources", INGEST_MAX_SOURCES);
    if (opt->delivery_id &&
        (strlen(opt->delivery_id) == 0 || strlen(opt->delivery_id) > DATASET_DELIVERY_ID_MAX))
        return err_param(err, DUPLA_EINVAL, "delivery-id", "a delivery id has 1 to %d bytes",
                         DATASET_DELIVERY_ID_MAX);

    /* 1. content hash and the synthetic marking */
    char sha[DATASET_SHA256_HEX + 1];
    uint64_t total;
    int rc = ingest_hash_sources(svc, sources, n_sources, sha, &total, err);
    if (rc)
        return rc;
    if (opt->delivery_id)
        snprintf(res->delivery_id, sizeof res->delivery_id, "%s", opt->delivery_id);
    else
        snprintf(res->delivery_id, sizeof res->delivery_id, "sha256:%s", sha);
    size_t n_syn;
    if ((rc = scan_headers(sources, n_sources, &n_syn, err)))
        return rc;
    if (!opt->synthetic && n_syn > 0 && n_syn < n_sources) {
        res->status = INGEST_REFUSED;
        return err_set(err, DUPLA_EFORBIDDEN,
                       "%zu of the %zu sources are marked synthetic and the others not: a "
                       "delivery is synthetic as a whole",
                       n_syn, n_sources);
    }
    res->synthetic = opt->synthetic || n_syn == n_sources;
    if (opt->environment == ENV_PRODUCTION && res->synthetic) {
        res->status = INGEST_REFUSED;
        return err_set(err, DUPLA_EFORBIDDEN,
                       "this is a production deployment: it refuses synthetic (test) data");
    }
    if (opt->environment == ENV_TEST && !res->synthetic) {
        res->status = INGEST_REFUSED;
        return err_set(err, DUPLA_EFORBIDDEN,
                       "this is a test deployment: it takes only data marked synthetic (a "
                       "{\"%s\":{\"synthetic\":true}} first line, or --synthetic)",
                       INGEST_HEADER_KEY);
    }

    /* the change log the delivery writes to (events.h) */
    if ((rc = events_migrate(st, err)))
        return rc;

    /* 2. the transaction */
    struct run r = {.svc = svc,
                    .opt = opt,
                    .res = res,
                    .max_problems =
                        opt->max_problems ? opt->max_problems : INGEST_DEFAULT_MAX_PROBLEMS,
                    .max_records = opt->max_records ? opt->max_records : INGEST_DEFAULT_MAX_RECORDS,
                    .writing = true};
    bool big_cache = false;
    ingest_keyset_init(&r.keys);
    if (!(r.rec = malloc(sizeof *r.rec))) {
        rc = err_set(err, DUPLA_ENOMEM, "out of memory");
        goto out;
    }
    buf_init(&r.enc, DATASET_ENCODED_MAX);
    buf_init(&r.pending, (size_t)DATASET_ENCODED_MAX * DATASET_PUT_CHUNK);
    buf_init(&r.sort_enc, (size_t)INGEST_SORT_BYTES + DATASET_ENCODED_MAX);
    res->registered_ms = opt->now_ms ? opt->now_ms : clock_now_ms();
    if ((rc = store_conn_get(st, &r.conn, err)))
        goto out;
    /* A large delivery inserts all over the record tree: give this
     * connection a page cache that holds the tree's upper levels and the
     * delivery's dirty pages, instead of SQLite's default of 2 MB. */
    big_cache = strcmp(store_backend(st), "sqlite") == 0;
    if (big_cache && (rc = store_exec(r.conn, INGEST_SQLITE_CACHE_PRAGMA, err)))
        goto out;
    /* Each record's insert goes out without waiting (PostgreSQL: pipeline
     * mode, so DATASET_PUT_CHUNK records cost one round trip, their
     * current-version lookup); any failure fails the whole delivery anyway. */
    if ((rc = store_begin(r.conn, err)) || (rc = store_pipeline_begin(r.conn, err)) ||
        (rc = events_lock(r.conn, err)))
        goto out;
    struct dataset_delivery old;
    rc = dataset_delivery_find(r.conn, str_from_cstr(res->delivery_id), &old, err);
    if (rc == 0) {
        if (strcmp(old.content_sha256, sha) != 0) {
            res->status = INGEST_REFUSED;
            rc = err_refuse(err, DUPLA_ECONFLICT, PROBLEM_DELIVERY_ID_REUSED, "delivery-id",
                            "delivery %s was received before with other content; a delivery id "
                            "is used once",
                            res->delivery_id);
            goto out;
        }
        res->status = INGEST_ALREADY;
        res->synthetic = old.synthetic;
        res->records = old.records;
        res->new_versions = old.new_versions;
        res->unchanged = old.unchanged;
        res->rejected = old.rejected;
        res->withdrawn = old.withdrawn;
        res->registered_ms = old.received_ms;
        goto out;
    }
    if (rc != DUPLA_ENOTFOUND)
        goto out;
    err_clear(err);
    struct dataset_delivery *d = &r.delivery;
    snprintf(d->id, sizeof d->id, "%s", res->delivery_id);
    snprintf(d->source, sizeof d->source, "%s", opt->source ? opt->source : "unknown");
    memcpy(d->content_sha256, sha, sizeof d->content_sha256);
    d->received_ms = res->registered_ms;
    d->synthetic = res->synthetic;
    if ((rc = dataset_delivery_begin(r.conn, svc, d, err)) ||
        (rc = dataset_service_id(r.conn, svc, false, &r.service_id, err)))
        goto out;
    if ((rc = run_lines(&r, sources, n_sources, total, err)))
        goto out;

    /* 3. commit or roll back */
    if (res->rejected > 0 && !opt->skip_invalid) {
        res->status = INGEST_REJECTED;
        res->new_versions = res->unchanged = res->withdrawn = 0;
        rc = err_set(err, DUPLA_EINVAL, "%lld of %lld records are invalid; nothing was stored",
                     (long long)res->rejected, (long long)res->records);
        goto out;
    }
    d->records = res->records;
    d->new_versions = res->new_versions;
    d->unchanged = res->unchanged;
    d->rejected = res->rejected;
    d->withdrawn = res->withdrawn;
    if ((rc = dataset_delivery_finish(r.conn, d, err)) || (rc = store_commit(r.conn, err)) ||
        (rc = store_pipeline_end(r.conn, err)))
        goto out;
    res->status = res->rejected ? INGEST_PARTIAL : INGEST_ACCEPTED;
    if (r.changes > 0)
        events_notify(); /* long-polls waiting for events look again */
    log_json(LOG_INFO, "delivery stored",
             json_pack("{s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I}", "delivery", d->id,
                       "service", svc->path, "source", d->source, "synthetic", d->synthetic,
                       "records", (json_int_t)d->records, "new_versions",
                       (json_int_t)d->new_versions, "unchanged", (json_int_t)d->unchanged,
                       "withdrawn", (json_int_t)d->withdrawn, "rejected", (json_int_t)d->rejected));
out:
    if (r.conn) {
        if (store_in_transaction(r.conn))
            store_rollback(r.conn);
        if (big_cache)
            store_exec(r.conn, INGEST_SQLITE_CACHE_RESET, NULL);
        store_conn_put(r.conn);
    }
    if (rc && rc != DUPLA_EINVAL && res->status != INGEST_REFUSED) {
        /* nothing was stored */
        res->new_versions = res->unchanged = res->withdrawn = 0;
        if (res->status != INGEST_ALREADY)
            res->status = INGEST_REJECTED;
    }
    ingest_keyset_free(&r.keys);
    free(r.rec);
    free(r.sort);
    buf_free(&r.sort_enc);
    buf_free(&r.enc);
    buf_free(&r.pending);
    return rc;
}
