/* Unit tests of the disclosure pages' searches (web/search.c): dates in
 * both accepted forms, CPR/CVR/SE numbers and agreement ids, with the
 * difference between a wrong form and an impossible value; then a whole
 * query read per view (the allow-lists, the messages, the filter made) and
 * scoped to the viewer. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/clock.h"
#include "fixture.h"
#include "web/search.h"

#define S(lit) STR(lit)

Test(web_search, dates_danish_and_iso)
{
    int32_t d = 0, want = clock_days_from_civil(2026, 3, 1);
    cr_assert_eq(web_search_date(S("01-03-2026"), &d), WEB_SEARCH_OK);
    cr_assert_eq(d, want);
    cr_assert_eq(web_search_date(S("01.03.2026"), &d), WEB_SEARCH_OK);
    cr_assert_eq(d, want);
    cr_assert_eq(web_search_date(S("01/03/2026"), &d), WEB_SEARCH_OK);
    cr_assert_eq(web_search_date(S("2026-03-01"), &d), WEB_SEARCH_OK);
    cr_assert_eq(d, want);
    cr_assert_eq(web_search_date(S("29-02-2024"), &d), WEB_SEARCH_OK, "a leap day");
}

Test(web_search, dates_refused)
{
    int32_t d = 7;
    cr_assert_eq(web_search_date(S("1-3-2026"), &d), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_date(S("01-03-26"), &d), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_date(S("01-03.2026"), &d), WEB_SEARCH_FORM, "mixed separators");
    cr_assert_eq(web_search_date(S("2026/03/01"), &d), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_date(S("0a-03-2026"), &d), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_date(S(""), &d), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_date(S("i dag"), &d), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_date(S("31-02-2026"), &d), WEB_SEARCH_INVALID);
    cr_assert_eq(web_search_date(S("29-02-2025"), &d), WEB_SEARCH_INVALID);
    cr_assert_eq(web_search_date(S("2026-13-01"), &d), WEB_SEARCH_INVALID);
    cr_assert_eq(web_search_date(S("00-01-2026"), &d), WEB_SEARCH_INVALID);
    cr_assert_eq(d, 7, "untouched on failure");
}

Test(web_search, cpr)
{
    char out[CPR_LEN + 1] = "";
    cr_assert_eq(web_search_cpr(S("0101901234"), out), WEB_SEARCH_OK);
    cr_assert_str_eq(out, "0101901234");
    cr_assert_eq(web_search_cpr(S("010190-1234"), out), WEB_SEARCH_OK);
    cr_assert_str_eq(out, "0101901234");
    cr_assert_eq(web_search_cpr(S("6101901234"), out), WEB_SEARCH_OK, "a substitute number");
    cr_assert_eq(web_search_cpr(S("010190123"), out), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_cpr(S("01019012345"), out), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_cpr(S("01019-01234"), out), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_cpr(S("010190 1234"), out), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_cpr(S("01019x1234"), out), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_cpr(S("3213011234"), out), WEB_SEARCH_INVALID);
    cr_assert_eq(web_search_cpr(S("0113011234"), out), WEB_SEARCH_INVALID);
}

Test(web_search, cvr_and_se)
{
    char out[CVR_LEN + 1] = "";
    cr_assert_eq(web_search_cvr(S("12345674"), out), WEB_SEARCH_OK);
    cr_assert_str_eq(out, "12345674");
    cr_assert_eq(web_search_cvr(S("12345678"), out), WEB_SEARCH_INVALID, "modulus 11");
    cr_assert_eq(web_search_cvr(S("1234567"), out), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_cvr(S("1234567a"), out), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_cvr(S("DK12345674"), out), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_se(S("12345678"), out), WEB_SEARCH_OK);
    cr_assert_str_eq(out, "12345678");
    cr_assert_eq(web_search_se(S("01234567"), out), WEB_SEARCH_INVALID);
    cr_assert_eq(web_search_se(S("123456789"), out), WEB_SEARCH_FORM);
}

Test(web_search, agreement_id)
{
    char out[AGREEMENT_ID_LEN + 1] = "";
    cr_assert_eq(web_search_agreement_id(S("0123456789ABCDEFabcdef0123456789"), out),
                 WEB_SEARCH_OK);
    cr_assert_str_eq(out, "0123456789abcdefabcdef0123456789");
    cr_assert_eq(web_search_agreement_id(S("0123456789abcdef"), out), WEB_SEARCH_FORM);
    cr_assert_eq(web_search_agreement_id(S("0123456789abcdefabcdef012345678g"), out),
                 WEB_SEARCH_FORM);
}

/* ---- a whole search ---- */

/* A query as the tests write it: "name=value" strings, no decoding. */
struct pairs {
    size_t n;
    str_t names[16];
    str_t values[16];
};

static void pairs_at(const void *ctx, size_t i, str_t *name, str_t *value)
{
    const struct pairs *p = ctx;
    *name = p->names[i];
    *value = p->values[i];
}

static arena_t *arena;
static struct form_errors fe;
static struct web_search s;
static const char *refused;

static void search_init(void)
{
    arena = arena_new(1 << 20);
    cr_assert_not_null(arena);
    memset(&fe, 0, sizeof fe);
    refused = NULL;
}

static void search_fini(void)
{
    arena_free(arena);
}

/* Reads the NULL-terminated "name=value" list for view, with catalog. */
static unsigned read_with(enum web_search_view view, const catalog_t *catalog,
                          const char *const *kv)
{
    static struct pairs p;
    memset(&p, 0, sizeof p);
    for (; kv[p.n]; p.n++) {
        const char *eq = strchr(kv[p.n], '=');
        cr_assert_not_null(eq);
        p.names[p.n] = (str_t){kv[p.n], (size_t)(eq - kv[p.n])};
        p.values[p.n] = str_from_cstr(eq + 1);
    }
    struct web_search_query q = {p.n, pairs_at, &p};
    memset(&fe, 0, sizeof fe);
    refused = NULL;
    return web_search_read(view, &q, catalog, arena, &s, &fe, &refused);
}

#define READ(view, ...) read_with(view, NULL, (const char *const[]){__VA_ARGS__, NULL})

static const char *msg_for(const char *field)
{
    const char *m = form_error_for(&fe, field);
    return m ? m : "";
}

TestSuite(web_search_read, .init = search_init, .fini = search_fini);

Test(web_search_read, an_empty_query_is_newest_first_25_rows_and_no_bounds)
{
    cr_assert_eq(read_with(WEB_SEARCH_VIEW_ALL, NULL, (const char *const[]){NULL}), 0);
    cr_assert(s.f.newest_first);
    cr_assert_eq(s.per_page, WEB_SEARCH_ROWS_DEFAULT);
    cr_assert_eq(s.f.limit, WEB_SEARCH_ROWS_DEFAULT);
    cr_assert_eq(s.f.from_ms, 0);
    cr_assert_eq(s.f.to_ms, 0);
    cr_assert_not(s.f.outcome_set);
    cr_assert_not(s.f.subject_kind_set);
    cr_assert_not(s.asked);
}

Test(web_search_read, each_view_takes_only_its_parameters)
{
    cr_assert_eq(READ(WEB_SEARCH_VIEW_ALL, "hvem=x"), 400);
    cr_assert_eq(fe.n, 1);
    cr_assert(strstr(msg_for(""), "ukendt oplysning (hvem)"), "%s", msg_for(""));
    cr_assert_eq(READ(WEB_SEARCH_VIEW_INSIGHT, "organisation=12345674"), 400,
                 "the insight report has no organisation filter");
    cr_assert_eq(READ(WEB_SEARCH_VIEW_INSIGHT, "tjeneste=x"), 400);
    cr_assert_eq(READ(WEB_SEARCH_VIEW_ALL, "subjekt=0101901234", "type=cpr"), 0);
}

Test(web_search_read, a_recipient_naming_a_subject_is_refused_with_403)
{
    cr_assert_eq(READ(WEB_SEARCH_VIEW_OWN, "subjekt=0101901234"), 403);
    cr_assert_not_null(refused);
    cr_assert(strstr(refused, "Skatteforvaltningens medarbejdere"));
    cr_assert_eq(READ(WEB_SEARCH_VIEW_OWN, "type=cpr"), 403);
}

Test(web_search_read, numbers_are_checked_and_normalised_into_the_filter)
{
    cr_assert_eq(READ(WEB_SEARCH_VIEW_ALL, "subjekt= 010190-1234 ", "type=cpr",
                      "organisation=12345674", "aftale=0123456789ABCDEFabcdef0123456789"),
                 0, "%s", fe.n ? fe.e[0].msg : "");
    cr_assert(str_eq_cstr(s.subject, "010190-1234"), "what was typed, trimmed");
    cr_assert(str_eq_cstr(s.f.subject, "0101901234"));
    cr_assert(s.f.subject_kind_set);
    cr_assert_eq(s.f.subject_kind, AUDIT_SUBJECT_CPR);
    cr_assert(str_eq_cstr(s.f.org_cvr, "12345674"));
    cr_assert(str_eq_cstr(s.f.agreement_id, "0123456789abcdefabcdef0123456789"));

    cr_assert_eq(READ(WEB_SEARCH_VIEW_ALL, "subjekt=12345678", "type=se"), 0);
    cr_assert_eq(s.f.subject_kind, AUDIT_SUBJECT_SE);
    cr_assert_eq(READ(WEB_SEARCH_VIEW_ALL, "subjekt=12345678", "type=cvr"), 400, "modulus 11");
    cr_assert(strstr(msg_for("subjekt"), "kontrolcifferet"));
    cr_assert_eq(READ(WEB_SEARCH_VIEW_ALL, "subjekt=010190", "type=cpr"), 400);
    cr_assert(strstr(msg_for("subjekt"), "10 cifre"));
    cr_assert_eq(READ(WEB_SEARCH_VIEW_ALL, "subjekt=0101901234", "type=fnr"), 400);
    cr_assert(strstr(msg_for("type"), "Vælg CPR-nummer"));
    cr_assert_eq(fe.n, 1, "no number message when the kind is wrong");
    cr_assert_eq(READ(WEB_SEARCH_VIEW_ALL, "aftale=xyz"), 400);
    cr_assert(strstr(msg_for("aftale"), "32 tegn"));
}

Test(web_search_read, a_recipients_organisation_message_goes_to_the_top)
{
    cr_assert_eq(READ(WEB_SEARCH_VIEW_OWN, "organisation=12345678"), 400);
    cr_assert(strstr(msg_for(""), "CVR-nummeret"));
    cr_assert_eq(READ(WEB_SEARCH_VIEW_ALL, "organisation=12345678"), 400);
    cr_assert(strstr(msg_for("organisation"), "CVR-nummeret"));
}

Test(web_search_read, values_longer_than_the_limit_are_refused)
{
    char long_value[WEB_SEARCH_VALUE_MAX + 16] = "subjekt=";
    memset(long_value + 8, '1', WEB_SEARCH_VALUE_MAX + 1);
    cr_assert_eq(READ(WEB_SEARCH_VIEW_ALL, long_value), 400);
    cr_assert(strstr(msg_for("subjekt"), "for lang"));
    char long_date[WEB_SEARCH_VALUE_MAX + 16] = "fra=";
    memset(long_date + 4, '1', WEB_SEARCH_VALUE_MAX + 1);
    cr_assert_eq(READ(WEB_SEARCH_VIEW_ALL, long_date), 400);
    cr_assert(strstr(msg_for("fra"), "for lang"));
}

Test(web_search_read, dates_bound_the_search_and_til_includes_its_day)
{
    cr_assert_eq(READ(WEB_SEARCH_VIEW_ALL, "fra=01-03-2026", "til=2026-03-31"), 0);
    /* Danish days: 1 March begins at 23.00 UTC the day before (winter
     * time); 1 April at 22.00 UTC (summer time since 29 March). */
    int64_t day = 86400000LL, hour = 3600000LL;
    cr_assert_eq(s.f.from_ms, (int64_t)clock_days_from_civil(2026, 3, 1) * day - hour);
    cr_assert_eq(s.f.to_ms, (int64_t)clock_days_from_civil(2026, 4, 1) * day - 2 * hour);
    cr_assert_eq(READ(WEB_SEARCH_VIEW_ALL, "fra=01-01-1970"), 0);
    cr_assert_eq(s.f.from_ms, 1, "the first day is a bound, not none");
    cr_assert_eq(READ(WEB_SEARCH_VIEW_ALL, "fra=02-03-2026", "til=01-03-2026"), 400);
    cr_assert(strstr(msg_for("til"), "samme dag som fra-datoen eller senere"));
    cr_assert_eq(READ(WEB_SEARCH_VIEW_ALL, "fra=1-3-2026", "til=31-02-2026"), 400);
    cr_assert_eq(fe.n, 2);
    cr_assert(strstr(msg_for("fra"), "dd-mm-åååå"));
    cr_assert(strstr(msg_for("til"), "findes ikke i kalenderen"));
}

Test(web_search_read, outcome_rows_and_the_next_page)
{
    cr_assert_eq(READ(WEB_SEARCH_VIEW_OWN, "udfald=afvist", "antal=100", "efter=42"), 0);
    cr_assert(s.f.outcome_set);
    cr_assert_eq(s.f.outcome, AUDIT_REFUSED);
    cr_assert_eq(s.per_page, 100);
    cr_assert_eq(s.f.limit, 100);
    cr_assert_eq(s.f.after, 42);
    cr_assert_eq(READ(WEB_SEARCH_VIEW_OWN, "udfald=udleveret"), 0);
    cr_assert_eq(s.f.outcome, AUDIT_DISCLOSED);
    cr_assert_eq(READ(WEB_SEARCH_VIEW_OWN, "udfald=alle"), 400);
    cr_assert(strstr(msg_for("udfald"), "Vælg et udfald"));
    cr_assert_eq(READ(WEB_SEARCH_VIEW_OWN, "antal=30"), 400);
    cr_assert(strstr(msg_for("antal"), "antal rækker"));
    cr_assert_eq(READ(WEB_SEARCH_VIEW_OWN, "efter=-1"), 400);
    cr_assert(strstr(msg_for(""), "næste side"));
    cr_assert_eq(READ(WEB_SEARCH_VIEW_OWN, "efter=x"), 400);
}

Test(web_search_read, a_service_must_be_in_the_catalogue)
{
    cr_assert_eq(READ(WEB_SEARCH_VIEW_ALL, "tjeneste=Aarsopgoerelse"), 400, "no catalogue");
    cr_assert(strstr(msg_for("tjeneste"), "Vælg en tjeneste"));
    char dir[1024];
    fx_source_path(dir, sizeof dir, "catalog");
    catalog_t *cat = NULL;
    err_t err;
    err_clear(&err);
    cr_assert_eq(catalog_load_dir(dir, &cat, &err), 0, "%s", err.detail);
    cr_assert_eq(
        read_with(WEB_SEARCH_VIEW_ALL, cat, (const char *const[]){"tjeneste=Aarsopgoerelse", NULL}),
        0);
    cr_assert(str_eq_cstr(s.f.service, "Aarsopgoerelse"));
    cr_assert_eq(read_with(WEB_SEARCH_VIEW_ALL, cat, (const char *const[]){"tjeneste=Ingen", NULL}),
                 400);
    catalog_free(cat);
}

Test(web_search_read, the_insight_report_needs_a_number_and_shows_disclosures_only)
{
    cr_assert_eq(read_with(WEB_SEARCH_VIEW_INSIGHT, NULL, (const char *const[]){NULL}), 0);
    cr_assert_not(s.asked, "the empty form: nothing asked yet");
    cr_assert(s.f.outcome_set);
    cr_assert_eq(s.f.outcome, AUDIT_DISCLOSED);
    cr_assert_eq(READ(WEB_SEARCH_VIEW_INSIGHT, "fra=01-03-2026"), 400);
    cr_assert(s.asked);
    cr_assert(strstr(msg_for("subjekt"), "rapporten gælder"));
    cr_assert_eq(READ(WEB_SEARCH_VIEW_INSIGHT, "subjekt=12345674", "type=cvr"), 0);
    cr_assert(s.asked);
    cr_assert_eq(s.f.subject_kind, AUDIT_SUBJECT_CVR);
}

Test(web_search_read, scope_keeps_a_recipient_to_its_own_entries)
{
    cr_assert_eq(READ(WEB_SEARCH_VIEW_OWN, "organisation=12345674"), 0);
    cr_assert_eq(web_search_scope(&s, "12345674", &refused), 0);
    cr_assert(str_eq_cstr(s.f.org_cvr, "12345674"));
    cr_assert_eq(READ(WEB_SEARCH_VIEW_OWN, "udfald=afvist"), 0);
    cr_assert_eq(web_search_scope(&s, "12345674", &refused), 0);
    cr_assert(str_eq_cstr(s.f.org_cvr, "12345674"), "its own CVR when none is named");
    cr_assert_eq(READ(WEB_SEARCH_VIEW_OWN, "organisation=87654303"), 0);
    cr_assert_eq(web_search_scope(&s, "12345674", &refused), 403);
    cr_assert(strstr(refused, "sine egne udleveringer"));
    cr_assert_eq(READ(WEB_SEARCH_VIEW_ALL, "organisation=87654303"), 0);
    cr_assert_eq(web_search_scope(&s, "", &refused), 0, "the data owner sees every entry");
    cr_assert_eq(read_with(WEB_SEARCH_VIEW_INSIGHT, NULL, (const char *const[]){NULL}), 0);
    cr_assert_eq(web_search_scope(&s, "", &refused), 400, "a subject view needs a number");
}
