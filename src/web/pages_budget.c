/*
 * pages_budget.c: an agreement's rate budget on its page (#21.5).
 *
 *   POST /aftaler/budget   id, rate_per_second, burst (both empty: the default)
 *
 * Everyone who sees the agreement sees its budget; the data owner's
 * dataforvaltning changes it (agreement_set_rate decides), and the data path
 * sizes the agreement's buckets by it from the next call.
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "web/pages_agreement.h"

/* See pages_agreement.h. */
void page_agreement_budget(struct web_ctx *cx, const json_t *doc, str_t id,
                           const struct form_errors *fe)
{
    html_t *h = &cx->h;
    const json_t *b = json_object_get(doc, "rate_budget");
    json_t *rate = json_object_get(b, "rate_per_second"), *burst = json_object_get(b, "burst");
    HTML(h, "<h2>Budget for kald</h2><p>");
    if (json_is_integer(rate) && json_is_integer(burst)) {
        html_int(h, json_integer_value(rate));
        HTML(h, " kald i sekundet pr. system, højst ");
        html_int(h, json_integer_value(burst));
        HTML(h, " i træk.");
    } else {
        HTML(h, "Platformens standardbudget (fra konfigurationen).");
    }
    HTML(h, " Hvert svar viser med headerne <code>RateLimit</code> og "
            "<code>RateLimit-Policy</code>, hvor meget der er tilbage.</p>");
    if (!cx->actor.data_owner || !identity_actor_has(&cx->actor, ROLE_DATAFORVALTNING))
        return;
    char r[24] = "", bu[24] = "";
    if (json_is_integer(rate))
        snprintf(r, sizeof r, "%lld", (long long)json_integer_value(rate));
    if (json_is_integer(burst))
        snprintf(bu, sizeof bu, "%lld", (long long)json_integer_value(burst));
    bool post = http_req_method(cx->req) == HTTP_POST && form_error_for(fe, "rate_per_second");
    HTML(h, "<form method=\"post\" action=\"/aftaler/budget\" novalidate>");
    form_csrf(cx);
    HTML(h, "<input type=\"hidden\" name=\"id\" value=\"");
    html_attr(h, id);
    HTML(h, "\">");
    form_input(cx, fe, "rate_per_second", "Kald i sekundet pr. system", "text",
               post ? form_get(&cx->form, "rate_per_second") : str_from_cstr(r),
               "Tom: standardbudgettet");
    form_input(cx, fe, "burst", "Højst i træk", "text",
               post ? form_get(&cx->form, "burst") : str_from_cstr(bu), "Tom: standardbudgettet");
    HTML(h, "<button class=\"button button-secondary\" type=\"submit\">Gem budget</button>"
            "</form>");
}

static bool number(str_t s, unsigned *out)
{
    int64_t v = 0;
    if (s.len == 0) {
        *out = 0;
        return true;
    }
    if (!str_is_digits(s) || s.len > 7 || str_to_int64(s, &v) != 0 || v < 1 ||
        v > AGREEMENT_RATE_MAX)
        return false;
    *out = (unsigned)v;
    return true;
}

/* POST /aftaler/budget. */
int page_agreement_budget_post(struct web_ctx *cx, err_t *err)
{
    (void)err;
    str_t id = form_get(&cx->form, "id");
    unsigned rate = 0, burst = 0;
    struct form_errors fe = {0};
    if (!number(form_get(&cx->form, "rate_per_second"), &rate))
        form_error(&fe, "rate_per_second",
                   "Skriv et helt tal fra 1 til 100000, eller lad feltet "
                   "stå tomt for standardbudgettet.");
    if (!number(form_get(&cx->form, "burst"), &burst))
        form_error(&fe, "burst",
                   "Skriv et helt tal fra 1 til 100000, eller lad feltet stå tomt "
                   "for standardbudgettet.");
    if (fe.n == 0 && (rate == 0) != (burst == 0))
        form_error(&fe, rate == 0 ? "rate_per_second" : "burst",
                   "Udfyld begge felter, eller lad begge stå tomme for standardbudgettet.");
    int rc = 0;
    if (fe.n == 0) {
        struct agreement_actor aa;
        web_agreement_actor(cx, &aa);
        err_t e;
        err_clear(&e);
        rc = agreement_set_rate(cx->w->deps.agreement, &aa, id, rate, burst, &e);
        if (rc == 0) {
            char *loc =
                arena_printf(http_req_arena(cx->req), "/aftaler/vis?id=%.*s&ok=budget",
                             (int)(id.len > AGREEMENT_ID_LEN ? AGREEMENT_ID_LEN : id.len), id.ptr);
            return web_redirect(cx->req, loc ? loc : "/aftaler");
        }
        if (rc != DUPLA_EFORBIDDEN && rc != DUPLA_ENOTFOUND)
            log_warn("web: rate budget: %s", e.log);
        form_error(&fe, "",
                   rc == DUPLA_EFORBIDDEN  ? "Kun Skatteforvaltningens dataforvaltning "
                                             "kan ændre budgettet."
                   : rc == DUPLA_ENOTFOUND ? "Aftalen findes ikke."
                                           : "Budgettet kunne ikke gemmes lige nu.");
    }
    unsigned status = fe.n && rc == 0 ? 400 : page_agreement_refusal_status(rc);
    page_agreement_view(cx, id, &fe, &status);
    return web_reply_page(cx, status);
}
