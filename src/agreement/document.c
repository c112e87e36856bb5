/*
 * document.c: the agreement document (JSON, and a printable HTML page made
 * from the same JSON) and the list of agreements.
 *
 * The document is the documentation basis for both parties: the serving
 * version (what data may be fetched under, and why), a pending version if
 * one is under way, every version's state, and the whole history with the
 * field-level changes and reasons. Every value in the HTML is escaped.
 */
#include <stdlib.h>
#include <string.h>

#include "agreement/internal.h"
#include "core/clock.h"
#include "core/json.h"

#define HTML_MAX ((size_t)4 * 1024 * 1024)

static json_t *time_json(store_stmt_t *s, int col)
{
    if (store_col_is_null(s, col))
        return json_null();
    char t[32];
    clock_format_s(store_col_int64(s, col), t, sizeof t);
    return json_string(t);
}

static json_t *text_json(store_stmt_t *s, int col)
{
    if (store_col_is_null(s, col))
        return json_null();
    str_t t = store_col_text(s, col);
    return json_stringn(t.ptr, t.len);
}

static json_t *parsed_json(store_stmt_t *s, int col)
{
    if (store_col_is_null(s, col))
        return json_null();
    str_t t = store_col_text(s, col);
    json_t *j = json_parse(t.ptr, t.len, 0, NULL, NULL);
    return j ? j : json_null();
}

static int load_versions(store_conn_t *c, const struct ag_row *row, json_t *doc, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "SELECT version, state, application, drafted_by_name, signed_by_name,"
                           " signed_at, decided_by_name, decided_at, assessment, granted,"
                           " grant_reason, state_reason, created_at, updated_at FROM"
                           " agreement_version WHERE agreement_id = ? ORDER BY version",
                           &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, row->id);
    json_t *list = json_array();
    while ((rc = store_step(s, err)) == STORE_ROW) {
        int64_t n = store_col_int64(s, 0);
        json_t *v = json_pack(
            "{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "version",
            (json_int_t)n, "state", text_json(s, 1), "application", parsed_json(s, 2), "drafted_by",
            text_json(s, 3), "signed_by", text_json(s, 4), "signed_at", time_json(s, 5),
            "decided_by", text_json(s, 6), "decided_at", time_json(s, 7), "assessment",
            text_json(s, 8), "granted", parsed_json(s, 9), "grant_reason", text_json(s, 10),
            "state_reason", text_json(s, 11), "created_at", time_json(s, 12), "updated_at",
            time_json(s, 13));
        if (n == row->serving)
            json_object_set(doc, "serving", v);
        if (n == row->pending)
            json_object_set(doc, "pending", v);
        json_array_append_new(list, json_pack("{s:I, s:O}", "version", (json_int_t)n, "state",
                                              json_object_get(v, "state")));
        if (n == row->latest)
            json_object_set(doc, "status", json_object_get(v, "state"));
        json_decref(v);
    }
    store_stmt_done(s);
    json_object_set_new(doc, "versions", list);
    return rc < 0 ? rc : 0;
}

static int load_history(store_conn_t *c, const char *id, json_t *doc, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "SELECT at, version, actor_name, actor_org, action, from_state,"
                           " to_state, changes, reason FROM agreement_history WHERE"
                           " agreement_id = ? ORDER BY id",
                           &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, id);
    json_t *list = json_array();
    while ((rc = store_step(s, err)) == STORE_ROW) {
        json_array_append_new(
            list, json_pack("{s:o, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "at", time_json(s, 0),
                            "version", (json_int_t)store_col_int64(s, 1), "actor", text_json(s, 2),
                            "actor_organisation", text_json(s, 3), "action", text_json(s, 4),
                            "from", text_json(s, 5), "to", text_json(s, 6), "changes",
                            parsed_json(s, 7), "reason", text_json(s, 8)));
    }
    store_stmt_done(s);
    json_object_set_new(doc, "history", list);
    return rc < 0 ? rc : 0;
}

/* The agreement's own rate budget: {"rate_per_second", "burst"}, null
 * each when the configured default applies. */
static int load_rate(store_conn_t *c, const char *id, json_t *doc, err_t *err)
{
    store_stmt_t *s;
    int rc =
        store_prepare(c, "SELECT rate_per_second, rate_burst FROM agreement WHERE id = ?", &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, id);
    rc = store_step(s, err);
    if (rc == STORE_ROW) {
        json_object_set_new(
            doc, "rate_budget",
            json_pack("{s:o, s:o}", "rate_per_second",
                      store_col_is_null(s, 0) ? json_null() : json_integer(store_col_int64(s, 0)),
                      "burst",
                      store_col_is_null(s, 1) ? json_null() : json_integer(store_col_int64(s, 1))));
        rc = 0;
    }
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

/* See agreement.h. Another organisation's agreement is "not found". */
int agreement_document_json(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                            json_t **out, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(ag->st, &c, err);
    if (rc)
        return rc;
    struct ag_row row;
    rc = agreement_row_load(c, id, &row, err);
    if (rc == 0 && !agreement_actor_may_see(actor, row.org_cvr))
        rc = err_param(err, DUPLA_ENOTFOUND, "id", "no such agreement");
    json_t *doc = NULL;
    if (rc == 0) {
        doc = json_pack("{s:s, s:s, s:s, s:s, s:n, s:n, s:n}", "id", row.id, "urn",
                        AGREEMENT_URN_PREFIX, "organisation_cvr", row.org_cvr, "environment",
                        environment_name(row.env), "status", "serving", "pending");
        char urn[sizeof AGREEMENT_URN_PREFIX + AGREEMENT_ID_LEN];
        snprintf(urn, sizeof urn, "%s%s", AGREEMENT_URN_PREFIX, row.id);
        json_object_set_new(doc, "urn", json_string(urn));
        rc = load_versions(c, &row, doc, err);
    }
    if (rc == 0) {
        /* The status is the serving version's once one was approved. */
        json_t *serving = json_object_get(doc, "serving");
        bool active = false;
        if (json_is_object(serving)) {
            json_object_set(doc, "status", json_object_get(serving, "state"));
            int64_t from, until, now = clock_now_ms();
            agreement_application_validity(json_object_get(serving, "application"), &from, &until);
            const char *st = json_string_value(json_object_get(serving, "state"));
            active = st && strcmp(st, "approved") == 0 && from <= now && now < until;
        }
        /* Whether the data path allows calls under it at this moment. */
        json_object_set_new(doc, "active_now", json_boolean(active));
        rc = load_rate(c, row.id, doc, err);
    }
    if (rc == 0) {
        rc = load_history(c, row.id, doc, err);
    }
    store_conn_put(c);
    if (rc) {
        json_decref(doc);
        return rc;
    }
    *out = doc;
    return 0;
}

/* Appends s (may be NULL) escaped for HTML. */
static void html_text(buf_t *b, const char *s)
{
    buf_append_html(b, str_from_cstr(s));
}

/* Any JSON value as escaped text: strings as they are, the rest as JSON. */
static void html_value(buf_t *b, const json_t *v)
{
    if (!v || json_is_null(v)) {
        buf_append_cstr(b, "&ndash;");
        return;
    }
    if (json_is_string(v)) {
        html_text(b, json_string_value(v));
        return;
    }
    char *t = json_text(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    html_text(b, t);
    free(t);
}

static void html_row(buf_t *b, const char *label, const json_t *v)
{
    buf_append_cstr(b, "<tr><th>");
    html_text(b, label);
    buf_append_cstr(b, "</th><td>");
    html_value(b, v);
    buf_append_cstr(b, "</td></tr>\n");
}

/* A moment (the API's UTC timestamp) in Danish time, as the pages show it;
 * anything else as it is. */
static void html_time(buf_t *b, const json_t *v)
{
    int64_t ms;
    const char *s = json_string_value(v);
    if (!s || clock_parse_timestamp(str_from_cstr(s), &ms, 1) != 0) {
        html_value(b, v);
        return;
    }
    char t[CLOCK_DK_TEXT_MAX];
    clock_format_dk(ms, t, sizeof t);
    html_text(b, t);
}

static void html_time_row(buf_t *b, const char *label, const json_t *v)
{
    buf_append_cstr(b, "<tr><th>");
    html_text(b, label);
    buf_append_cstr(b, "</th><td>");
    html_time(b, v);
    buf_append_cstr(b, "</td></tr>\n");
}

static void html_fields(buf_t *b, const char *label, const json_t *services)
{
    buf_append_cstr(b, "<tr><th>");
    html_text(b, label);
    buf_append_cstr(b, "</th><td>");
    if (!json_is_object(services) || json_object_size(services) == 0) {
        buf_append_cstr(b, "&ndash;</td></tr>\n");
        return;
    }
    buf_append_cstr(b, "<ul>");
    const char *name;
    json_t *fields;
    json_object_foreach((json_t *)services, name, fields)
    {
        buf_append_cstr(b, "<li><strong>");
        html_text(b, name);
        buf_append_cstr(b, "</strong>: ");
        size_t i;
        json_t *f;
        json_array_foreach(fields, i, f)
        {
            if (i)
                buf_append_cstr(b, ", ");
            html_text(b, json_string_value(f));
        }
        buf_append_cstr(b, "</li>");
    }
    buf_append_cstr(b, "</ul></td></tr>\n");
}

static void html_version(buf_t *b, const char *heading, const json_t *v)
{
    if (!json_is_object(v))
        return;
    const json_t *app = json_object_get(v, "application");
    char h[128];
    snprintf(h, sizeof h, "%s (version %lld)", heading,
             (long long)json_integer_value(json_object_get(v, "version")));
    buf_append_cstr(b, "<h2>");
    html_text(b, h);
    buf_append_cstr(b, "</h2>\n<table>\n");
    html_row(b, "Status / State", json_object_get(v, "state"));
    html_row(b, "Titel / Title", json_object_get(app, "title"));
    html_row(b, "Formål / Purpose", json_object_get(app, "purpose"));
    buf_append_cstr(b, "<tr><th>Lovhjemmel / Legal basis</th><td><ul>");
    size_t i;
    json_t *lb;
    json_array_foreach(json_object_get(app, "legal_basis"), i, lb)
    {
        buf_append_cstr(b, "<li>");
        html_value(b, json_object_get(lb, "law"));
        buf_append_cstr(b, ", ");
        html_value(b, json_object_get(lb, "section"));
        buf_append_cstr(b, "</li>");
    }
    buf_append_cstr(b, "</ul></td></tr>\n");
    html_fields(b, "Ansøgte felter / Fields applied for", json_object_get(app, "services"));
    html_fields(b, "Tildelte felter / Fields granted", json_object_get(v, "granted"));
    html_row(b, "Begrundelse for færre felter / Reason for fewer fields",
             json_object_get(v, "grant_reason"));
    html_row(b, "Systemer / Systems", json_object_get(app, "systems"));
    html_row(b, "Gyldig fra / Valid from", json_object_get(app, "valid_from"));
    html_row(b, "Gyldig til / Valid to", json_object_get(app, "valid_to"));
    html_row(b, "Forventet volumen / Expected volume", json_object_get(app, "expected_volume"));
    html_row(b, "Kontaktperson / Contact", json_object_get(app, "contact"));
    html_row(b, "Udarbejdet af / Drafted by", json_object_get(v, "drafted_by"));
    html_row(b, "Underskrevet af / Signed by", json_object_get(v, "signed_by"));
    html_time_row(b, "Underskrevet (dansk tid) / Signed at (Danish time)",
                  json_object_get(v, "signed_at"));
    html_row(b, "Afgjort af / Decided by", json_object_get(v, "decided_by"));
    html_time_row(b, "Afgjort (dansk tid) / Decided at (Danish time)",
                  json_object_get(v, "decided_at"));
    html_row(b, "Proportionalitetsvurdering / Proportionality assessment",
             json_object_get(v, "assessment"));
    html_row(b, "Seneste begrundelse / Latest reason", json_object_get(v, "state_reason"));
    buf_append_cstr(b, "</table>\n");
}

/* See agreement.h. */
int agreement_document_html(agreement_t *ag, const struct agreement_actor *actor, str_t id,
                            buf_t *out, err_t *err)
{
    json_t *doc;
    int rc = agreement_document_json(ag, actor, id, &doc, err);
    if (rc)
        return rc;
    buf_t b;
    buf_init(&b, HTML_MAX);
    buf_append_cstr(&b, "<!DOCTYPE html>\n<html lang=\"da\">\n<head><meta charset=\"utf-8\">"
                        "<title>Dataudvekslingsaftale ");
    html_value(&b, json_object_get(doc, "id"));
    buf_append_cstr(&b,
                    "</title>\n<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
                    "table{border-collapse:collapse;width:100%}th,td{border:1px solid #999;"
                    "padding:.3em;text-align:left;vertical-align:top}th{width:30%}"
                    "@media print{body{margin:0}}</style></head>\n<body>\n"
                    "<h1>Dataudvekslingsaftale / Data exchange agreement</h1>\n<table>\n");
    html_row(&b, "Aftale-id / Agreement id", json_object_get(doc, "id"));
    html_row(&b, "UFST-Adgangsgrundlag", json_object_get(doc, "urn"));
    html_row(&b, "Aftagepart (CVR) / Recipient (CVR)", json_object_get(doc, "organisation_cvr"));
    html_row(&b, "Miljø / Environment", json_object_get(doc, "environment"));
    html_row(&b, "Status", json_object_get(doc, "status"));
    buf_append_cstr(&b, "</table>\n");
    html_version(&b, "Gældende version / Serving version", json_object_get(doc, "serving"));
    html_version(&b, "Verserende version / Pending version", json_object_get(doc, "pending"));
    buf_append_cstr(
        &b,
        "<h2>Historik / History</h2>\n<table>\n<tr><th>Tid (dansk tid) / When (Danish time)</th>"
        "<th>Version</th><th>Hvem / Who</th><th>Handling / Step</th>"
        "<th>Fra &rarr; til / From &rarr; to</th><th>Ændringer / Changes</th>"
        "<th>Begrundelse / Reason</th></tr>\n");
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(doc, "history"), i, h)
    {
        static const char *const cols[] = {"at", "version", "actor", "action"};
        buf_append_cstr(&b, "<tr>");
        for (size_t k = 0; k < 4; k++) {
            buf_append_cstr(&b, "<td>");
            if (k == 0)
                html_time(&b, json_object_get(h, cols[k]));
            else
                html_value(&b, json_object_get(h, cols[k]));
            buf_append_cstr(&b, "</td>");
        }
        buf_append_cstr(&b, "<td>");
        html_value(&b, json_object_get(h, "from"));
        buf_append_cstr(&b, " &rarr; ");
        html_value(&b, json_object_get(h, "to"));
        buf_append_cstr(&b, "</td><td><code>");
        html_value(&b, json_object_get(h, "changes"));
        buf_append_cstr(&b, "</code></td><td>");
        html_value(&b, json_object_get(h, "reason"));
        buf_append_cstr(&b, "</td></tr>\n");
    }
    rc = buf_append_cstr(&b, "</table>\n</body>\n</html>\n");
    json_decref(doc);
    if (rc == 0)
        rc = buf_append(out, b.data, b.len);
    buf_free(&b);
    if (rc)
        return err_set(err, rc, "the agreement document is larger than %zu bytes", HTML_MAX);
    return 0;
}

/* A member of obj, or JSON null (borrowed either way). */
static json_t *member(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return v ? v : json_null();
}

/* See agreement.h. */
int agreement_list(agreement_t *ag, const struct agreement_actor *actor,
                   const struct agreement_filter *filter, json_t **out, err_t *err)
{
    const char *org = filter ? filter->org_cvr : NULL;
    int state = filter ? filter->state : -1;
    if (!agreement_actor_is_data_owner(actor)) {
        if (org && strcmp(org, actor->org_cvr) != 0)
            return err_param(err, DUPLA_EFORBIDDEN, "org",
                             "only the data owner sees other organisations' agreements");
        org = actor->org_cvr;
        if (!*org)
            return err_set(err, DUPLA_EFORBIDDEN, "the actor belongs to no organisation");
    }
    store_conn_t *c;
    int rc = store_conn_get(ag->st, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    rc = store_prepare(c,
                       "SELECT a.id, a.org_cvr, a.environment, v.version, v.state, v.application,"
                       " a.pending_version, a.latest_version, a.updated_at, p.state"
                       " FROM agreement a"
                       " JOIN agreement_version v ON v.agreement_id = a.id AND v.version ="
                       " COALESCE(a.serving_version, a.latest_version)"
                       " LEFT JOIN agreement_version p ON p.agreement_id = a.id AND p.version ="
                       " a.pending_version"
                       " WHERE (CAST(? AS TEXT) IS NULL OR a.org_cvr = ?)"
                       " AND (CAST(? AS TEXT) IS NULL OR v.state = ?)"
                       " AND (CAST(? AS BIGINT) = 0 OR p.state = 'submitted')"
                       " ORDER BY a.updated_at DESC, a.id LIMIT ?",
                       &s, err);
    if (rc) {
        store_conn_put(c);
        return rc;
    }
    const char *sname = state >= 0 ? agreement_state_name(state) : NULL;
    store_bind_cstr(s, 1, org);
    store_bind_cstr(s, 2, org);
    store_bind_cstr(s, 3, sname);
    store_bind_cstr(s, 4, sname);
    store_bind_int64(s, 5, filter && filter->awaiting_review ? 1 : 0);
    store_bind_int64(s, 6, AGREEMENT_LIST_MAX);
    json_t *list = json_array();
    while ((rc = store_step(s, err)) == STORE_ROW) {
        json_t *app = parsed_json(s, 5);
        json_t *pending =
            store_col_is_null(s, 6) ? json_null() : json_integer(store_col_int64(s, 6));
        json_array_append_new(
            list, json_pack("{s:o, s:o, s:o, s:I, s:o, s:O, s:O, s:O, s:o, s:I, s:o}", "id",
                            text_json(s, 0), "organisation_cvr", text_json(s, 1), "environment",
                            text_json(s, 2), "version", (json_int_t)store_col_int64(s, 3), "status",
                            text_json(s, 4), "title", member(app, "title"), "valid_from",
                            member(app, "valid_from"), "valid_to", member(app, "valid_to"),
                            "pending_version", pending, "latest_version",
                            (json_int_t)store_col_int64(s, 7), "updated_at", time_json(s, 8)));
        json_object_set_new(json_array_get(list, json_array_size(list) - 1), "pending_state",
                            store_col_is_null(s, 9) ? json_null() : text_json(s, 9));
        json_decref(app);
    }
    store_stmt_done(s);
    store_conn_put(c);
    if (rc < 0) {
        json_decref(list);
        return rc;
    }
    *out = list;
    return 0;
}
