/*
 * search.c: the disclosure pages' searches (see search.h): the values, then
 * the query read into an audit filter with the form's Danish messages, and
 * the filter narrowed to the viewer.
 */
#include "web/search.h"

#include <string.h>

#include "core/clock.h"
#include "core/encode.h"

static bool digits_at(str_t s, size_t from, size_t n)
{
    for (size_t i = from; i < from + n; i++)
        if (i >= s.len || s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
    return true;
}

static int number_at(str_t s, size_t from, size_t n)
{
    int v = 0;
    for (size_t i = from; i < from + n; i++)
        v = v * 10 + (s.ptr[i] - '0');
    return v;
}

enum web_search_result web_search_date(str_t s, int32_t *days)
{
    int y, m, d;
    if (s.len != 10)
        return WEB_SEARCH_FORM;
    char sep = s.ptr[2];
    if ((sep == '-' || sep == '.' || sep == '/') && s.ptr[5] == sep && digits_at(s, 0, 2) &&
        digits_at(s, 3, 2) && digits_at(s, 6, 4)) {
        d = number_at(s, 0, 2);
        m = number_at(s, 3, 2);
        y = number_at(s, 6, 4);
    } else if (s.ptr[4] == '-' && s.ptr[7] == '-' && digits_at(s, 0, 4) && digits_at(s, 5, 2) &&
               digits_at(s, 8, 2)) {
        y = number_at(s, 0, 4);
        m = number_at(s, 5, 2);
        d = number_at(s, 8, 2);
    } else {
        return WEB_SEARCH_FORM;
    }
    if (!clock_valid_date(y, m, d))
        return WEB_SEARCH_INVALID;
    *days = clock_days_from_civil(y, m, d);
    return WEB_SEARCH_OK;
}

enum web_search_result web_search_cpr(str_t s, char out[CPR_LEN + 1])
{
    char n[CPR_LEN + 1];
    if (s.len == CPR_LEN && digits_at(s, 0, CPR_LEN)) {
        memcpy(n, s.ptr, CPR_LEN);
    } else if (s.len == CPR_LEN + 1 && s.ptr[6] == '-' && digits_at(s, 0, 6) &&
               digits_at(s, 7, 4)) {
        memcpy(n, s.ptr, 6);
        memcpy(n + 6, s.ptr + 7, 4);
    } else {
        return WEB_SEARCH_FORM;
    }
    n[CPR_LEN] = '\0';
    if (!ident_cpr_valid((str_t){n, CPR_LEN}))
        return WEB_SEARCH_INVALID;
    memcpy(out, n, sizeof n);
    return WEB_SEARCH_OK;
}

enum web_search_result web_search_cvr(str_t s, char out[CVR_LEN + 1])
{
    if (s.len != CVR_LEN || !digits_at(s, 0, CVR_LEN))
        return WEB_SEARCH_FORM;
    if (!ident_cvr_valid(s))
        return WEB_SEARCH_INVALID;
    memcpy(out, s.ptr, CVR_LEN);
    out[CVR_LEN] = '\0';
    return WEB_SEARCH_OK;
}

enum web_search_result web_search_se(str_t s, char out[SE_LEN + 1])
{
    if (s.len != SE_LEN || !digits_at(s, 0, SE_LEN))
        return WEB_SEARCH_FORM;
    if (!ident_se_valid(s))
        return WEB_SEARCH_INVALID;
    memcpy(out, s.ptr, SE_LEN);
    out[SE_LEN] = '\0';
    return WEB_SEARCH_OK;
}

enum web_search_result web_search_agreement_id(str_t s, char out[AGREEMENT_ID_LEN + 1])
{
    if (s.len != AGREEMENT_ID_LEN)
        return WEB_SEARCH_FORM;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (hex_digit(c) < 0)
            return WEB_SEARCH_FORM;
        out[i] = c;
    }
    out[AGREEMENT_ID_LEN] = '\0';
    return WEB_SEARCH_OK;
}

/* ---- the search ---- */

#define TEXT_(n) #n
#define TEXT(n)  TEXT_(n) /* a limit in a message */

static const char *const OWN_PARAMS[] = {"organisation", "aftale", "tjeneste", "udfald", "fra",
                                         "til",          "antal",  "efter",    NULL};
static const char *const ALL_PARAMS[] = {"organisation", "aftale", "subjekt", "type",
                                         "tjeneste",     "udfald", "fra",     "til",
                                         "antal",        "efter",  NULL};
static const char *const INSIGHT_PARAMS[] = {"subjekt", "type",  "fra", "til",
                                             "antal",   "efter", NULL};
/* What only the data owner's staff may search by. */
static const char *const STAFF_PARAMS[] = {"subjekt", "type", NULL};

static const unsigned PER_PAGE[] = {10, 25, 50, 100};

static bool in_list(const char *const *list, str_t name)
{
    for (size_t i = 0; list[i]; i++)
        if (str_eq_cstr(name, list[i]))
            return true;
    return false;
}

/* The first value of name, trimmed ("" if absent). */
static str_t param(const struct web_search_query *q, const char *name)
{
    for (size_t i = 0; i < q->n; i++) {
        str_t k, v;
        q->at(q->ctx, i, &k, &v);
        if (str_eq_cstr(k, name))
            return str_trim(v);
    }
    return STR("");
}

/* A NUL-terminated copy in the arena ("" when it is full). */
static const char *keep(arena_t *arena, const char *s)
{
    char *p = arena_strdup(arena, str_from_cstr(s));
    return p ? p : "";
}

/* A number (CVR or the subject) by kind, into the arena. NULL with the
 * message in *msg when it is not valid. */
static const char *subject_number(arena_t *arena, enum audit_subject_kind kind, str_t v,
                                  const char **msg)
{
    char n[CPR_LEN + 1];
    enum web_search_result r;
    switch (kind) {
    case AUDIT_SUBJECT_CPR:
        r = web_search_cpr(v, n);
        *msg = r == WEB_SEARCH_FORM ? "CPR-nummeret skal være 10 cifre, fx 010190-1234."
                                    : "CPR-nummeret er ikke gyldigt: de første seks cifre skal "
                                      "være en fødselsdato (ddmmåå).";
        break;
    case AUDIT_SUBJECT_CVR:
        r = web_search_cvr(v, n);
        *msg = r == WEB_SEARCH_FORM ? "CVR-nummeret skal være 8 cifre, fx 12345674."
                                    : "CVR-nummeret er ikke gyldigt: kontrolcifferet passer ikke.";
        break;
    default:
        r = web_search_se(v, n);
        *msg = r == WEB_SEARCH_FORM ? "SE-nummeret skal være 8 cifre, fx 12345678."
                                    : "SE-nummeret er ikke gyldigt: det kan ikke begynde med 0.";
        break;
    }
    if (r != WEB_SEARCH_OK)
        return NULL;
    *msg = NULL;
    return keep(arena, n);
}

static void too_long(struct form_errors *fe, const char *field)
{
    form_error(fe, field, "Teksten er for lang (højst " TEXT(WEB_SEARCH_VALUE_MAX) " tegn).");
}

/* A date field; its day number into *days (0 and true when empty). */
static bool date_field(struct form_errors *fe, const char *field, const char *which, str_t v,
                       int32_t *days, bool *set)
{
    *set = false;
    if (v.len == 0)
        return true;
    if (v.len > WEB_SEARCH_VALUE_MAX) {
        too_long(fe, field);
        return false;
    }
    enum web_search_result r = web_search_date(v, days);
    if (r == WEB_SEARCH_FORM) {
        form_error(fe, field,
                   strcmp(which, "fra") == 0 ? "Skriv fra-datoen som dd-mm-åååå, fx 01-03-2026."
                                             : "Skriv til-datoen som dd-mm-åååå, fx 31-03-2026.");
        return false;
    }
    if (r == WEB_SEARCH_INVALID) {
        form_error(fe, field,
                   strcmp(which, "fra") == 0 ? "Fra-datoen findes ikke i kalenderen."
                                             : "Til-datoen findes ikke i kalenderen.");
        return false;
    }
    *set = true;
    return true;
}

/* Every parameter in the view's list: 0, 403 or 400 (see web_search_read). */
static unsigned check_names(enum web_search_view view, const struct web_search_query *q,
                            arena_t *arena, struct form_errors *fe, const char **refused)
{
    const char *const *allowed = view == WEB_SEARCH_VIEW_OWN   ? OWN_PARAMS
                                 : view == WEB_SEARCH_VIEW_ALL ? ALL_PARAMS
                                                               : INSIGHT_PARAMS;
    for (size_t i = 0; i < q->n; i++) {
        str_t k, v;
        q->at(q->ctx, i, &k, &v);
        if (in_list(allowed, k))
            continue;
        if (view == WEB_SEARCH_VIEW_OWN && in_list(STAFF_PARAMS, k)) {
            *refused = "Kun Skatteforvaltningens medarbejdere kan søge på et CPR-, CVR- eller "
                       "SE-nummer.";
            return 403;
        }
        str_t shown = str_sub(k, 0, 32);
        form_error(fe, "",
                   arena_printf(arena,
                                "Søgningen indeholder en ukendt oplysning (%.*s). Start "
                                "søgningen forfra.",
                                STR_FMT(shown)));
        return 400;
    }
    return 0;
}

/* organisation and aftale. */
static void read_recipient(struct web_search *s, arena_t *arena, struct form_errors *fe)
{
    /* The recipient's form has no organisation field (it may still name its
     * own in the URL): its message goes to the top only. */
    const char *org_field = s->view == WEB_SEARCH_VIEW_OWN ? "" : "organisation";
    if (s->org.len > WEB_SEARCH_VALUE_MAX) {
        too_long(fe, org_field);
    } else if (s->org.len) {
        const char *msg;
        const char *n = subject_number(arena, AUDIT_SUBJECT_CVR, s->org, &msg);
        if (n)
            s->f.org_cvr = str_from_cstr(n);
        else
            form_error(fe, org_field, msg);
    }
    if (s->agreement.len > WEB_SEARCH_VALUE_MAX) {
        too_long(fe, "aftale");
    } else if (s->agreement.len) {
        char id[AGREEMENT_ID_LEN + 1];
        if (web_search_agreement_id(s->agreement, id) == WEB_SEARCH_OK)
            s->f.agreement_id = str_from_cstr(keep(arena, id));
        else
            form_error(fe, "aftale",
                       "Aftalens id skal være 32 tegn med tallene 0-9 og bogstaverne a-f.");
    }
}

/* subjekt and type (the staff's views). */
static void read_subject(struct web_search *s, size_t n_params, arena_t *arena,
                         struct form_errors *fe)
{
    enum audit_subject_kind kind = AUDIT_SUBJECT_CPR;
    bool kind_ok = true;
    if (s->kind.len && audit_subject_kind_parse(s->kind, &kind) != 0) {
        form_error(fe, "type", "Vælg CPR-nummer, CVR-nummer eller SE-nummer.");
        kind_ok = false;
    }
    if (s->subject.len > WEB_SEARCH_VALUE_MAX) {
        too_long(fe, "subjekt");
    } else if (s->subject.len && kind_ok) {
        const char *msg;
        const char *n = subject_number(arena, kind, s->subject, &msg);
        if (n) {
            s->f.subject = str_from_cstr(n);
            s->f.subject_kind = kind;
            s->f.subject_kind_set = true;
        } else {
            form_error(fe, "subjekt", msg);
        }
    }
    if (s->view == WEB_SEARCH_VIEW_INSIGHT) {
        s->asked = n_params > 0;
        if (s->asked && s->subject.len == 0)
            form_error(fe, "subjekt",
                       "Skriv det CPR-, CVR- eller SE-nummer, rapporten "
                       "gælder.");
    }
}

/* tjeneste and udfald. */
static void read_service(struct web_search *s, const catalog_t *catalog, struct form_errors *fe)
{
    if (s->service.len) {
        if (!catalog || !catalog_find(catalog, s->service))
            form_error(fe, "tjeneste", "Vælg en tjeneste fra listen.");
        else
            s->f.service = s->service;
    }
    if (s->outcome.len) {
        if (str_eq_cstr(s->outcome, "udleveret")) {
            s->f.outcome_set = true;
            s->f.outcome = AUDIT_DISCLOSED;
        } else if (str_eq_cstr(s->outcome, "afvist")) {
            s->f.outcome_set = true;
            s->f.outcome = AUDIT_REFUSED;
        } else {
            form_error(fe, "udfald", "Vælg et udfald fra listen.");
        }
    }
    if (s->view == WEB_SEARCH_VIEW_INSIGHT) { /* who received data: disclosures only */
        s->f.outcome_set = true;
        s->f.outcome = AUDIT_DISCLOSED;
    }
}

/* fra, til, antal and efter. */
static void read_window(struct web_search *s, str_t after, struct form_errors *fe)
{
    int32_t from = 0, to = 0;
    bool from_set, to_set;
    bool from_ok = date_field(fe, "fra", "fra", s->from, &from, &from_set);
    bool to_ok = date_field(fe, "til", "til", s->to, &to, &to_set);
    if (from_ok && to_ok && from_set && to_set && from > to)
        form_error(fe, "til", "Til-datoen skal være samme dag som fra-datoen eller senere.");
    /* Days are Danish days, as the times on the pages are Danish time. */
    if (from_set)
        s->f.from_ms = clock_dk_day_start_ms(from);
    if (to_set)
        s->f.to_ms = clock_dk_day_start_ms(to + 1); /* to includes its day */
    if (from_set && s->f.from_ms <= 0)
        s->f.from_ms = 1; /* 01-01-1970: 0 would mean no bound */
    s->per_page = WEB_SEARCH_ROWS_DEFAULT;
    if (s->rows.len) {
        int64_t n = 0;
        bool ok = str_to_int64(s->rows, &n) == 0;
        size_t i = 0;
        for (; ok && i < sizeof PER_PAGE / sizeof PER_PAGE[0] && PER_PAGE[i] != n; i++)
            ;
        if (!ok || i == sizeof PER_PAGE / sizeof PER_PAGE[0])
            form_error(fe, "antal", "Vælg et antal rækker fra listen.");
        else
            s->per_page = (unsigned)n;
    }
    if (after.len && (str_to_int64(after, &s->f.after) != 0 || s->f.after < 0))
        form_error(fe, "", "Henvisningen til næste side er ugyldig. Start søgningen forfra.");
    s->f.limit = s->per_page;
}

unsigned web_search_read(enum web_search_view view, const struct web_search_query *q,
                         const catalog_t *catalog, arena_t *arena, struct web_search *s,
                         struct form_errors *fe, const char **refused)
{
    memset(s, 0, sizeof *s);
    s->view = view;
    s->f.newest_first = true;
    unsigned status = check_names(view, q, arena, fe, refused);
    if (status)
        return status;
    s->org = param(q, "organisation");
    s->agreement = param(q, "aftale");
    s->subject = param(q, "subjekt");
    s->kind = param(q, "type");
    s->service = param(q, "tjeneste");
    s->outcome = param(q, "udfald");
    s->from = param(q, "fra");
    s->to = param(q, "til");
    s->rows = param(q, "antal");
    read_recipient(s, arena, fe);
    if (view != WEB_SEARCH_VIEW_OWN)
        read_subject(s, q->n, arena, fe);
    read_service(s, catalog, fe);
    read_window(s, param(q, "efter"), fe);
    return fe->n ? 400 : 0;
}

unsigned web_search_scope(struct web_search *s, const char *own_cvr, const char **refused)
{
    enum audit_viewer viewer = s->view == WEB_SEARCH_VIEW_OWN       ? AUDIT_VIEWER_RECIPIENT
                               : s->view == WEB_SEARCH_VIEW_INSIGHT ? AUDIT_VIEWER_SUBJECT
                                                                    : AUDIT_VIEWER_DATA_OWNER;
    err_t e;
    err_clear(&e);
    int rc = audit_filter_scope(viewer, str_from_cstr(own_cvr), &s->f, &e);
    if (rc == 0)
        return 0;
    *refused = rc == DUPLA_EFORBIDDEN ? "En organisation kan kun se sine egne udleveringer."
                                      : "Søgningen kunne ikke gennemføres.";
    return rc == DUPLA_EFORBIDDEN ? 403 : 400;
}
