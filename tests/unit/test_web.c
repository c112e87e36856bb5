/* Unit tests of the web module's escaping builder (every context: text,
 * attribute, URL), its form parser, and the pages' choice of message by
 * refusal reason. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/arena.h"
#include "core/problem.h"
#include "web/html.h"
#include "web/internal.h"
#include "web/actor.h"
#include "web/pages_agreement.h"

static char out[4096];

static const char *render(void (*fn)(html_t *, str_t), const char *in, size_t len)
{
    html_t h;
    html_init(&h, sizeof out);
    fn(&h, (str_t){in, len});
    str_t s = html_str(&h);
    cr_assert(!html_failed(&h));
    snprintf(out, sizeof out, "%.*s", STR_FMT(s));
    html_free(&h);
    return out;
}
#define R(fn, lit) render(fn, lit, sizeof(lit) - 1)

Test(html, text_escapes_markup)
{
    cr_assert_str_eq(R(html_text, "<script>alert('x')</script> & \"q\""),
                     "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
}

Test(html, text_keeps_utf8_and_whitespace)
{
    cr_assert_str_eq(R(html_text, "Årsopgørelse\tlinje\nto"), "Årsopgørelse\tlinje\nto");
}

Test(html, text_drops_control_bytes_and_nul)
{
    cr_assert_str_eq(render(html_text,
                            "a\0b\x01"
                            "c",
                            5),
                     "abc");
}

Test(html, invalid_utf8_is_replaced)
{
    cr_assert_str_eq(render(html_text,
                            "x\xff"
                            "y",
                            3),
                     "x\xef\xbf\xbd"
                     "y");
}

Test(html, attribute_cannot_be_closed)
{
    cr_assert_str_eq(R(html_attr, "\" onmouseover=\"alert(1)"),
                     "&quot; onmouseover=&quot;alert(1)");
    cr_assert_str_eq(R(html_attr, "' autofocus x='"), "&#39; autofocus x=&#39;");
}

Test(html, url_component_is_percent_encoded)
{
    cr_assert_str_eq(R(html_url, "javascript:alert(1)"), "javascript%3Aalert%281%29");
    cr_assert_str_eq(R(html_url, "a b&c=d#e/f?\"<"), "a%20b%26c%3Dd%23e%2Ff%3F%22%3C");
    cr_assert_str_eq(R(html_url, "AZaz09-._~"), "AZaz09-._~");
    cr_assert_str_eq(R(html_url, "ø"), "%C3%B8");
}

Test(html, literal_int_and_bound)
{
    html_t h;
    html_init(&h, 16);
    HTML(&h, "<p>");
    html_int(&h, -42);
    HTML(&h, "</p>");
    cr_assert(!html_failed(&h));
    cr_assert(str_eq_cstr(html_str(&h), "<p>-42</p>"));
    HTML(&h, "more than sixteen bytes");
    cr_assert(html_failed(&h), "a write past the maximum is remembered");
    html_free(&h);
}

Test(html, null_cstr_writes_nothing)
{
    html_t h;
    html_init(&h, 64);
    html_textc(&h, NULL);
    html_attrc(&h, NULL);
    html_urlc(&h, NULL);
    cr_assert_eq(html_str(&h).len, 0);
    html_free(&h);
}

Test(form, parses_and_decodes)
{
    arena_t *a = arena_new(1 << 16);
    struct http_form f;
    err_t err;
    cr_assert_eq(http_form_read(a, STR("csrf=abc&name=Anne+B%C3%B8g&felt=A%2FB&felt=C%2FD&empty="),
                                &web_form_rules, &f, &err),
                 0);
    cr_assert_eq(f.n, 5);
    cr_assert(str_eq_cstr(form_get(&f, "name"), "Anne Bøg"));
    cr_assert(str_eq_cstr(form_get(&f, "felt"), "A/B"), "the first of repeated names");
    cr_assert(str_eq_cstr(f.values[3], "C/D"));
    cr_assert(str_eq_cstr(form_get(&f, "csrf"), "abc"), "the last pair is read too");
    cr_assert_eq(form_get(&f, "absent").len, 0);
    arena_free(a);
}

Test(form, refuses_bad_escapes_nul_and_bad_utf8)
{
    arena_t *a = arena_new(1 << 16);
    struct http_form f;
    err_t err;
    cr_assert_neq(http_form_read(a, STR("a=%zz"), &web_form_rules, &f, &err), 0);
    cr_assert_neq(http_form_read(a, STR("a=%4"), &web_form_rules, &f, &err), 0);
    cr_assert_neq(http_form_read(a, STR("a=x%00y"), &web_form_rules, &f, &err), 0);
    cr_assert_neq(http_form_read(a, STR("purpose=x%00y"), &web_form_rules, &f, &err), 0);
    cr_assert_neq(http_form_read(a, STR("a=%C3%28"), &web_form_rules, &f, &err), 0);
    arena_free(a);
}

Test(form, only_textareas_hold_lines)
{
    arena_t *a = arena_new(1 << 16);
    struct http_form f;
    err_t err;
    cr_assert_eq(http_form_read(a, STR("purpose=a%0D%0Ab&certificate=-----BEGIN%0A"),
                                &web_form_rules, &f, &err),
                 0);
    cr_assert(str_eq_cstr(f.values[0], "a\r\nb"));
    err_clear(&err);
    cr_assert_neq(http_form_read(a, STR("name=a%0Ab"), &web_form_rules, &f, &err), 0);
    cr_assert_str_eq(err.param, "name");
    arena_free(a);
}

Test(form, errors_by_field)
{
    struct form_errors fe = {0};
    form_error(&fe, "cvr", "bad");
    form_error(&fe, "", "general");
    cr_assert_str_eq(form_error_for(&fe, "cvr"), "bad");
    cr_assert_null(form_error_for(&fe, "name"));
    cr_assert_null(form_error_for(NULL, "cvr"));
}

/* ---- the pages' messages choose by reason (core/problem.h), never by the
 * English detail: each err below carries a detail that would mislead a
 * page that read it ---- */

static err_t refusal_err(int code, const char *slug, const char *param, const char *detail)
{
    err_t e;
    err_refuse(&e, code, slug, param, "%s", detail);
    return e;
}

Test(web_messages, identity_refusals_by_reason)
{
    err_t e = refusal_err(DUPLA_ECONFLICT, PROBLEM_ALREADY_SUSPENDED, "status", "closed revoked");
    cr_assert_str_eq(pages_org_refusal(e.code, &e), "Den er allerede suspenderet.");
    e = refusal_err(DUPLA_ECONFLICT, PROBLEM_ORG_CLOSED, "status", "suspended");
    cr_assert_str_eq(pages_org_refusal(e.code, &e),
                     "Organisationen er lukket og kan ikke genåbnes.");
    e = refusal_err(DUPLA_ECONFLICT, PROBLEM_ALREADY_ACTIVE, "status", "suspended closed");
    cr_assert_str_eq(pages_org_refusal(e.code, &e), "Den er allerede aktiv.");
    e = refusal_err(DUPLA_ECONFLICT, PROBLEM_LAST_ADMINISTRATOR, "role", "already");
    cr_assert(strstr(pages_org_refusal(e.code, &e), "sidste aktive administrator og beholder"));
    e = refusal_err(DUPLA_ECONFLICT, PROBLEM_LAST_ADMINISTRATOR, "user", "itself");
    cr_assert(strstr(pages_org_refusal(e.code, &e), "kan ikke suspenderes"));
    e = refusal_err(DUPLA_ECONFLICT, PROBLEM_SELF_SUSPENSION, "user", "last active administrator");
    cr_assert_str_eq(pages_org_refusal(e.code, &e), "Du kan ikke suspendere dig selv.");
    e = refusal_err(DUPLA_ECONFLICT, PROBLEM_OWN_ADMIN_ROLE, "role", "already");
    cr_assert_str_eq(pages_org_refusal(e.code, &e),
                     "Du kan ikke fjerne din egen administratorrolle.");
    e = refusal_err(DUPLA_ECONFLICT, PROBLEM_ROLE_HELD, "role", "own administrator");
    cr_assert_str_eq(pages_org_refusal(e.code, &e), "Brugeren har allerede rollen.");
    e = refusal_err(DUPLA_ECONFLICT, PROBLEM_ROLE_NOT_HELD, "role", "already");
    cr_assert_str_eq(pages_org_refusal(e.code, &e), "Brugeren har ikke rollen.");
    e = refusal_err(DUPLA_ECONFLICT, PROBLEM_DATA_OWNER_FIXED, "org", "closed");
    cr_assert_str_eq(pages_org_refusal(e.code, &e),
                     "Skatteforvaltningen (dataejeren) kan ikke suspenderes.");
    /* same-name conflicts have their own reasons; the parameter does not decide */
    e = refusal_err(DUPLA_ECONFLICT, PROBLEM_USERNAME_TAKEN, "admin_username", "CVR exists");
    cr_assert_str_eq(pages_org_refusal(e.code, &e), "Brugernavnet er allerede i brug.");
    e = refusal_err(DUPLA_ECONFLICT, PROBLEM_ORG_EXISTS, "cvr", "the username is taken");
    cr_assert_str_eq(pages_org_refusal(e.code, &e), "Organisationen er allerede tilsluttet.");
    e = refusal_err(DUPLA_ECONFLICT, PROBLEM_ORG_CLOSED, "cvr", "exists");
    cr_assert_str_eq(pages_org_refusal(e.code, &e),
                     "Organisationen er lukket og kan ikke genåbnes.");
}

Test(web_messages, system_refusals_by_reason)
{
    err_t e = refusal_err(DUPLA_ECONFLICT, PROBLEM_REVOCATION_FINAL, "status", "already active");
    cr_assert_str_eq(web_system_refusal(e.code, &e),
                     "Systemet er spærret, og en spærring kan ikke fortrydes.");
    e = refusal_err(DUPLA_ECONFLICT, PROBLEM_ALREADY_SUSPENDED, "status", "revoked");
    cr_assert_str_eq(web_system_refusal(e.code, &e), "Systemet har allerede den status.");
    e = refusal_err(DUPLA_ECONFLICT, PROBLEM_CERT_REGISTERED, "certificate", "name taken");
    cr_assert(strstr(web_system_refusal(e.code, &e), "Certifikatet er allerede registreret"));
    e = refusal_err(DUPLA_ECONFLICT, PROBLEM_SYSTEM_NAME_TAKEN, "name", "registered already");
    cr_assert_str_eq(web_system_refusal(e.code, &e),
                     "Organisationen har allerede et system med det navn.");
}

Test(web_messages, disclosure_reasons_by_slug)
{
    cr_assert_str_eq(web_reason_label(PROBLEM_AGREEMENT_SUSPENDED), "aftalen er suspenderet");
    cr_assert_str_eq(web_reason_label(PROBLEM_AGREEMENT_REVOKED), "aftalen er tilbagekaldt");
    cr_assert_str_eq(web_reason_label(PROBLEM_FIELD_NOT_GRANTED), "et felt uden for aftalen");
    cr_assert_str_eq(web_reason_label(PROBLEM_REGISTRY_UNAVAILABLE),
                     "aftaleregistret var ikke tilgængeligt");
    /* entries written before the slug was renamed keep their label */
    cr_assert_str_eq(web_reason_label("agreement-registry-unavailable"),
                     "aftaleregistret var ikke tilgængeligt");
    cr_assert_null(web_reason_label("agreement_suspended"));
}

Test(web_messages, agreement_period_by_reason)
{
    /* the reason decides, whatever the detail says */
    err_t e = refusal_err(DUPLA_EINVAL, PROBLEM_PERIOD_REVERSED, "valid_to", "not a date");
    const char *form_id = NULL;
    cr_assert_str_eq(page_agreement_member_error(NULL, &e, &form_id),
                     "Slutdatoen ligger før startdatoen.");
    e = refusal_err(DUPLA_EINVAL, PROBLEM_INVALID_REQUEST, "valid_to", "valid_to is before");
    cr_assert_str_eq(page_agreement_member_error(NULL, &e, &form_id),
                     "Skriv datoen som åååå-mm-dd (en dato, der findes).");
}

/* ---- the one identity user -> module actor adapter (web/actor.h) ---- */

static identity_actor_t user_actor(bool data_owner, unsigned roles)
{
    identity_actor_t ia;
    memset(&ia, 0, sizeof ia);
    ia.kind = ACTOR_USER;
    snprintf(ia.user_id, sizeof ia.user_id, "0190a6f2-0000-7000-8000-000000000001");
    snprintf(ia.org_id, sizeof ia.org_id, "0190a6f2-0000-7000-8000-000000000002");
    snprintf(ia.username, sizeof ia.username, "bo@a.dk");
    ia.data_owner = data_owner;
    ia.roles = roles;
    return ia;
}

Test(web_actor, agreement_incident_and_audit_alike)
{
    identity_actor_t rec = user_actor(false, ROLE_ADMINISTRATOR | ROLE_SIGNATORY);
    struct agreement_actor aa;
    cr_assert_eq(web_actor_agreement(NULL, &rec, "12345678", &aa, NULL), 0);
    cr_assert_str_eq(aa.user_ref, rec.user_id);
    cr_assert_str_eq(aa.user_name, "bo@a.dk");
    cr_assert_str_eq(aa.org_cvr, "12345678");
    cr_assert_eq(aa.roles, AGREEMENT_ROLE_ADMINISTRATOR | AGREEMENT_ROLE_SIGNATORY);
    struct incident_actor inc;
    cr_assert_eq(web_actor_incident(NULL, &rec, "12345678", &inc, NULL), 0);
    cr_assert_eq(inc.roles, INCIDENT_ROLE_MEMBER);
    cr_assert_str_eq(inc.org_cvr, "12345678");
    cr_assert_str_eq(inc.email, "bo@a.dk");
    struct audit_http_caller au;
    cr_assert_eq(web_actor_audit(NULL, &rec, "12345678", &au, NULL), 0);
    cr_assert_eq(au.roles, AUDIT_CALLER_RECIPIENT_ADMIN);
    cr_assert_str_eq(au.org_cvr, "12345678");

    /* a recipient's non-administrator sees no disclosures */
    identity_actor_t proc = user_actor(false, ROLE_PROCESSOR);
    cr_assert_eq(web_actor_audit(NULL, &proc, "12345678", &au, NULL), 0);
    cr_assert_eq(au.roles, 0u);

    /* the data owner's staff: no CVR, staff in incident and audit */
    identity_actor_t dfv = user_actor(true, ROLE_DATAFORVALTNING);
    cr_assert_eq(web_actor_agreement(NULL, &dfv, "87654321", &aa, NULL), 0);
    cr_assert_str_eq(aa.org_cvr, "");
    cr_assert_eq(web_actor_incident(NULL, &dfv, "87654321", &inc, NULL), 0);
    cr_assert_eq(inc.roles, INCIDENT_ROLE_STAFF);
    cr_assert_str_eq(inc.org_cvr, "");
    cr_assert_eq(web_actor_audit(NULL, &dfv, "87654321", &au, NULL), 0);
    cr_assert_eq(au.roles, AUDIT_CALLER_STAFF);
    /* ... and the data owner's other users are neither */
    identity_actor_t owner_admin = user_actor(true, ROLE_ADMINISTRATOR);
    cr_assert_eq(web_actor_incident(NULL, &owner_admin, NULL, &inc, NULL), 0);
    cr_assert_eq(inc.roles, 0u);
    cr_assert_eq(web_actor_audit(NULL, &owner_admin, NULL, &au, NULL), 0);
    cr_assert_eq(au.roles, 0u);
}

Test(agreement_form, a_field_box_value_splits_at_the_last_slash)
{
    str_t svc, field;
    cr_assert(page_split_field(STR("Momsangivelse/Salgsmoms"), &svc, &field));
    cr_assert(str_eq_cstr(svc, "Momsangivelse") && str_eq_cstr(field, "Salgsmoms"));
    cr_assert(
        page_split_field(STR("Kontrolregistreringer/Virksomhed/KontrolTypeKode"), &svc, &field));
    cr_assert(str_eq_cstr(svc, "Kontrolregistreringer/Virksomhed"));
    cr_assert(str_eq_cstr(field, "KontrolTypeKode"));
    cr_assert(!page_split_field(STR("Momsangivelse/"), &svc, &field));
    cr_assert(!page_split_field(STR("/Salgsmoms"), &svc, &field));
    cr_assert(!page_split_field(STR("Salgsmoms"), &svc, &field));
}
