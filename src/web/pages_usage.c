/*
 * pages_usage.c: how much a recipient uses the data services (#21.5).
 *
 *   GET /forbrug        calls, records and refusals per day, agreement and
 *                       system, over a period of Danish days (fra, til)
 *   GET /forbrug.csv    the same table as CSV
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
 * does not hold is not here: 429 and 503 answers are not recorded (they
 * protect the log), and show only in the metrics.
 */
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "core/clock.h"
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
    int64_t calls, records, refused;
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

static void add(struct usage *u, const struct audit_row *r)
{
    int32_t day = dk_day(r->time_ms);
    struct usage_row *x = NULL;
    for (size_t i = 0; i < u->n && !x; i++)
        if (u->rows[i].day == day && strcmp(u->rows[i].org, r->org_cvr) == 0 &&
            strcmp(u->rows[i].agreement, r->agreement_id) == 0 &&
            strcmp(u->rows[i].system, r->system_id) == 0)
            x = &u->rows[i];
    if (!x) {
        if (u->n == USAGE_ROWS_MAX) {
            u->truncated = true;
            return;
        }
        x = &u->rows[u->n++];
        memset(x, 0, sizeof *x);
        x->day = day;
        snprintf(x->org, sizeof x->org, "%s", r->org_cvr);
        snprintf(x->agreement, sizeof x->agreement, "%s", r->agreement_id);
        snprintf(x->system, sizeof x->system, "%s", r->system_id);
    }
    x->calls++;
    if (r->outcome == AUDIT_DISCLOSED)
        x->records += r->record_count;
    else
        x->refused++;
}

/* Reads the period's entries into u->rows. 0 or the query's error. */
static int count(struct web_ctx *cx, struct usage *u, err_t *err)
{
    u->f.limit = AUDIT_PAGE_MAX;
    u->f.after = 0;
    u->f.newest_first = false;
    int rc = 0;
    for (;;) {
        arena_t *arena = arena_new(USAGE_ARENA_MAX);
        struct audit_page page = {0};
        rc = arena ? audit_query(cx->w->deps.store, &u->f, NULL, arena, &page, err)
                   : err_set(err, DUPLA_ENOMEM, "out of memory");
        for (size_t i = 0; rc == 0 && i < page.n; i++)
            add(u, &page.rows[i]);
        int64_t next = page.next;
        arena_free(arena);
        if (rc || next == 0 || u->truncated)
            break;
        u->f.after = next;
    }
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
            "Kald afvist for mange kald (429) eller ved overbelastning (503) logges ikke og "
            "er ikke med her; hvert svar fortæller med headerne <code>RateLimit</code> og "
            "<code>RateLimit-Policy</code>, hvor meget der er tilbage af aftalens "
            "budget.</p><form method=\"get\" action=\"/forbrug\"><fieldset><legend>Periode "
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
            "<th scope=\"col\">Afviste</th></tr></thead><tbody>");
    int64_t calls = 0, records = 0, refused = 0;
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
        HTML(h, "</td></tr>");
        calls += x->calls;
        records += x->records;
        refused += x->refused;
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

static int csv(struct web_ctx *cx, const struct usage *u)
{
    buf_t b;
    buf_init(&b, USAGE_CSV_MAX);
    int rc = buf_append_cstr(&b, "Dag,Organisation (CVR),Aftale,System,Kald,Poster,Afviste\r\n");
    for (size_t i = 0; rc == 0 && i < u->n; i++) {
        const struct usage_row *x = &u->rows[i];
        char d[16];
        date_text(x->day, d);
        rc = buf_printf(&b, "%s,", d);
        rc = rc ? rc : buf_append_csv_cell(&b, str_from_cstr(x->org));
        rc = rc ? rc : buf_append(&b, ",", 1);
        rc = rc ? rc : buf_append_csv_cell(&b, str_from_cstr(x->agreement));
        rc = rc ? rc : buf_append(&b, ",", 1);
        rc = rc ? rc : buf_append_csv_cell(&b, str_from_cstr(x->system));
        rc = rc ? rc
                : buf_printf(&b, ",%lld,%lld,%lld\r\n", (long long)x->calls, (long long)x->records,
                             (long long)x->refused);
    }
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
    int qrc = u.rows ? count(cx, &u, &e) : err_set(&e, DUPLA_ENOMEM, "out of memory");
    if (qrc != 0)
        log_warn("web: usage: %s", e.log);
    if (as_csv && qrc == 0)
        return csv(cx, &u);
    page(cx, &u, &fe, qrc != 0);
    return web_reply_page(cx, qrc == 0 ? 200 : 500);
}

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
    return web_routes(srv, w, r, sizeof r / sizeof r[0], err);
}
