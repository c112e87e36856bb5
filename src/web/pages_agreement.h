/*
 * pages_agreement.h: what the agreement pages' files share (not a contract
 * for the rest of the web module, which only sees pages_agreement_register).
 *
 *   pages_agreement.c        the list, the review queue, signing, the
 *                            decision, the printable document, the routes
 *   pages_agreement_form.c   the application form: a new draft, editing a
 *                            draft and a change request on an approved one
 *   pages_agreement_view.c   one agreement: its versions, what a change
 *                            changes, the decision form
 *   pages_agreement_steps.c  withdraw, terminate, suspend, reactivate,
 *                            revoke; every refusal of the module in Danish
 */
#ifndef DUPLA_WEB_PAGES_AGREEMENT_H
#define DUPLA_WEB_PAGES_AGREEMENT_H

#include "web/internal.h"

/* The string member key of o, or "" (never NULL). */
const char *page_json_str(const json_t *o, const char *key);
/* "Service/Field" -> the two names (both non-empty), split at the last '/'
 * (a service path may hold '/'). */
bool page_split_field(str_t v, str_t *svc, str_t *field);

/* ---- pages_template.c: the purpose categories and recipient kinds ---- */

/* (value, Danish label) of each, the first the empty "not stated". */
#define WEB_PURPOSE_CATEGORIES 5
extern const char *const web_purpose_categories[WEB_PURPOSE_CATEGORIES][2];
#define WEB_RECIPIENT_KINDS 3
extern const char *const web_recipient_kinds[WEB_RECIPIENT_KINDS][2];
/* The Danish label of a value ("Ikke angivet" for none or an unknown one). */
const char *web_purpose_category_label(const char *value);
const char *web_recipient_kind_label(const char *value);

/* ---- pages_budget.c ---- */
/* The agreement's rate budget (doc is its document JSON), with the form
 * that changes it for the data owner's dataforvaltning. */
void page_agreement_budget(struct web_ctx *cx, const json_t *doc, str_t id,
                           const struct form_errors *fe);
/* POST /aftaler/budget: id, rate_per_second, burst. */
int page_agreement_budget_post(struct web_ctx *cx, err_t *err);

/* ---- pages_agreement_form.c ---- */

/* The catalogue as one fieldset per service, each business field a checkbox
 * named "felt" with the value "Service/Field", labelled with its name and
 * Danish description; ids are prefix<service>-<field>. checked says which
 * are ticked, offered (may be NULL: all) which are shown. */
void page_agreement_field_boxes(struct web_ctx *cx, const char *prefix,
                                bool (*checked)(void *, const char *, const char *), void *cctx,
                                bool (*offered)(void *, const char *, const char *));
/* GET|POST /aftaler/ny and /aftaler/rediger. */
int page_agreement_new(struct web_ctx *cx, err_t *err);
int page_agreement_edit(struct web_ctx *cx, err_t *err);

/* ---- pages_agreement_view.c ---- */

/* Renders the agreement page for id into cx->h (with fe's messages at the
 * top and at their fields). *status becomes 404 when the user may not see
 * it; it is left alone otherwise. */
void page_agreement_view(struct web_ctx *cx, str_t id, const struct form_errors *fe,
                         unsigned *status);

/* ---- pages_agreement_steps.c ---- */

/* "Redigér" (the pending draft) or "Ansøg om ændring" (an approved
 * agreement) when the user is a processor of the organisation. */
void page_agreement_edit_link(struct web_ctx *cx, const json_t *doc, str_t id);
/* The forms that end or pause: withdraw, terminate, suspend, reactivate,
 * revoke on the agreement doc (its document JSON); only those the user's
 * roles and the states allow (the module decides again when one is posted). */
void page_agreement_step_forms(struct web_ctx *cx, const json_t *doc, str_t id,
                               const struct form_errors *fe);
/* A Danish sentence for the module's refusal rc (with e) of action on
 * agreement id, naming the state the agreement is in for a conflict
 * (arena memory, or a static string). */
const char *page_agreement_refusal(struct web_ctx *cx, str_t id, enum agreement_action action,
                                   int rc, const err_t *e);
/* The page's status for the module's refusal rc: 403, 404, 409, 400 or 500. */
unsigned page_agreement_refusal_status(int rc);
/* The Danish name of the application member the module named in param
 * ("Titel", "Formål", ...), or NULL when param is not one; *form_id (may be
 * NULL) gets the id of the form's input for it ("" if none). */
const char *page_agreement_member_label(const char *param, const char **form_id);
/* A Danish message for the module's refusal of an application (EINVAL
 * naming a member), or NULL when e names none; *form_id as above. Arena
 * memory or static. */
const char *page_agreement_member_error(struct web_ctx *cx, const err_t *e, const char **form_id);
/* POST /aftaler/status: handling = traek-tilbage | opsig | suspender |
 * genaktiver | tilbagekald, each with its reason. */
int page_agreement_status(struct web_ctx *cx, err_t *err);

#endif
