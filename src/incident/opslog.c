/*
 * opslog.c: the operations log (driftsstatus): entries of three kinds with
 * start, end, status and timestamped updates, and the in-memory set of
 * service windows the data path asks on every call.
 *
 * The windows (kind servicevindue, status planned or ongoing, with an end
 * still ahead) are held as a small array in a core/snapshot cell: the check
 * is a scan of a handful of intervals, no database round trip, no lock
 * held. Every change this process makes reloads it at once; every change
 * bumps a generation counter in the store, and opslog_sync() (the server
 * runs it about once a second) reloads when another process (the CLI) has
 * changed the log. While reloads fail, the cell's one failure rule applies:
 * the last good windows for at most registry.stale_max_ms, then the data
 * services answer 503 (fail closed) until a reload succeeds.
 */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "incident/internal.h"

static const char *const kind_names[OPSLOG_KIND_COUNT] = {"drift", "servicevindue", "information"};
static const char *const status_names[OPSLOG_STATUS_COUNT] = {"planned", "ongoing", "resolved",
                                                              "cancelled"};

const char *opslog_kind_name(enum opslog_kind k)
{
    return (unsigned)k < OPSLOG_KIND_COUNT ? kind_names[k] : "?";
}

int opslog_kind_parse(const char *name)
{
    for (int i = 0; name && i < OPSLOG_KIND_COUNT; i++)
        if (strcmp(name, kind_names[i]) == 0)
            return i;
    return -1;
}

const char *opslog_status_name(enum opslog_status s)
{
    return (unsigned)s < OPSLOG_STATUS_COUNT ? status_names[s] : "?";
}

int opslog_status_parse(const char *name)
{
    for (int i = 0; name && i < OPSLOG_STATUS_COUNT; i++)
        if (strcmp(name, status_names[i]) == 0)
            return i;
    return -1;
}

/* ---- the windows in memory (a core/snapshot cell) ---- */

/* Loads the windows and their generation in one read transaction, so that
 * they agree. */
static int windows_load(void *ctx, void **data, int64_t *gen, err_t *err)
{
    struct opslog *log = ctx;
    store_conn_t *c;
    int rc = store_conn_get(log->inc->st, &c, err);
    if (rc)
        return rc;
    struct opslog_windows *w = calloc(1, sizeof *w + OPSLOG_WINDOWS_MAX * sizeof w->w[0]);
    store_stmt_t *s;
    if (!w)
        rc = err_set(err, DUPLA_ENOMEM, "out of memory");
    if (rc == 0 && (rc = store_begin(c, err)) == 0 &&
        (rc = incident_schema_opslog_generation(c, gen, err)) == 0 &&
        (rc = store_prepare(c,
                            "SELECT start_at, end_at FROM opslog_entry WHERE kind = 'servicevindue'"
                            " AND status IN ('planned', 'ongoing') AND end_at IS NOT NULL"
                            " AND end_at > ? ORDER BY start_at LIMIT ?",
                            &s, err)) == 0) {
        store_bind_int64(s, 1, clock_now_ms());
        store_bind_int64(s, 2, OPSLOG_WINDOWS_MAX);
        while ((rc = store_step(s, err)) == STORE_ROW) {
            w->w[w->n].start_ms = store_col_int64(s, 0);
            w->w[w->n].end_ms = store_col_int64(s, 1);
            w->n++;
        }
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    if (store_in_transaction(c))
        store_rollback(c);
    store_conn_put(c);
    if (rc) {
        free(w);
        return rc;
    }
    *data = w;
    return 0;
}

static int windows_generation(void *ctx, const void *current, int64_t *gen, err_t *err)
{
    struct opslog *log = ctx;
    (void)current;
    store_conn_t *c;
    int rc = store_conn_get(log->inc->st, &c, err);
    if (rc)
        return rc;
    rc = incident_schema_opslog_generation(c, gen, err);
    store_conn_put(c);
    return rc;
}

int opslog_init(struct opslog *log, struct incident *inc, err_t *err)
{
    memset(log, 0, sizeof *log);
    log->inc = inc;
    struct snapshot_source src = {"operations log windows", log, windows_load, windows_generation,
                                  free};
    return snapshot_new(&src, NULL, &log->windows, err);
}

void opslog_fini(struct opslog *log)
{
    snapshot_free(log->windows);
    log->windows = NULL;
}

int opslog_reload(struct opslog *log, err_t *err)
{
    return snapshot_invalidate(log->windows, err);
}

int opslog_sync(opslog_t *log, err_t *err)
{
    return snapshot_poll(log->windows, 0, err);
}

bool opslog_service_window_now(opslog_t *log, int64_t now_ms, int64_t *retry_after_s)
{
    snapshot_ref_t *ref;
    if (snapshot_acquire(log->windows, &ref, NULL)) {
        /* Past the stale bound nobody knows whether a window is on: fail
         * closed, the data services answer 503 until the log is back. */
        if (retry_after_s)
            *retry_after_s = 1;
        return true;
    }
    const struct opslog_windows *w = snapshot_data(ref);
    int64_t end = 0;
    for (size_t i = 0; i < w->n; i++)
        if (w->w[i].start_ms <= now_ms && now_ms < w->w[i].end_ms && w->w[i].end_ms > end)
            end = w->w[i].end_ms;
    snapshot_release(ref);
    if (!end)
        return false;
    if (retry_after_s) {
        int64_t s = (end - now_ms + MS_PER_SECOND - 1) / MS_PER_SECOND;
        *retry_after_s = s < 1 ? 1 : s;
    }
    return true;
}

/* ---- posting and updating ---- */

static int check_text(const char *s, size_t max, const char *param, bool required, err_t *err)
{
    if (!s || !*s)
        return required ? err_param(err, DUPLA_EINVAL, param, "'%s' is required.", param) : 0;
    if (strlen(s) > max)
        return err_param(err, DUPLA_ELIMIT, param, "'%s' is too long (at most %zu bytes).", param,
                         max);
    return 0;
}

static int add_update(store_conn_t *c, int64_t entry, int64_t now, const char *who,
                      const char *text, err_t *err)
{
    char *clean = mail_text_clip(text, strlen(text), OPSLOG_TEXT_MAX);
    if (!clean)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    store_stmt_t *s;
    int rc = store_prepare(
        c, "INSERT INTO opslog_update (entry_id, at, author, text) VALUES (?, ?, ?, ?)", &s, err);
    if (rc == 0) {
        store_bind_int64(s, 1, entry);
        store_bind_int64(s, 2, now);
        store_bind_cstr(s, 3, who);
        store_bind_cstr(s, 4, clean);
        rc = store_step(s, err);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    free(clean);
    return rc;
}

int opslog_post_entry(opslog_t *log, const struct incident_actor *actor,
                      const struct opslog_post *p, int64_t now_ms, int64_t *id_out, err_t *err)
{
    if (!(actor->roles & INCIDENT_ROLE_STAFF))
        return err_set(err, DUPLA_EFORBIDDEN, "Only the data owner's staff post to the log.");
    if ((unsigned)p->kind >= OPSLOG_KIND_COUNT)
        return err_param(err, DUPLA_EINVAL, "kind",
                         "The kind must be drift, servicevindue or information.");
    int rc = check_text(p->title, OPSLOG_TITLE_MAX, "title", true, err);
    if (rc == 0)
        rc = check_text(p->text, OPSLOG_TEXT_MAX, "text", false, err);
    if (rc)
        return rc;
    if (p->start_ms <= 0)
        return err_param(err, DUPLA_EINVAL, "start", "The start time is required.");
    if (p->end_ms < 0 || (p->end_ms && p->end_ms <= p->start_ms))
        return err_param(err, DUPLA_EINVAL, "end", "The end must come after the start.");
    if (p->kind == OPSLOG_SERVICEVINDUE && !p->end_ms)
        return err_param(err, DUPLA_EINVAL, "end", "A service window needs an end.");
    if (p->status >= OPSLOG_STATUS_COUNT)
        return err_param(err, DUPLA_EINVAL, "status", "No such status.");
    int status = p->status >= 0         ? p->status
                 : p->start_ms > now_ms ? OPSLOG_PLANNED
                                        : OPSLOG_ONGOING;
    char who[INCIDENT_NAME_MAX + 32];
    incident_actor_label(actor, who, sizeof who);
    char *title = mail_text_clip(p->title, strlen(p->title), OPSLOG_TITLE_MAX);
    if (!title)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    store_conn_t *c;
    if ((rc = store_conn_get(log->inc->st, &c, err))) {
        free(title);
        return rc;
    }
    store_stmt_t *s;
    int64_t id = 0;
    if ((rc = store_begin(c, err)) == 0 &&
        (rc = store_prepare(c,
                            "INSERT INTO opslog_entry (kind, title, status, start_at, end_at,"
                            " created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            &s, err)) == 0) {
        store_bind_cstr(s, 1, opslog_kind_name(p->kind));
        store_bind_cstr(s, 2, title);
        store_bind_cstr(s, 3, opslog_status_name((enum opslog_status)status));
        store_bind_int64(s, 4, p->start_ms);
        if (p->end_ms)
            store_bind_int64(s, 5, p->end_ms);
        else
            store_bind_null(s, 5);
        store_bind_cstr(s, 6, who);
        store_bind_int64(s, 7, now_ms);
        store_bind_int64(s, 8, now_ms);
        rc = store_step(s, err);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
        id = store_last_id(c);
    }
    if (rc == 0 && p->text && *p->text)
        rc = add_update(c, id, now_ms, who, p->text, err);
    if (rc == 0)
        rc = incident_schema_bump_opslog(c, err);
    if (rc == 0)
        rc = store_commit(c, err);
    if (rc)
        store_rollback(c);
    store_conn_put(c);
    free(title);
    if (rc)
        return rc;
    if (id_out)
        *id_out = id;
    err_t e2;
    err_clear(&e2);
    opslog_reload(log, &e2); /* a failure is logged by the cell */
    return 0;
}

int opslog_update_entry(opslog_t *log, const struct incident_actor *actor, int64_t id,
                        const struct opslog_change *ch, int64_t now_ms, err_t *err)
{
    if (!(actor->roles & INCIDENT_ROLE_STAFF))
        return err_set(err, DUPLA_EFORBIDDEN, "Only the data owner's staff update the log.");
    int rc = check_text(ch->text, OPSLOG_TEXT_MAX, "text", false, err);
    if (rc == 0 && ch->title)
        rc = check_text(ch->title, OPSLOG_TITLE_MAX, "title", true, err);
    if (rc)
        return rc;
    if (ch->status >= OPSLOG_STATUS_COUNT)
        return err_param(err, DUPLA_EINVAL, "status", "No such status.");
    if (!(ch->text && *ch->text) && ch->status < 0 && !ch->start_ms && !ch->end_ms && !ch->title)
        return err_set(err, DUPLA_EINVAL, "Nothing to change: give an update text or a change.");
    char who[INCIDENT_NAME_MAX + 32];
    incident_actor_label(actor, who, sizeof who);
    store_conn_t *c;
    if ((rc = store_conn_get(log->inc->st, &c, err)))
        return rc;
    store_stmt_t *s;
    char kind[32] = "";
    int64_t start = 0, end = 0, updates = 0;
    bool found = false;
    if ((rc = store_begin(c, err)) == 0 &&
        (rc = store_prepare(c,
                            "SELECT kind, start_at, COALESCE(end_at, 0), (SELECT COUNT(*) FROM"
                            " opslog_update u WHERE u.entry_id = e.id) FROM opslog_entry e"
                            " WHERE id = ?",
                            &s, err)) == 0) {
        store_bind_int64(s, 1, id);
        if ((rc = store_step(s, err)) == STORE_ROW) {
            found = true;
            str_copy(store_col_text(s, 0), kind, sizeof kind);
            start = store_col_int64(s, 1);
            end = store_col_int64(s, 2);
            updates = store_col_int64(s, 3);
        }
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    if (rc == 0 && !found)
        rc = err_param(err, DUPLA_ENOTFOUND, "id", "No log entry %lld.", (long long)id);
    if (rc == 0) {
        if (ch->start_ms)
            start = ch->start_ms;
        if (ch->end_ms)
            end = ch->end_ms < 0 ? 0 : ch->end_ms;
        if (end && end <= start)
            rc = err_param(err, DUPLA_EINVAL, "end", "The end must come after the start.");
        else if (!end && strcmp(kind, "servicevindue") == 0)
            rc = err_param(err, DUPLA_EINVAL, "end", "A service window needs an end.");
        else if (ch->text && *ch->text && updates >= OPSLOG_UPDATES_MAX)
            rc = err_param(err, DUPLA_ELIMIT, "text", "The entry has %d updates, the most it can.",
                           OPSLOG_UPDATES_MAX);
    }
    char *title = ch->title ? mail_text_clip(ch->title, strlen(ch->title), OPSLOG_TITLE_MAX) : NULL;
    if (rc == 0 && ch->title && !title)
        rc = err_set(err, DUPLA_ENOMEM, "out of memory");
    if (rc == 0 &&
        (rc = store_prepare(c,
                            "UPDATE opslog_entry SET status = COALESCE(?, status), start_at = ?,"
                            " end_at = ?, title = COALESCE(?, title), updated_at = ? WHERE id = ?",
                            &s, err)) == 0) {
        store_bind_cstr(
            s, 1, ch->status >= 0 ? opslog_status_name((enum opslog_status)ch->status) : NULL);
        store_bind_int64(s, 2, start);
        if (end)
            store_bind_int64(s, 3, end);
        else
            store_bind_null(s, 3);
        store_bind_cstr(s, 4, title);
        store_bind_int64(s, 5, now_ms);
        store_bind_int64(s, 6, id);
        rc = store_step(s, err);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    free(title);
    if (rc == 0 && ch->text && *ch->text)
        rc = add_update(c, id, now_ms, who, ch->text, err);
    if (rc == 0)
        rc = incident_schema_bump_opslog(c, err);
    if (rc == 0)
        rc = store_commit(c, err);
    if (rc)
        store_rollback(c);
    store_conn_put(c);
    if (rc)
        return rc;
    err_t e2;
    err_clear(&e2);
    opslog_reload(log, &e2); /* a failure is logged by the cell */
    return 0;
}

static json_t *jtime(int64_t ms)
{
    char t[32];
    clock_format_s(ms, t, sizeof t);
    return json_string(t);
}

static json_t *jtext(store_stmt_t *s, int col)
{
    str_t t = store_col_text(s, col);
    json_t *j = json_stringn(t.ptr, t.len);
    return j ? j : json_string("");
}

int opslog_list_json(opslog_t *log, json_t **out, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(log->inc->st, &c, err);
    if (rc)
        return rc;
    json_t *list = json_array();
    store_stmt_t *s;
    if ((rc = store_prepare(c,
                            "SELECT id, kind, title, status, start_at, end_at, created_by,"
                            " created_at, updated_at FROM opslog_entry"
                            " ORDER BY start_at DESC, id DESC LIMIT ?",
                            &s, err)) == 0) {
        store_bind_int64(s, 1, OPSLOG_LIST_MAX);
        while ((rc = store_step(s, err)) == STORE_ROW) {
            json_t *e = json_object();
            json_object_set_new(e, "id", json_integer(store_col_int64(s, 0)));
            json_object_set_new(e, "kind", jtext(s, 1));
            json_object_set_new(e, "title", jtext(s, 2));
            json_object_set_new(e, "status", jtext(s, 3));
            json_object_set_new(e, "start", jtime(store_col_int64(s, 4)));
            json_object_set_new(
                e, "end", store_col_is_null(s, 5) ? json_null() : jtime(store_col_int64(s, 5)));
            json_object_set_new(e, "created_by", jtext(s, 6));
            json_object_set_new(e, "created_at", jtime(store_col_int64(s, 7)));
            json_object_set_new(e, "updated_at", jtime(store_col_int64(s, 8)));
            json_object_set_new(e, "updates", json_array());
            json_array_append_new(list, e);
        }
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        if (rc)
            break;
        if ((rc = store_prepare(c,
                                "SELECT at, author, text FROM opslog_update WHERE entry_id = ?"
                                " ORDER BY at, id",
                                &s, err)))
            break;
        store_bind_int64(s, 1, json_integer_value(json_object_get(e, "id")));
        json_t *ups = json_object_get(e, "updates");
        while ((rc = store_step(s, err)) == STORE_ROW) {
            json_t *u = json_object();
            json_object_set_new(u, "at", jtime(store_col_int64(s, 0)));
            json_object_set_new(u, "author", jtext(s, 1));
            json_object_set_new(u, "text", jtext(s, 2));
            json_array_append_new(ups, u);
        }
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    store_conn_put(c);
    if (rc) {
        json_decref(list);
        return rc;
    }
    *out = list;
    return 0;
}
