/*
 * stream.c: the second pass of an answer too large to keep in memory
 * (engine.c's answer phase opens it once the disclosure is durable).
 *
 * The stream reads the same read snapshot the census counted, so it can
 * only send what was recorded; it checks that anyway, and ends the
 * connection (a truncated answer, never a wrong one) if the two passes
 * disagree. It owns its copy of the question (the request's arena may be
 * gone before the last chunk), the store connection with its snapshot, and
 * the call's admission: exposure_stream_free gives all three back.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/uuid.h"
#include "dataset/dataset.h"
#include "exposure/internal.h"

struct exposure_stream {
    exposure_t *ex;
    store_conn_t *conn;
    dataset_cursor_t *cur;
    struct dataset_query q; /* arrays below, owned */
    str_t *subjects;
    char *subject_bytes;
    int *years;
    bool include[CATALOG_MAX_FIELDS];
    int64_t expected; /* the records recorded in the log */
    int64_t sent;
    int state; /* 0: not begun, 1: records, 2: ended */
    char request_id[UUID_STR_LEN + 1];
};

/* Frees st's own copies (not the connection, not the admission). */
static void stream_discard(exposure_stream_t *st)
{
    free(st->subjects);
    free(st->subject_bytes);
    free(st->years);
    free(st);
}

void exposure_stream_free(exposure_stream_t *st)
{
    if (!st)
        return;
    dataset_cursor_close(st->cur);
    if (st->conn) {
        store_end_read(st->conn);
        store_conn_put(st->conn);
    }
    exposure_leave(st->ex);
    stream_discard(st);
}

/* Copies q's arrays into st so that the stream does not depend on the
 * request's arena. */
static int stream_adopt_query(exposure_stream_t *st, const struct dataset_query *q)
{
    st->q = *q;
    size_t bytes = 0;
    for (size_t i = 0; i < q->n_subjects; i++)
        bytes += q->subjects[i].len;
    if (q->n_subjects) {
        st->subjects = calloc(q->n_subjects, sizeof *st->subjects);
        st->subject_bytes = malloc(bytes ? bytes : 1);
        if (!st->subjects || !st->subject_bytes)
            return DUPLA_ENOMEM;
        char *p = st->subject_bytes;
        for (size_t i = 0; i < q->n_subjects; i++) {
            memcpy(p, q->subjects[i].ptr, q->subjects[i].len);
            st->subjects[i] = (str_t){p, q->subjects[i].len};
            p += q->subjects[i].len;
        }
    }
    if (q->n_years) {
        if (!(st->years = calloc(q->n_years, sizeof *st->years)))
            return DUPLA_ENOMEM;
        memcpy(st->years, q->years, q->n_years * sizeof *st->years);
    }
    st->q.subjects = st->subjects;
    st->q.years = st->years;
    return 0;
}

int exposure_stream_open(exposure_t *ex, store_conn_t *conn, const struct dataset_query *q,
                         const bool *include, int64_t expected, str_t request_id,
                         exposure_stream_t **out, err_t *err)
{
    *out = NULL;
    exposure_stream_t *st = calloc(1, sizeof *st);
    if (!st || stream_adopt_query(st, q) != 0) {
        if (st)
            stream_discard(st);
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    }
    st->ex = ex;
    memcpy(st->include, include, sizeof st->include);
    st->expected = expected;
    str_copy(str_sub(request_id, 0, UUID_STR_LEN), st->request_id, sizeof st->request_id);
    int rc = dataset_cursor_open(conn, &st->q, &st->cur, err);
    if (rc != 0) {
        stream_discard(st);
        return rc;
    }
    st->conn = conn;
    *out = st;
    return 0;
}

int exposure_stream_next(exposure_stream_t *st, buf_t *out)
{
    err_t err;
    err_clear(&err);
    if (st->state == 2)
        return 0;
    if (st->state == 0) {
        if (buf_append_cstr(out, "{\"data\":[") != 0)
            return -1;
        st->state = 1;
    }
    while (out->len < EXPOSURE_STREAM_CHUNK) {
        const struct dataset_record *rec;
        int rc = dataset_cursor_next(st->cur, &rec, &err);
        if (rc < 0) {
            log_json(LOG_ERROR, "exposure: stream read failed",
                     json_pack("{s:s, s:s}", "request_id", st->request_id, "error", err.log));
            return -1;
        }
        if (rc == STORE_DONE)
            break;
        if (st->sent == st->expected) {
            /* cannot happen in one snapshot; never send what was not logged */
            log_json(LOG_ERROR, "exposure: second pass found more records than the first",
                     json_pack("{s:s}", "request_id", st->request_id));
            return -1;
        }
        if ((st->sent > 0 && buf_append(out, ",", 1) != 0) ||
            dataset_record_to_json(rec, st->include, out, &err) != 0)
            return -1;
        st->sent++;
        if (out->len >= EXPOSURE_STREAM_CHUNK)
            return 1;
    }
    if (out->len >= EXPOSURE_STREAM_CHUNK)
        return 1;
    if (st->sent != st->expected) {
        log_json(LOG_ERROR, "exposure: second pass found fewer records than the first",
                 json_pack("{s:s}", "request_id", st->request_id));
        return -1;
    }
    if (buf_append_cstr(out, "]}") != 0)
        return -1;
    st->state = 2;
    return 0;
}
