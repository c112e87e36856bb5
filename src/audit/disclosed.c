/*
 * disclosed.c: the child rows of a batch of entries, each table's in a few
 * multi-row statements for the whole batch (store_insert_rows): who an
 * entry was about (audit_entry_subject) and, from canonical version 2, the
 * deliveries whose record versions it sent and the versions themselves
 * (audit_entry_delivery, audit_entry_version).
 */
#include <inttypes.h>
#include <string.h>

#include "audit/internal.h"

/* Where a child table's row of the whole batch lies: row is child pos of
 * the batch's entry i. store_insert_rows binds rows in order, so a row is
 * found from the previous one by moving on; a row before it starts over. */
struct cursor {
    size_t row, i, pos;
};

struct children {
    const struct audit_batch *b;
    struct cursor *cur; /* the bind callbacks' (their ctx is const) */
    size_t (*count)(const struct audit_entry *e);
};

static void seek(const struct children *ch, size_t row)
{
    struct cursor *c = ch->cur;
    if (row < c->row)
        memset(c, 0, sizeof *c);
    for (;;) {
        size_t left = ch->count(ch->b->v[c->i].e) - c->pos;
        if (row - c->row < left) {
            c->pos += row - c->row;
            c->row = row;
            return;
        }
        c->row += left;
        c->i++;
        c->pos = 0;
    }
}

static size_t count_subjects(const struct audit_entry *e)
{
    return e->n_subjects;
}

static size_t count_deliveries(const struct audit_entry *e)
{
    return e->n_deliveries;
}

static size_t count_versions(const struct audit_entry *e)
{
    return e->n_versions;
}

static void subject_bind(store_stmt_t *s, int p, size_t row, const void *ctx)
{
    const struct children *ch = ctx;
    seek(ch, row);
    const struct audit_subject *sj = &ch->b->v[ch->cur->i].e->subjects[ch->cur->pos];
    store_bind_int64(s, p, ch->b->first_seq + (int64_t)ch->cur->i);
    store_bind_int64(s, p + 1, (int64_t)ch->cur->pos);
    store_bind_cstr(s, p + 2, audit_subject_kind_name(sj->kind));
    store_bind_text(s, p + 3, sj->id);
    if (ch->b->pg)
        store_bind_int64(s, p + 4, ch->b->time_ms);
}

static void delivery_bind(store_stmt_t *s, int p, size_t row, const void *ctx)
{
    const struct children *ch = ctx;
    seek(ch, row);
    store_bind_int64(s, p, ch->b->first_seq + (int64_t)ch->cur->i);
    store_bind_int64(s, p + 1, (int64_t)ch->cur->pos);
    store_bind_text(s, p + 2, ch->b->v[ch->cur->i].e->deliveries[ch->cur->pos]);
}

static void version_bind(store_stmt_t *s, int p, size_t row, const void *ctx)
{
    const struct children *ch = ctx;
    seek(ch, row);
    const struct audit_version *v = &ch->b->v[ch->cur->i].e->versions[ch->cur->pos];
    store_bind_int64(s, p, ch->b->first_seq + (int64_t)ch->cur->i);
    store_bind_int64(s, p + 1, (int64_t)ch->cur->pos);
    store_bind_int64(s, p + 2, v->delivery);
    store_bind_cstr(s, p + 3, audit_subject_kind_name(v->kind));
    store_bind_text(s, p + 4, v->subject);
    store_bind_text(s, p + 5, v->period);
    store_bind_int64(s, p + 6, v->version);
}

/* The rows of one child table for the whole batch. */
static int insert_children(store_conn_t *c, const struct audit_batch *b, const char *head,
                           int ncols, size_t (*count)(const struct audit_entry *e),
                           void (*bind)(store_stmt_t *s, int p, size_t row, const void *ctx),
                           err_t *err)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        n += count(b->v[i].e);
    struct cursor cur = {0, 0, 0};
    const struct children ch = {b, &cur, count};
    return store_insert_rows(c, head, ncols, n, bind, &ch, err);
}

int audit_insert_children(store_conn_t *c, const struct audit_batch *b, err_t *err)
{
    /* On PostgreSQL the subjects carry their entry's time: the partition key. */
    int rc = insert_children(c, b,
                             b->pg ? "INSERT INTO audit_entry_subject (seq, position, kind, "
                                     "subject, time_ms)"
                                   : "INSERT INTO audit_entry_subject (seq, position, kind, "
                                     "subject)",
                             b->pg ? 5 : 4, count_subjects, subject_bind, err);
    if (rc)
        return rc;
    if ((rc = insert_children(c, b, "INSERT INTO audit_entry_delivery (seq, position, delivery_id)",
                              3, count_deliveries, delivery_bind, err)))
        return rc;
    return insert_children(c, b,
                           "INSERT INTO audit_entry_version (seq, position, delivery, kind,"
                           " subject, period, version)",
                           7, count_versions, version_bind, err);
}
