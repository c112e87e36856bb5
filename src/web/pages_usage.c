/*
 * pages_usage.c: how much a recipient uses the data services (#21.5).
 *
 *   GET /forbrug        calls, records and refusals per day, agreement and
 *                       system, over a period of Danish days (fra, til)
 *   GET /forbrug.csv    the same table as CSV
 *   GET /api/usage      the same as JSON (?from=&to=&org=, yyyy-mm-dd Danish days),
 *                       or CSV with format=csv; refusals are problems naming the
 *                       parameter
 *
 * A recipient's administrator sees its own organisation; the data owner's
 * staff see every recipient (narrowed with organisation=CVR).
 *
 * Counted from the disclosure log, not from counters of their own: every
 * data call after authentication is an entry (disclosed or refused, with
 * its record count), so the log already is the usage, exact and the same on
 * every node, and the data path gains no write. The price is reading the
 * period's entries per view, which is why a period is at most
 * USAGE_DAYS_MAX days and a table at most USAGE_ROWS_MAX rows. What the log
 * does not hold is counted elsewhere: the 429s per (day, agreement, system)
 * come from the agreement module's agreement_limited (its usage.c), merged
 * into the same rows; 503s show only in the metrics.
 */
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "core/clock.h"
#include "identity/routes.h"
#include "core/log.h"
#include "web/internal.h"

#define USAGE_DAYS_MAX     31   /* days in one view */
#define USAGE_DAYS_DEFAULT 7    /* the view without dates: the last week */
#define USAGE_ROWS_MAX     2000 /* (day, organisation, agreement, system) rows */
#define USAGE_ARENA_MAX    ((size_t)32 << 20)
#define USAGE_CSV_MAX      ((size_t)4 << 20)
#define DAY_MS             86400000LL

struct usage_row {
    int32_t day; /* Danish day */
    char org[CVR_LEN + 1];
    char agreement[AGREEMENT_ID_LEN + 1];
    char system[64];
    int64_t calls, records, refused, limited;
};

struct usage {
    bool staff;
    str_t org, from, to; /* as typed */
    int32_t day_from, day_to;
    struct audit_filter f;
    size_t n;
    bool truncated;
    struct usage_row *rows; /* USAGE_ROWS_MAX, from the request's arena */
};

static bool is_staff(const struct web_ctx *cx)
{
    return cx->actor.data_owner && (identity_actor_has(&cx->actor, ROLE_DATAFORVALTNING) ||
                                    identity_actor_has(&cx->actor, ROLE_OPERATOR));
}

/* The Danish day of ms. */
static int32_t dk_day(int64_t ms)
{
    struct clock_local l;
    clock_dk_local(ms, &l);
    return clock_days_from_civil(l.year, l.month, l.day);
}

/* The row of (day, org, agreement, system), added when new; NULL when the
 * table is full (u->truncated). */
static struct usage_row *row_for(struct usage *u, int32_t day, const char *org,
                                 const char *agreement, const char *system)
{
    for (size_t i = 0; i < u->n; i++)
        if (u->rows[i].day == day && strcmp(u->rows[i].org, org) == 0 &&
            strcmp(u->rows[i].agreement, agreement) == 0 && strcmp(u->rows[i].system, system) == 0)
            return &u->rows[i];
    if (u->n == USAGE_ROWS_MAX) {
        u->truncated = true;
        return NULL;
    }
    struct usage_row *x = &u->rows[u->n++];
    memset(x, 0, sizeof *x);
    x->day = day;
    snprintf(x->org, sizeof x->org, "%s", org);
    snprintf(x->agreement, sizeof x->agreement, "%s", agreement);
    snprintf(x->system, sizeof x->system, "%s", system);
    return x;
}

static int add_limited(const struct agreement_limited_row *r, void *ctx)
{
    struct usage *u = ctx;
    struct usage_row *x = row_for(u, r->day, r->org_cvr, r->agreement_id, r->system_id);
    if (x)
        x->limited += r->calls;
    return 0;
}

static int row_cmp(const void *a, const void *b)
{
    const struct usage_row *x = a, *y = b;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    int c = strcmp(x->org, y->org);
    if (c == 0)
        c = strcmp(x->agreement, y->agreement);
    return c ? c : strcmp(x->system, y->system);
}

static void add(struct usage *u, const struct audit_row *r)
{
    int32_t day = dk_day(r->time_ms);
    struct usage_row *x = row_for(u, day, r->org_cvr, r->agreement_id, r->system_id);
    if (!x)
        return;
    x->calls++;
    if (r->outcome == AUDIT_DISCLOSED)
        x->records += r->record_count;
    else
        x->refused++;
}

/* Reads the period's entries into u->rows, and the 429s beside them,
 * sorted by day, organisation, agreement and system. 0 or the query's
 * error. */
static int count(web_t *w, struct usage *u, err_t *err)
{
    u->f.limit = AUDIT_PAGE_MAX;
    u->f.after = 0;
    u->f.newest_first = false;
    int rc = 0;
    for (;;) {
        arena_t *arena = arena_new(USAGE_ARENA_MAX);
        struct audit_page page = {0};
        rc = arena ? audit_query(w->deps.store, &u->f, NULL, arena, &page, err)
                   : err_set(err, DUPLA_ENOMEM, "out of memory");
        for (size_t i = 0; rc == 0 && i < page.n; i++)
            add(u, &page.rows[i]);
        int64_t next = page.next;
        arena_free(arena);
        if (rc || next == 0 || u->truncated)
            break;
        u->f.after = next;
    }
    if (rc == 0 && !u->truncated) {
        char org[CVR_LEN + 1];
        str_copy(u->f.org_cvr, org, sizeof org);
        rc = agreement_limited_list(w->deps.agreement, org, u->day_from, u->day_to, add_limited, u,
                                    err);
    }
    qsort(u->rows, u->n, sizeof *u->rows, row_cmp);
    return rc;
}

/* The query: fra, til (yyyy-mm-dd, Danish days, til included) and, for
 * staff, organisation. Errors in fe. */
static void read_query(struct web_ctx *cx, struct usage *u, struct form_errors *fe)
{
    u->staff = is_staff(cx);
    u->from = web_query(cx->req, "fra");
    u->to = web_query(cx->req, "til");
    u->org = web_query(cx->req, "organisation");
    int32_t today = dk_day(clock_now_ms());
    u->day_to = today;
    u->day_from = today - (USAGE_DAYS_DEFAULT - 1);
    if (u->to.len && clock_parse_date(u->to, &u->day_to) != 0)
        form_error(fe, "til", "Skriv til-datoen som åååå-mm-dd.");
    if (u->from.len && clock_parse_date(u->from, &u->day_from) != 0)
        form_error(fe, "fra", "Skriv fra-datoen som åååå-mm-dd.");
    else if (!u->from.len && u->to.len)
        u->day_from = u->day_to - (USAGE_DAYS_DEFAULT - 1);
    if (fe->n == 0 && u->day_from > u->day_to)
        form_error(fe, "til", "Til-datoen skal være samme dag som fra-datoen eller senere.");
    if (fe->n == 0 && u->day_to - u->day_from >= USAGE_DAYS_MAX)
        form_error(fe, "til", "Vælg højst 31 dage ad gangen.");
    if (u->org.len && !u->staff)
        form_error(fe, "organisation", "Du kan kun se din egen organisations forbrug.");
    else if (u->org.len &&
             (u->org.len != CVR_LEN || strspn(web_cstr(cx->req, u->org), "0123456789") != CVR_LEN))
        form_error(fe, "organisation", "CVR-nummeret skal være 8 cifre.");
    memset(&u->f, 0, sizeof u->f);
    u->f.from_ms = clock_dk_day_start_ms(u->day_from);
    u->f.to_ms = clock_dk_day_start_ms(u->day_to + 1);
    u->f.org_cvr = u->staff ? u->org : str_from_cstr(cx->org.cvr);
}

static void date_text(int32_t day, char out[16])
{
    clock_format_date(day, out, 16);
}

static void page(struct web_ctx *cx, const struct usage *u, const struct form_errors *fe,
                 bool failed)
{
    html_t *h = &cx->h;
    page_begin(cx, "Forbrug");
    page_error_summary(cx, fe);
    HTML(h, "<p>Kald af datatjenesterne pr. dag, aftale og system, talt i udleveringsloggen: "
            "hvert kald efter godkendt token er en post i loggen, udleveret eller afvist. "
            "Kald afvist, fordi aftalens budget var brugt (429), logges ikke, men tælles for "
            "sig; hvert svar fortæller med headerne <code>RateLimit</code> og "
            "<code>RateLimit-Policy</code>, hvor meget der er tilbage af aftalens "
            "budget. Samme tal som JSON: <code>GET /api/usage</code>.</p><form method=\"get\" "
            "action=\"/forbrug\"><fieldset><legend>Periode "
            "(dansk tid, højst 31 dage)</legend>");
    char a[16], b[16];
    date_text(u->day_from, a);
    date_text(u->day_to, b);
    form_input(cx, fe, "fra", "Fra og med", "date", u->from.len ? u->from : str_from_cstr(a), NULL);
    form_input(cx, fe, "til", "Til og med", "date", u->to.len ? u->to : str_from_cstr(b), NULL);
    if (u->staff)
        form_input(cx, fe, "organisation", "Organisation (CVR-nummer)", "text", u->org,
                   "Tom: alle modtagere.");
    HTML(h, "</fieldset><button class=\"button button-primary\" type=\"submit\">Vis</button>"
            "</form>");
    if (fe->n || failed) {
        if (failed)
            page_notice(cx, "warning", "Forbruget kunne ikke hentes lige nu. Prøv igen senere.");
        page_end(cx);
        return;
    }
    if (u->truncated)
        page_notice(cx, "warning",
                    "Perioden har for mange rækker; kun de første vises. Vælg "
                    "en kortere periode.");
    HTML(h, "<div class=\"table--responsive-scroll\" tabindex=\"0\" role=\"region\" "
            "aria-label=\"Tabel, kan rulles\"><table class=\"table\"><caption>Forbrug ");
    html_textc(h, a);
    HTML(h, " til ");
    html_textc(h, b);
    HTML(h, "</caption><thead><tr><th scope=\"col\">Dag</th>");
    if (u->staff)
        HTML(h, "<th scope=\"col\">Organisation (CVR)</th>");
    HTML(h, "<th scope=\"col\">Aftale</th><th scope=\"col\">System</th>"
            "<th scope=\"col\">Kald</th><th scope=\"col\">Poster</th>"
            "<th scope=\"col\">Afviste</th><th scope=\"col\">For mange kald (429)</th>"
            "</tr></thead><tbody>");
    int64_t calls = 0, records = 0, refused = 0, limited = 0;
    for (size_t i = 0; i < u->n; i++) {
        const struct usage_row *x = &u->rows[i];
        char d[16];
        date_text(x->day, d);
        HTML(h, "<tr><td>");
        html_textc(h, d);
        if (u->staff) {
            HTML(h, "</td><td>");
            html_textc(h, x->org);
        }
        HTML(h, "</td><td>");
        html_textc(h, x->agreement);
        HTML(h, "</td><td>");
        html_textc(h, x->system);
        HTML(h, "</td><td>");
        html_int(h, x->calls);
        HTML(h, "</td><td>");
        html_int(h, x->records);
        HTML(h, "</td><td>");
        html_int(h, x->refused);
        HTML(h, "</td><td>");
        html_int(h, x->limited);
        HTML(h, "</td></tr>");
        calls += x->calls;
        records += x->records;
        refused += x->refused;
        limited += x->limited;
    }
    HTML(h, "</tbody><tfoot><tr><th scope=\"row\"");
    if (u->staff)
        HTML(h, " colspan=\"4\"");
    else
        HTML(h, " colspan=\"3\"");
    HTML(h, ">I alt</th><td>");
    html_int(h, calls);
    HTML(h, "</td><td>");
    html_int(h, records);
    HTML(h, "</td><td>");
    html_int(h, refused);
    HTML(h, "</td><td>");
    html_int(h, limited);
    HTML(h, "</td></tr></tfoot></table></div><p><a href=\"/forbrug.csv?fra=");
    html_textc(h, a);
    HTML(h, "&amp;til=");
    html_textc(h, b);
    if (u->org.len) {
        HTML(h, "&amp;organisation=");
        html_url(h, u->org);
    }
    HTML(h, "\">Hent forbruget som CSV</a></p>");
    page_end(cx);
}

/* The table as CSV into b (USAGE_CSV_MAX): 0 or the buffer's error. */
static int csv_text(const struct usage *u, buf_t *bp)
{
    int rc = buf_append_cstr(
        bp, "Dag,Organisation (CVR),Aftale,System,Kald,Poster,Afviste,For mange kald (429)\r\n");
    for (size_t i = 0; rc == 0 && i < u->n; i++) {
        const struct usage_row *x = &u->rows[i];
        char d[16];
        date_text(x->day, d);
        rc = buf_printf(bp, "%s,", d);
        rc = rc ? rc : buf_append_csv_cell(bp, str_from_cstr(x->org));
        rc = rc ? rc : buf_append(bp, ",", 1);
        rc = rc ? rc : buf_append_csv_cell(bp, str_from_cstr(x->agreement));
        rc = rc ? rc : buf_append(bp, ",", 1);
        rc = rc ? rc : buf_append_csv_cell(bp, str_from_cstr(x->system));
        rc = rc ? rc
                : buf_printf(bp, ",%lld,%lld,%lld,%lld\r\n", (long long)x->calls,
                             (long long)x->records, (long long)x->refused, (long long)x->limited);
    }
    return rc;
}

static int csv(struct web_ctx *cx, const struct usage *u)
{
    buf_t b;
    buf_init(&b, USAGE_CSV_MAX);
    int rc = csv_text(u, &b);
    if (rc) {
        buf_free(&b);
        return web_reply_message(cx, 500, "Forbrug", "Forbruget er for stort til én CSV-fil.");
    }
    web_security_headers(cx->req);
    http_reply_header(cx->req, "Content-Disposition", "attachment; filename=\"forbrug.csv\"");
    rc = http_reply_data(cx->req, 200, "text/csv; charset=utf-8", buf_str(&b));
    buf_free(&b);
    return rc;
}

static int h_usage(struct web_ctx *cx, err_t *err)
{
    (void)err;
    bool as_csv = str_eq_cstr(http_req_path(cx->req), "/forbrug.csv");
    bool admin = !cx->actor.data_owner && identity_actor_has(&cx->actor, ROLE_ADMINISTRATOR) &&
                 cx->org.cvr[0];
    if (!is_staff(cx) && !admin)
        return web_reply_message(cx, 403, "Ingen adgang",
                                 "Kun organisationens administrator og Skatteforvaltningens "
                                 "dataforvaltning og drift kan se forbruget.");
    struct usage u = {0};
    struct form_errors fe = {0};
    read_query(cx, &u, &fe);
    if (fe.n) {
        if (as_csv)
            return web_reply_message(cx, 400, "Forbrug", fe.e[0].msg);
        page(cx, &u, &fe, false);
        return web_reply_page(cx, 400);
    }
    u.rows = arena_alloc(http_req_arena(cx->req), USAGE_ROWS_MAX * sizeof *u.rows);
    err_t e;
    err_clear(&e);
    int qrc = u.rows ? count(cx->w, &u, &e) : err_set(&e, DUPLA_ENOMEM, "out of memory");
    if (qrc != 0)
        log_warn("web: usage: %s", e.log);
    if (as_csv && qrc == 0)
        return csv(cx, &u);
    page(cx, &u, &fe, qrc != 0);
    return web_reply_page(cx, qrc == 0 ? 200 : 500);
}

/* ---- GET /api/usage ---- */

static int h_api_usage(http_request_t *req, void *ctx, err_t *err)
{
    web_t *w = ctx;
    identity_actor_t a;
    int rc = identity_http_actor(req, w->deps.identity, &a, err);
    if (rc)
        return rc;
    bool staff = a.data_owner && (identity_actor_has(&a, ROLE_DATAFORVALTNING) ||
                                  identity_actor_has(&a, ROLE_OPERATOR));
    struct identity_org own;
    if (!staff) {
        if (a.data_owner || !identity_actor_has(&a, ROLE_ADMINISTRATOR))
            return err_set(err, DUPLA_EFORBIDDEN,
                           "usage is for the organisation's administrator and the data owner's "
                           "staff");
        if ((rc = identity_org_get(w->deps.identity, str_from_cstr(a.org_id), &own, err)))
            return rc;
    }
    struct usage u = {0};
    u.staff = staff;
    str_t from = STR(""), to = STR(""), org = STR(""), format = STR("");
    http_req_query(req, "from", &from);
    http_req_query(req, "to", &to);
    http_req_query(req, "org", &org);
    http_req_query(req, "format", &format);
    int32_t today = dk_day(clock_now_ms());
    u.day_to = today;
    if (to.len && clock_parse_date(to, &u.day_to) != 0)
        return err_param(err, DUPLA_EINVAL, "to", "to must be a date yyyy-mm-dd");
    u.day_from = u.day_to - (USAGE_DAYS_DEFAULT - 1);
    if (from.len && clock_parse_date(from, &u.day_from) != 0)
        return err_param(err, DUPLA_EINVAL, "from", "from must be a date yyyy-mm-dd");
    if (u.day_from > u.day_to)
        return err_param(err, DUPLA_EINVAL, "to", "to must be on or after from");
    if (u.day_to - u.day_from >= USAGE_DAYS_MAX)
        return err_param(err, DUPLA_EINVAL, "to", "at most %d days at a time", USAGE_DAYS_MAX);
    if (org.len && !staff)
        return err_param(err, DUPLA_EFORBIDDEN, "org", "only your own organisation's usage");
    if (org.len && (org.len != CVR_LEN || !str_is_digits(org)))
        return err_param(err, DUPLA_EINVAL, "org", "org must be a CVR number (8 digits)");
    u.f.from_ms = clock_dk_day_start_ms(u.day_from);
    u.f.to_ms = clock_dk_day_start_ms(u.day_to + 1);
    u.f.org_cvr = staff ? org : str_from_cstr(own.cvr);
    u.rows = arena_alloc(http_req_arena(req), USAGE_ROWS_MAX * sizeof *u.rows);
    if (!u.rows)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    if ((rc = count(w, &u, err)))
        return rc;
    http_reply_header(req, "Cache-Control", "no-store");
    if (str_eq_cstr(format, "csv")) {
        buf_t b;
        buf_init(&b, USAGE_CSV_MAX);
        rc = csv_text(&u, &b);
        if (rc == 0) {
            http_reply_header(req, "Content-Disposition", "attachment; filename=\"usage.csv\"");
            rc = http_reply_data(req, 200, "text/csv; charset=utf-8", buf_str(&b));
        } else {
            rc = err_param(err, DUPLA_ELIMIT, "to", "the period is too large for one CSV answer");
        }
        buf_free(&b);
        return rc;
    }
    char d[16];
    json_t *rows = json_array();
    for (size_t i = 0; i < u.n; i++) {
        const struct usage_row *x = &u.rows[i];
        date_text(x->day, d);
        json_array_append_new(
            rows,
            json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "day", d, "organisation_cvr",
                      x->org, "agreement_id", x->agreement, "system_id", x->system, "calls",
                      (json_int_t)x->calls, "records", (json_int_t)x->records, "refused",
                      (json_int_t)x->refused, "rate_limited", (json_int_t)x->limited));
    }
    char a_from[16], a_to[16];
    date_text(u.day_from, a_from);
    date_text(u.day_to, a_to);
    return http_reply_json(req, 200,
                           json_pack("{s:s, s:s, s:o, s:b}", "from", a_from, "to", a_to, "usage",
                                     rows, "truncated", u.truncated));
}

static const struct http_param q_api_usage[] = {
    {.name = "from", .type = HTTP_PARAM_STRING, .max = 10},
    {.name = "to", .type = HTTP_PARAM_STRING, .max = 10},
    {.name = "org", .type = HTTP_PARAM_STRING, .max = 8},
    {.name = "format",
     .type = HTTP_PARAM_ENUM,
     .values = (const char *const[]){"json", "csv", NULL}},
    {0},
};

static const struct http_param q_usage[] = {
    {"fra", HTTP_PARAM_STRING, .max = 10},
    {"til", HTTP_PARAM_STRING, .max = 10},
    {"organisation", HTTP_PARAM_STRING, .max = 8},
    {0},
};

int pages_usage_register(http_server_t *srv, web_t *w, err_t *err)
{
    static const struct web_page_route r[] = {
        {HTTP_GET, "/forbrug", NULL, 0, h_usage, .query = q_usage},
        {HTTP_GET, "/forbrug.csv", NULL, 0, h_usage, .query = q_usage},
    };
    int rc = web_routes(srv, w, r, sizeof r / sizeof r[0], err);
    struct http_route api = {.methods = HTTP_GET | HTTP_HEAD,
                             .path = "/api/usage",
                             .handler = h_api_usage,
                             .ctx = w,
                             .name = "usage",
                             .query = q_api_usage};
    return rc ? rc : http_route_add(srv, &api, err);
}
