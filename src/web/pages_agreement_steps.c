/*
 * pages_agreement_steps.c: the steps that end or pause an agreement or an
 * application, each with a reason, and the module's refusals in Danish.
 *
 *   POST /aftaler/status   id, handling, and the handling's reason:
 *     traek-tilbage  (traek-begrundelse)   the organisation withdraws its
 *                                          pending application (processor)
 *     opsig          (opsig-begrundelse)   the organisation ends its active
 *                                          agreement (signatory, administrator)
 *     suspender, genaktiver, tilbagekald   the data owner (dataforvaltning)
 *                    (status-begrundelse)
 *
 * The forms are shown only to those the module would allow; a post by
 * anybody else reaches the module all the same, which refuses it, and the
 * page then says why in Danish (403 for the role, 404 for an agreement the
 * user may not see, 409 for the state, naming the state it is in).
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "web/pages_agreement.h"

/* ---- the module's refusals in Danish ---- */

static const struct {
    const char *param, *label, *form_id;
} members[] = {
    {"title", "Titel", "title"},
    {"purpose_category", "Kategori", "purpose_category"},
    {"recipient_kind", "Aftageren er", "recipient_kind"},
    {"purpose", "Formål", "purpose"},
    {"legal_basis", "Hjemmel", "law"},
    {"valid_from", "Gyldig fra", "valid_from"},
    {"valid_to", "Gyldig til", "valid_to"},
    {"services", "Data", "felter"},
    {"systems", "Systemer", "system-0"},
    {"contact.name", "Kontaktperson: navn", "contact_name"},
    {"contact.email", "Kontaktperson: e-mail", "contact_email"},
    {"contact.phone", "Kontaktperson: telefon", "contact_phone"},
    {"contact", "Kontaktperson", "contact_name"},
    {"expected_volume", "Forventet omfang", ""},
};

/* See pages_agreement.h. A param names a member or one inside it
 * ("services.Momsangivelse", "legal_basis[0]"). */
const char *page_agreement_member_label(const char *param, const char **form_id)
{
    for (size_t i = 0; param && i < sizeof members / sizeof members[0]; i++) {
        size_t n = strlen(members[i].param);
        if (strncmp(param, members[i].param, n) == 0 &&
            (param[n] == '\0' || param[n] == '.' || param[n] == '[')) {
            if (form_id)
                *form_id = members[i].form_id;
            return members[i].label;
        }
    }
    return NULL;
}

/* See pages_agreement.h. */
const char *page_agreement_member_error(struct web_ctx *cx, const err_t *e, const char **form_id)
{
    const char *label = page_agreement_member_label(e->param, form_id);
    if (!label)
        return NULL;
    if (strncmp(e->param, "services", 8) == 0)
        return "Et af de valgte felter findes ikke i kataloget. Vælg felterne igen.";
    if (strcmp(e->param, "systems") == 0)
        return "Et af de valgte systemer findes ikke, eller det tilhører ikke organisationen.";
    if (strcmp(e->param, "contact.email") == 0)
        return "Skriv en gyldig e-mailadresse.";
    if (err_is(e, PROBLEM_PERIOD_REVERSED))
        return "Slutdatoen ligger før startdatoen.";
    if (strncmp(e->param, "valid_", 6) == 0)
        return "Skriv datoen som åååå-mm-dd (en dato, der findes).";
    if (strcmp(e->param, "expected_volume") == 0)
        return "Ansøgningens forventede omfang er ugyldigt. Kontakt Skatteforvaltningen.";
    /* A text member: missing, too long or with control characters. */
    char *m =
        arena_printf(http_req_arena(cx->req),
                     "%s mangler, er for lang eller indeholder tegn, der ikke er tilladt.", label);
    return m ? m : "Ansøgningen er ugyldig.";
}

/* The verb of a step, as in "Du kan ikke <verb> aftalen". */
static const char *action_verb(enum agreement_action a)
{
    switch (a) {
    case AGREEMENT_EDIT:
        return "rette";
    case AGREEMENT_SIGN:
        return "underskrive";
    case AGREEMENT_APPROVE:
        return "godkende";
    case AGREEMENT_REJECT:
        return "afvise";
    case AGREEMENT_RETURN:
        return "sende";
    case AGREEMENT_WITHDRAW:
        return "trække";
    case AGREEMENT_SUSPEND:
        return "suspendere";
    case AGREEMENT_REACTIVATE:
        return "genaktivere";
    case AGREEMENT_REVOKE:
        return "tilbagekalde";
    case AGREEMENT_TERMINATE:
        return "opsige";
    default:
        return "ændre";
    }
}

/* What follows "aftalen" for verbs with a particle. */
static const char *action_particle(enum agreement_action a)
{
    return a == AGREEMENT_RETURN || a == AGREEMENT_WITHDRAW ? " tilbage" : "";
}

static const char *action_role(enum agreement_action a)
{
    switch (a) {
    case AGREEMENT_EDIT:
    case AGREEMENT_WITHDRAW:
        return "behandler i aftalens organisation";
    case AGREEMENT_SIGN:
        return "underskriver i aftalens organisation";
    case AGREEMENT_TERMINATE:
        return "underskriver eller administrator i aftalens organisation";
    default:
        return "dataforvaltning hos Skatteforvaltningen";
    }
}

/* Does the step concern the pending version (else the serving one)? */
static bool on_pending(enum agreement_action a)
{
    return a == AGREEMENT_EDIT || a == AGREEMENT_SIGN || a == AGREEMENT_APPROVE ||
           a == AGREEMENT_REJECT || a == AGREEMENT_RETURN || a == AGREEMENT_WITHDRAW;
}

/* The state the agreement is in, as the step sees it: "aftalen har status
 * «Godkendt» og ingen ansøgning venter", ... (arena memory). */
static const char *state_text(struct web_ctx *cx, str_t id, enum agreement_action action)
{
    arena_t *a = http_req_arena(cx->req);
    struct agreement_actor aa;
    web_agreement_actor(cx, &aa);
    json_t *doc = NULL;
    err_t e;
    err_clear(&e);
    if (agreement_document_json(cx->w->deps.agreement, &aa, id, &doc, &e) != 0)
        return "aftalen kunne ikke læses";
    const json_t *pending = json_object_get(doc, "pending");
    const json_t *serving = json_object_get(doc, "serving");
    const char *status = web_state_label(page_json_str(doc, "status"));
    char *t;
    if (action == AGREEMENT_EDIT && json_is_object(pending) &&
        strcmp(page_json_str(pending, "state"), "submitted") == 0)
        t = arena_printf(a,
                         "ansøgningen (version %lld) er underskrevet og venter på "
                         "Skatteforvaltningen; den kan trækkes tilbage, men ikke rettes",
                         (long long)json_integer_value(json_object_get(pending, "version")));
    else if (action == AGREEMENT_EDIT && !json_is_object(pending))
        t = arena_printf(a, "aftalen har status «%s»; ansøg i stedet om en ny aftale", status);
    else if (action == AGREEMENT_APPROVE && json_is_object(serving) &&
             strcmp(page_json_str(serving, "state"), "suspended") == 0)
        t = arena_printf(a, "den gældende version er suspenderet; genaktivér eller tilbagekald "
                            "den først");
    else if (on_pending(action) && json_is_object(pending))
        t = arena_printf(a, "ansøgningen (version %lld) har status «%s»",
                         (long long)json_integer_value(json_object_get(pending, "version")),
                         web_state_label(page_json_str(pending, "state")));
    else if (on_pending(action))
        t = arena_printf(a, "aftalen har status «%s», og ingen ansøgning venter", status);
    else if (json_is_object(serving))
        t = arena_printf(a, "aftalen har status «%s»", status);
    else
        t = arena_printf(a, "aftalen er ikke godkendt endnu (status «%s»)", status);
    json_decref(doc);
    return t ? t : "aftalens status tillader det ikke";
}

/* See pages_agreement.h. */
const char *page_agreement_refusal(struct web_ctx *cx, str_t id, enum agreement_action action,
                                   int rc, const err_t *e)
{
    arena_t *a = http_req_arena(cx->req);
    const char *verb = action_verb(action), *particle = action_particle(action);
    char *m = NULL;
    switch (rc) {
    case DUPLA_ENOTFOUND:
        return "Aftalen findes ikke, eller du har ikke adgang til den.";
    case DUPLA_EFORBIDDEN:
        if (err_is(e, PROBLEM_FOUR_EYES))
            return "Du kan ikke underskrive en ansøgning, som du selv har udarbejdet eller "
                   "senest rettet. En anden underskriver i organisationen skal underskrive "
                   "(fire øjne).";
        m = arena_printf(a, "Du kan ikke %s aftalen%s: det kræver rollen %s.", verb, particle,
                         action_role(action));
        break;
    case DUPLA_ECONFLICT:
        if (err_is(e, PROBLEM_CONCURRENT_CHANGE))
            return "Aftalen blev ændret af en anden samtidig. Se den igen, og prøv forfra.";
        m = arena_printf(a, "Du kan ikke %s aftalen%s, fordi %s.", verb, particle,
                         state_text(cx, id, action));
        break;
    case DUPLA_EINVAL: {
        const char *label = page_agreement_member_label(e->param, NULL);
        if (strcmp(e->param, "reason") == 0)
            return "Skriv en begrundelse på højst 2000 tegn.";
        if (strcmp(e->param, "assessment") == 0)
            return "Skriv proportionalitetsvurderingen (højst 8000 tegn).";
        if (strcmp(e->param, "granted") == 0 || strncmp(e->param, "granted.", 8) == 0)
            return "Der kan kun bevilges felter, som der er ansøgt om.";
        if (action == AGREEMENT_APPROVE && strcmp(e->param, "valid_to") == 0)
            return "Ansøgningens gyldighedsperiode er allerede udløbet. Send den tilbage, så "
                   "organisationen kan angive en ny periode.";
        if (action == AGREEMENT_SIGN && label)
            m = arena_printf(a,
                             "Ansøgningen er ikke fuldstændig: «%s» mangler eller er ugyldig. "
                             "Ret kladden først.",
                             label);
        else if (label)
            m = arena_printf(a, "Ansøgningen er ugyldig: «%s» skal rettes.", label);
        else
            return "Aftalens id er ugyldigt.";
        break;
    }
    default:
        return "Handlingen kunne ikke gennemføres lige nu. Prøv igen senere.";
    }
    return m ? m : "Handlingen blev afvist.";
}

/* See pages_agreement.h. */
unsigned page_agreement_refusal_status(int rc)
{
    switch (rc) {
    case DUPLA_EFORBIDDEN:
        return 403;
    case DUPLA_ENOTFOUND:
        return 404;
    case DUPLA_ECONFLICT:
        return 409;
    case DUPLA_EINVAL:
        return 400;
    default:
        return 500;
    }
}

/* ---- the forms on the agreement page ---- */

static void step_form_open(struct web_ctx *cx, const char *heading, const char *text, str_t id)
{
    html_t *h = &cx->h;
    HTML(h, "<h2>");
    html_textc(h, heading);
    HTML(h, "</h2><p>");
    html_textc(h, text);
    HTML(h, "</p><form method=\"post\" action=\"/aftaler/status\" novalidate>");
    form_csrf(cx);
    HTML(h, "<input type=\"hidden\" name=\"id\" value=\"");
    html_attr(h, id);
    HTML(h, "\">");
}

/* See pages_agreement.h. */
void page_agreement_edit_link(struct web_ctx *cx, const json_t *doc, str_t id)
{
    html_t *h = &cx->h;
    const json_t *pending = json_object_get(doc, "pending");
    const char *pstate = json_is_object(pending) ? page_json_str(pending, "state") : "";
    const char *status = page_json_str(doc, "status");
    bool processor = !cx->actor.data_owner && identity_actor_has(&cx->actor, ROLE_PROCESSOR);
    if (processor && strcmp(pstate, "draft") == 0) {
        HTML(h, "<p><a class=\"button button-secondary\" href=\"/aftaler/rediger?id=");
        html_url(h, id);
        HTML(h, "\">Redigér</a></p>");
    } else if (processor && !json_is_object(pending) && strcmp(status, "approved") == 0) {
        HTML(h, "<p><a class=\"button button-secondary\" href=\"/aftaler/rediger?id=");
        html_url(h, id);
        HTML(h, "\">Ansøg om ændring</a></p>");
    }
}

/* See pages_agreement.h. */
void page_agreement_step_forms(struct web_ctx *cx, const json_t *doc, str_t id,
                               const struct form_errors *fe)
{
    html_t *h = &cx->h;
    const json_t *pending = json_object_get(doc, "pending");
    const char *pstate = json_is_object(pending) ? page_json_str(pending, "state") : "";
    const char *status = page_json_str(doc, "status");
    bool recipient = !cx->actor.data_owner;
    bool processor = recipient && identity_actor_has(&cx->actor, ROLE_PROCESSOR);
    if (processor && (strcmp(pstate, "draft") == 0 || strcmp(pstate, "submitted") == 0)) {
        bool change = json_is_object(json_object_get(doc, "serving"));
        step_form_open(cx, change ? "Træk ændringen tilbage" : "Træk ansøgningen tilbage",
                       change ? "Ændringen opgives; den godkendte aftale gælder uændret."
                              : "Ansøgningen opgives og kan ikke genoptages.",
                       id);
        form_textarea(cx, fe, "traek-begrundelse", "Begrundelse for at trække tilbage",
                      form_get(&cx->form, "traek-begrundelse"), NULL);
        HTML(h, "<button class=\"button button-secondary\" type=\"submit\" name=\"handling\" "
                "value=\"traek-tilbage\">Træk tilbage</button></form>");
    }
    if (recipient &&
        (identity_actor_has(&cx->actor, ROLE_SIGNATORY) ||
         identity_actor_has(&cx->actor, ROLE_ADMINISTRATOR)) &&
        (strcmp(status, "approved") == 0 || strcmp(status, "suspended") == 0)) {
        step_form_open(cx, "Opsig aftalen",
                       "Når aftalen er opsagt, kan organisationen ikke længere hente data under "
                       "den. En ændring, der venter, trækkes tilbage. Opsigelsen er endelig.",
                       id);
        form_textarea(cx, fe, "opsig-begrundelse", "Begrundelse for opsigelsen",
                      form_get(&cx->form, "opsig-begrundelse"), NULL);
        HTML(h, "<button class=\"button button-secondary\" type=\"submit\" name=\"handling\" "
                "value=\"opsig\">Opsig aftalen</button></form>");
    }
    if (identity_actor_has(&cx->actor, ROLE_DATAFORVALTNING) &&
        (strcmp(status, "approved") == 0 || strcmp(status, "suspended") == 0)) {
        step_form_open(cx, "Suspendér eller tilbagekald",
                       "En suspenderet aftale kan genaktiveres; en tilbagekaldt aftale er endelig.",
                       id);
        form_textarea(cx, fe, "status-begrundelse", "Begrundelse for ændringen",
                      form_get(&cx->form, "status-begrundelse"), NULL);
        if (strcmp(status, "approved") == 0)
            HTML(h, "<button class=\"button button-secondary\" type=\"submit\" "
                    "name=\"handling\" value=\"suspender\">Suspendér</button> ");
        else
            HTML(h, "<button class=\"button button-secondary\" type=\"submit\" "
                    "name=\"handling\" value=\"genaktiver\">Genaktivér</button> ");
        HTML(h, "<button class=\"button button-secondary\" type=\"submit\" name=\"handling\" "
                "value=\"tilbagekald\">Tilbagekald</button></form>");
    }
}

/* ---- POST /aftaler/status ---- */

static const struct handling {
    const char *name;
    enum agreement_action action;
    const char *reason_field;
    const char *ok;
} handlings[] = {
    {"traek-tilbage", AGREEMENT_WITHDRAW, "traek-begrundelse", "trukket"},
    {"opsig", AGREEMENT_TERMINATE, "opsig-begrundelse", "opsagt"},
    {"suspender", AGREEMENT_SUSPEND, "status-begrundelse", "suspenderet"},
    {"genaktiver", AGREEMENT_REACTIVATE, "status-begrundelse", "genaktiveret"},
    {"tilbagekald", AGREEMENT_REVOKE, "status-begrundelse", "tilbagekaldt"},
};

/* See pages_agreement.h. */
int page_agreement_status(struct web_ctx *cx, err_t *err)
{
    (void)err;
    http_request_t *req = cx->req;
    web_t *w = cx->w;
    str_t id = form_get(&cx->form, "id");
    str_t name = form_get(&cx->form, "handling");
    const struct handling *hd = NULL;
    for (size_t i = 0; i < sizeof handlings / sizeof handlings[0]; i++)
        if (str_eq_cstr(name, handlings[i].name))
            hd = &handlings[i];
    struct form_errors fe = {0};
    unsigned status = 400;
    if (!hd) {
        form_error(&fe, "",
                   "Vælg en handling: træk tilbage, opsig, suspendér, genaktivér eller "
                   "tilbagekald.");
    } else {
        str_t reason = form_get(&cx->form, hd->reason_field);
        if (reason.len == 0)
            form_error(&fe, hd->reason_field, "Skriv en begrundelse.");
        else if (reason.len > AGREEMENT_REASON_MAX)
            form_error(&fe, hd->reason_field, "Begrundelsen må højst være 2000 tegn.");
        if (fe.n == 0) {
            struct agreement_actor aa;
            web_agreement_actor(cx, &aa);
            struct agreement_step args = {.reason = web_cstr(req, reason)};
            err_t e;
            err_clear(&e);
            int rc = agreement_step(w->deps.agreement, &aa, id, hd->action, &args, &e);
            if (rc == 0) {
                char *loc = arena_printf(http_req_arena(req), "/aftaler/vis?id=%s&ok=%s",
                                         web_cstr(req, id), hd->ok);
                return web_redirect(req, loc ? loc : "/aftaler");
            }
            log_info("web: %s refused: %s", agreement_action_name(hd->action), e.log);
            const char *msg = page_agreement_refusal(cx, id, hd->action, rc, &e);
            form_error(&fe, strcmp(e.param, "reason") == 0 ? hd->reason_field : "", msg);
            status = page_agreement_refusal_status(rc);
        }
    }
    page_agreement_view(cx, id, &fe, &status);
    return web_reply_page(cx, status);
}
