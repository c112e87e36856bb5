/* Unit tests: agreement life cycle, roles, versions, history, outbox,
 * document and demo. */
#include "agreement_fixture.h"
#include "core/problem.h"

TestSuite(agreement, .init = fx_setup, .fini = fx_teardown);

#define MOMS_ABC "{\"Momsangivelse\": [\"C\", \"A\", \"B\"]}"

static json_t *doc_of(const struct agreement_actor *a, const char *id)
{
    json_t *doc;
    err_t err;
    cr_assert_eq(agreement_document_json(fx_ag, a, str_from_cstr(id), &doc, &err), 0, "%s",
                 err.detail);
    return doc;
}

static const char *doc_str(json_t *doc, const char *path1, const char *path2)
{
    json_t *v = json_object_get(doc, path1);
    if (path2)
        v = json_object_get(v, path2);
    return json_string_value(v);
}

Test(agreement, whole_life_cycle_with_history_and_mail)
{
    err_t err;
    char id[AGREEMENT_ID_LEN + 1];
    struct agreement_actor p = PROCESSOR, p2 = PROCESSOR2, s = SIGNATORY, r = REVIEWER;
    json_t *app = fx_app(MOMS_ABC, -1, 0);
    cr_assert_eq(agreement_create(fx_ag, &p, ENV_TEST, app, id, &err), 0, "%s", err.detail);
    cr_assert_eq(strlen(id), AGREEMENT_ID_LEN);
    /* A second processor changes the purpose: the history holds the diff. */
    json_object_set_new(app, "purpose", json_string("A better purpose."));
    cr_assert_eq(agreement_edit(fx_ag, &p2, str_from_cstr(id), app, &err), 0, "%s", err.detail);
    json_decref(app);
    cr_assert_eq(agreement_sign(fx_ag, &s, str_from_cstr(id), &err), 0, "%s", err.detail);
    json_t *granted = json_pack("{s:[s, s]}", "Momsangivelse", "A", "B");
    cr_assert_eq(agreement_approve(fx_ag, &r, str_from_cstr(id), "Proportional for A and B.",
                                   granted, NULL, &err),
                 DUPLA_EINVAL, "fewer fields without a reason must be refused");
    cr_assert_str_eq(err.param, "reason");
    cr_assert_eq(agreement_approve(fx_ag, &r, str_from_cstr(id), "Proportional for A and B.",
                                   granted, "C is not needed for the purpose.", &err),
                 0, "%s", err.detail);
    json_decref(granted);

    json_t *doc = doc_of(&p, id);
    cr_assert_str_eq(doc_str(doc, "status", NULL), "approved");
    cr_assert_str_eq(doc_str(doc, "serving", "signed_by"), "sif signatory");
    cr_assert_str_eq(doc_str(doc, "serving", "decided_by"), "rita reviewer");
    cr_assert_str_eq(doc_str(doc, "serving", "grant_reason"), "C is not needed for the purpose.");
    cr_assert_str_eq(doc_str(doc, "serving", "assessment"), "Proportional for A and B.");
    json_t *g = json_object_get(json_object_get(doc, "serving"), "granted");
    cr_assert_eq(json_array_size(json_object_get(g, "Momsangivelse")), 2);
    json_t *h = json_object_get(doc, "history");
    cr_assert_eq(json_array_size(h), 4);
    static const char *const actions[] = {"create", "edit", "sign", "approve"};
    static const char *const tos[] = {"draft", "draft", "submitted", "approved"};
    static const char *const who[] = {"pia processor", "per processor", "sif signatory",
                                      "rita reviewer"};
    for (size_t i = 0; i < 4; i++) {
        json_t *e = json_array_get(h, i);
        cr_assert_str_eq(json_string_value(json_object_get(e, "action")), actions[i]);
        cr_assert_str_eq(json_string_value(json_object_get(e, "to")), tos[i]);
        cr_assert_str_eq(json_string_value(json_object_get(e, "actor")), who[i]);
        cr_assert_not_null(json_string_value(json_object_get(e, "at")));
    }
    cr_assert(json_is_null(json_object_get(json_array_get(h, 0), "from")));
    json_t *edit = json_object_get(json_array_get(h, 1), "changes");
    cr_assert_eq(json_object_size(edit), 1, "only the purpose changed");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(edit, "purpose"), "to")),
                     "A better purpose.");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(edit, "purpose"), "from")),
                     "To check entitlement to housing benefit.");
    json_decref(doc);

    /* Mail: the receipt for the signature and the decision, to the mailbox. */
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE kind = 'agreement-submitted'"),
                 1);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE kind = 'agreement-approved' AND"
                          " recipient = 'kontakt-12345674@org.example' AND state = 'pending' AND"
                          " body LIKE '%C is not needed%'"),
                 1);

    /* The data path sees it at once. */
    bool gr[3];
    str_t fields[] = {STR("A"), STR("B"), STR("C")};
    struct agreement_decision d;
    struct agreement_caller caller = {STR(ORG), STR("sys-1"), ENV_TEST};
    cr_assert_eq(agreement_decide(agreement_registry(fx_ag), &caller, str_from_cstr(id),
                                  STR("Momsangivelse"), fields, 3, false, clock_now_ms(), gr, &d),
                 0);
    cr_assert(gr[0] && gr[1] && !gr[2]);
    cr_assert_eq(d.n_granted, 2);
    cr_assert_eq(d.version, 1);
}

Test(agreement, a_processor_cannot_sign)
{
    err_t err;
    char id[AGREEMENT_ID_LEN + 1];
    struct agreement_actor p = PROCESSOR, p2 = PROCESSOR2;
    json_t *app = fx_app(MOMS_ABC, 0, 0);
    cr_assert_eq(agreement_create(fx_ag, &p, ENV_TEST, app, id, &err), 0);
    json_decref(app);
    cr_assert_eq(agreement_sign(fx_ag, &p2, str_from_cstr(id), &err), DUPLA_EFORBIDDEN);
    cr_assert(strstr(err.detail, "aftager-underskriver"), "%s", err.detail);
}

Test(agreement, the_drafter_cannot_sign_their_own_draft)
{
    err_t err;
    char id[AGREEMENT_ID_LEN + 1];
    struct agreement_actor b = BOTH, s = SIGNATORY;
    json_t *app = fx_app(MOMS_ABC, 0, 0);
    cr_assert_eq(agreement_create(fx_ag, &b, ENV_TEST, app, id, &err), 0);
    json_decref(app);
    cr_assert_eq(agreement_sign(fx_ag, &b, str_from_cstr(id), &err), DUPLA_EFORBIDDEN);
    cr_assert(err_is(&err, PROBLEM_FOUR_EYES), "%s", err.type);
    cr_assert_eq(agreement_sign(fx_ag, &s, str_from_cstr(id), &err), 0, "%s", err.detail);
}

Test(agreement, the_last_editor_cannot_sign)
{
    err_t err;
    char id[AGREEMENT_ID_LEN + 1];
    struct agreement_actor p = PROCESSOR, b = BOTH;
    json_t *app = fx_app(MOMS_ABC, 0, 0);
    cr_assert_eq(agreement_create(fx_ag, &p, ENV_TEST, app, id, &err), 0);
    cr_assert_eq(agreement_edit(fx_ag, &b, str_from_cstr(id), app, &err), 0);
    json_decref(app);
    cr_assert_eq(agreement_sign(fx_ag, &b, str_from_cstr(id), &err), DUPLA_EFORBIDDEN);
    cr_assert(err_is(&err, PROBLEM_FOUR_EYES), "%s", err.type);
}

Test(agreement, a_signatory_cannot_approve_and_a_reviewer_cannot_draft_or_sign)
{
    err_t err;
    char id[AGREEMENT_ID_LEN + 1];
    struct agreement_actor p = PROCESSOR, s = SIGNATORY, r = REVIEWER, o = OPERATOR, a = ADMIN;
    json_t *app = fx_app(MOMS_ABC, 0, 0);
    cr_assert_eq(agreement_create(fx_ag, &r, ENV_TEST, app, id, &err), DUPLA_EFORBIDDEN);
    cr_assert_eq(agreement_create(fx_ag, &p, ENV_TEST, app, id, &err), 0);
    json_decref(app);
    cr_assert_eq(agreement_sign(fx_ag, &r, str_from_cstr(id), &err), DUPLA_EFORBIDDEN);
    cr_assert_eq(agreement_sign(fx_ag, &a, str_from_cstr(id), &err), DUPLA_EFORBIDDEN);
    cr_assert_eq(agreement_sign(fx_ag, &s, str_from_cstr(id), &err), 0);
    cr_assert_eq(agreement_approve(fx_ag, &s, str_from_cstr(id), "x", NULL, NULL, &err),
                 DUPLA_EFORBIDDEN);
    cr_assert_eq(agreement_approve(fx_ag, &o, str_from_cstr(id), "x", NULL, NULL, &err),
                 DUPLA_EFORBIDDEN, "the operator runs the platform; it does not review");
    cr_assert_eq(agreement_approve(fx_ag, &p, str_from_cstr(id), "x", NULL, NULL, &err),
                 DUPLA_EFORBIDDEN);
    /* Org-side steps: the reviewer cannot terminate, the organisation cannot revoke. */
    cr_assert_eq(agreement_approve(fx_ag, &r, str_from_cstr(id), "ok", NULL, NULL, &err), 0);
    cr_assert_eq(agreement_terminate(fx_ag, &r, str_from_cstr(id), "no", &err), DUPLA_EFORBIDDEN);
    cr_assert_eq(agreement_revoke(fx_ag, &s, str_from_cstr(id), "no", &err), DUPLA_EFORBIDDEN);
    cr_assert_eq(agreement_suspend(fx_ag, &a, str_from_cstr(id), "no", &err), DUPLA_EFORBIDDEN);
}

Test(agreement, another_organisation_cannot_see_or_act_on_it)
{
    err_t err;
    char id[AGREEMENT_ID_LEN + 1];
    fx_approved(fx_app(MOMS_ABC, -1, 0), id);
    struct agreement_actor o = OTHER;
    json_t *doc;
    cr_assert_eq(agreement_document_json(fx_ag, &o, str_from_cstr(id), &doc, &err),
                 DUPLA_ENOTFOUND);
    buf_t b;
    buf_init(&b, 1 << 20);
    cr_assert_eq(agreement_document_html(fx_ag, &o, str_from_cstr(id), &b, &err), DUPLA_ENOTFOUND);
    buf_free(&b);
    json_t *app = fx_app(MOMS_ABC, 0, 0);
    cr_assert_eq(agreement_edit(fx_ag, &o, str_from_cstr(id), app, &err), DUPLA_ENOTFOUND);
    json_decref(app);
    cr_assert_eq(agreement_terminate(fx_ag, &o, str_from_cstr(id), "mine now", &err),
                 DUPLA_ENOTFOUND);
    json_t *list;
    cr_assert_eq(agreement_list(fx_ag, &o, NULL, &list, &err), 0);
    cr_assert_eq(json_array_size(list), 0);
    json_decref(list);
    struct agreement_filter f = {.org_cvr = ORG, .state = -1};
    cr_assert_eq(agreement_list(fx_ag, &o, &f, &list, &err), DUPLA_EFORBIDDEN);
    /* Its own users and the data owner do see it. */
    struct agreement_actor s = SIGNATORY, r = REVIEWER;
    cr_assert_eq(agreement_list(fx_ag, &s, NULL, &list, &err), 0);
    cr_assert_eq(json_array_size(list), 1);
    json_decref(list);
    cr_assert_eq(agreement_list(fx_ag, &r, &f, &list, &err), 0);
    cr_assert_eq(json_array_size(list), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "status")),
                     "approved");
    json_decref(list);
    /* And it cannot use it. */
    bool gr[1];
    str_t fields[] = {STR("A")};
    struct agreement_decision d;
    struct agreement_caller caller = {STR(ORG2), STR("sys-1"), ENV_TEST};
    cr_assert_eq(agreement_decide(agreement_registry(fx_ag), &caller, str_from_cstr(id),
                                  STR("Momsangivelse"), fields, 1, false, clock_now_ms(), gr, &d),
                 DUPLA_EFORBIDDEN);
    cr_assert_eq(d.verdict, AGREEMENT_DENY_OTHER_ORG);
}

Test(agreement, return_for_changes_and_reject)
{
    err_t err;
    char id[AGREEMENT_ID_LEN + 1];
    struct agreement_actor p = PROCESSOR, s = SIGNATORY, r = REVIEWER;
    json_t *app = fx_app(MOMS_ABC, 0, 0);
    cr_assert_eq(agreement_create(fx_ag, &p, ENV_TEST, app, id, &err), 0);
    cr_assert_eq(agreement_return(fx_ag, &r, str_from_cstr(id), "why", &err), DUPLA_ECONFLICT,
                 "a draft cannot be returned");
    cr_assert_eq(agreement_sign(fx_ag, &s, str_from_cstr(id), &err), 0);
    cr_assert_eq(agreement_edit(fx_ag, &p, str_from_cstr(id), app, &err), DUPLA_ECONFLICT,
                 "a signed version cannot be edited");
    cr_assert_eq(agreement_return(fx_ag, &r, str_from_cstr(id), NULL, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "reason");
    cr_assert_eq(agreement_return(fx_ag, &r, str_from_cstr(id), "Narrow the purpose.", &err), 0);
    json_t *doc = doc_of(&p, id);
    cr_assert_str_eq(doc_str(doc, "status", NULL), "draft");
    cr_assert(json_is_null(json_object_get(json_object_get(doc, "pending"), "signed_by")),
              "returning clears the signature");
    cr_assert_str_eq(doc_str(doc, "pending", "state_reason"), "Narrow the purpose.");
    json_decref(doc);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE kind = 'agreement-returned' AND"
                          " body LIKE '%Narrow the purpose.%'"),
                 1);
    /* Edited, signed again, and rejected this time. */
    json_object_set_new(app, "purpose", json_string("Narrower."));
    cr_assert_eq(agreement_edit(fx_ag, &p, str_from_cstr(id), app, &err), 0, "%s", err.detail);
    json_decref(app);
    cr_assert_eq(agreement_sign(fx_ag, &s, str_from_cstr(id), &err), 0);
    cr_assert_eq(agreement_reject(fx_ag, &r, str_from_cstr(id), "", &err), DUPLA_EINVAL);
    cr_assert_eq(agreement_reject(fx_ag, &r, str_from_cstr(id), "No legal basis.", &err), 0);
    doc = doc_of(&r, id);
    cr_assert_str_eq(doc_str(doc, "status", NULL), "rejected");
    cr_assert(json_is_null(json_object_get(doc, "pending")));
    json_t *h = json_object_get(doc, "history");
    json_t *last = json_array_get(h, json_array_size(h) - 1);
    cr_assert_str_eq(json_string_value(json_object_get(last, "from")), "submitted");
    cr_assert_str_eq(json_string_value(json_object_get(last, "to")), "rejected");
    cr_assert_str_eq(json_string_value(json_object_get(last, "reason")), "No legal basis.");
    json_decref(doc);
    cr_assert_eq(agreement_approve(fx_ag, &r, str_from_cstr(id), "x", NULL, NULL, &err),
                 DUPLA_ECONFLICT);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE kind = 'agreement-rejected'"),
                 1);
}

Test(agreement, signing_needs_a_complete_application)
{
    err_t err;
    char id[AGREEMENT_ID_LEN + 1];
    struct agreement_actor p = PROCESSOR, s = SIGNATORY;
    json_t *app = json_pack("{s:s}", "title", "Just a title");
    cr_assert_eq(agreement_create(fx_ag, &p, ENV_TEST, app, id, &err), 0, "%s", err.detail);
    json_decref(app);
    cr_assert_eq(agreement_sign(fx_ag, &s, str_from_cstr(id), &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "purpose");
    app = fx_app(MOMS_ABC, 0, 0);
    json_object_set_new(app, "legal_basis", json_array());
    cr_assert_eq(agreement_edit(fx_ag, &p, str_from_cstr(id), app, &err), 0);
    cr_assert_eq(agreement_sign(fx_ag, &s, str_from_cstr(id), &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "legal_basis");
    json_decref(app);
}

Test(agreement, bad_applications_are_refused_naming_the_member)
{
    err_t err;
    char id[AGREEMENT_ID_LEN + 1];
    struct agreement_actor p = PROCESSOR;
    static const struct {
        const char *json;
        const char *param;
    } cases[] = {
        {"{\"services\": {\"Momsangivelse\": [\"Z\"]}}", "services.Momsangivelse"},
        {"{\"services\": {\"Nope\": [\"A\"]}}", "services.Nope"},
        {"{\"services\": [\"Momsangivelse\"]}", "services"},
        {"{\"colour\": \"red\"}", "colour"},
        {"{\"valid_from\": \"2025-02-30\"}", "valid_from"},
        {"{\"valid_from\": \"2025-02-10\", \"valid_to\": \"2025-02-01\"}", "valid_to"},
        {"{\"systems\": [\"sys-9\"]}", "systems"},
        {"{\"systems\": []}", "systems"},
        {"{\"title\": 7}", "title"},
        {"{\"title\": \"a\\u0007b\"}", "title"},
        {"{\"legal_basis\": [{\"law\": \"L\"}]}", "legal_basis[0].section"},
        {"{\"expected_volume\": {\"calls_per_month\": -1}}", "expected_volume.calls_per_month"},
        {"{\"contact\": {\"email\": \"nobody\"}}", "contact.email"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *app = json_loads(cases[i].json, 0, NULL);
        cr_assert_not_null(app, "%s", cases[i].json);
        cr_assert_eq(agreement_create(fx_ag, &p, ENV_TEST, app, id, &err), DUPLA_EINVAL, "%s",
                     cases[i].json);
        cr_assert_str_eq(err.param, cases[i].param, "%s: %s", cases[i].json, err.detail);
        /* a reversed period has its own reason; the rest are invalid input */
        cr_assert_str_eq(err_reason(&err),
                         strstr(cases[i].json, "2025-02-01") ? PROBLEM_PERIOD_REVERSED
                                                             : PROBLEM_INVALID_REQUEST,
                         "%s", cases[i].json);
        json_decref(app);
    }
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM agreement"), 0);
}

Test(agreement, granting_more_than_asked_is_refused)
{
    err_t err;
    char id[AGREEMENT_ID_LEN + 1];
    struct agreement_actor p = PROCESSOR, s = SIGNATORY, r = REVIEWER;
    json_t *app = fx_app("{\"Momsangivelse\": [\"A\"]}", 0, 0);
    cr_assert_eq(agreement_create(fx_ag, &p, ENV_TEST, app, id, &err), 0);
    json_decref(app);
    cr_assert_eq(agreement_sign(fx_ag, &s, str_from_cstr(id), &err), 0);
    json_t *g = json_pack("{s:[s, s]}", "Momsangivelse", "A", "B");
    cr_assert_eq(agreement_approve(fx_ag, &r, str_from_cstr(id), "ok", g, "r", &err), DUPLA_EINVAL);
    json_decref(g);
    g = json_pack("{s:[s]}", "Aarsopgoerelse", "X");
    cr_assert_eq(agreement_approve(fx_ag, &r, str_from_cstr(id), "ok", g, "r", &err), DUPLA_EINVAL);
    json_decref(g);
    cr_assert_eq(agreement_approve(fx_ag, &r, str_from_cstr(id), "", NULL, NULL, &err),
                 DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "assessment");
}

Test(agreement, a_new_version_waits_while_the_old_one_serves)
{
    err_t err;
    char id[AGREEMENT_ID_LEN + 1];
    fx_approved(fx_app("{\"Momsangivelse\": [\"A\"]}", -1, 0), id);
    struct agreement_actor p = PROCESSOR, s = SIGNATORY, r = REVIEWER;
    agreement_registry_t *reg = agreement_registry(fx_ag);
    struct agreement_caller caller = {STR(ORG), STR("sys-1"), ENV_TEST};
    str_t fields[] = {STR("A"), STR("B")};
    bool gr[2];
    struct agreement_decision d;

    json_t *app = fx_app("{\"Momsangivelse\": [\"A\", \"B\"]}", -1, 0);
    cr_assert_eq(agreement_edit(fx_ag, &p, str_from_cstr(id), app, &err), 0, "%s", err.detail);
    json_decref(app);
    json_t *doc = doc_of(&p, id);
    cr_assert_str_eq(doc_str(doc, "status", NULL), "approved");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(doc, "pending"), "version")),
                 2);
    json_t *h = json_object_get(doc, "history");
    json_t *nv = json_array_get(h, json_array_size(h) - 1);
    cr_assert_str_eq(json_string_value(json_object_get(nv, "action")), "new-version");
    cr_assert_not_null(json_object_get(json_object_get(nv, "changes"), "services.Momsangivelse"),
                       "the new version's diff is against the serving version");
    json_decref(doc);

    /* Version 1 still serves: B is not granted yet. */
    cr_assert_eq(agreement_decide(reg, &caller, str_from_cstr(id), STR("Momsangivelse"), fields, 2,
                                  true, clock_now_ms(), gr, &d),
                 DUPLA_EFORBIDDEN);
    cr_assert_eq(d.verdict, AGREEMENT_DENY_FIELD);
    cr_assert_eq(d.field_index, 1);
    cr_assert_eq(agreement_sign(fx_ag, &s, str_from_cstr(id), &err), 0);
    cr_assert_eq(agreement_decide(reg, &caller, str_from_cstr(id), STR("Momsangivelse"), fields, 1,
                                  true, clock_now_ms(), gr, &d),
                 0, "signing the new version does not disturb the serving one");
    cr_assert_eq(d.version, 1);
    cr_assert_eq(agreement_approve(fx_ag, &r, str_from_cstr(id), "ok", NULL, NULL, &err), 0);
    cr_assert_eq(agreement_decide(reg, &caller, str_from_cstr(id), STR("Momsangivelse"), fields, 2,
                                  true, clock_now_ms(), gr, &d),
                 0);
    cr_assert_eq(d.version, 2);
    cr_assert(gr[0] && gr[1]);
    doc = doc_of(&r, id);
    json_t *versions = json_object_get(doc, "versions");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(versions, 0), "state")),
                     "superseded");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(versions, 1), "state")),
                     "approved");
    json_decref(doc);
}

/* The count of agreements awaiting review (as the reviewer sees them) and
 * the pending_state of the summary of id in that list ("" when absent). */
static size_t review_list(const char *id, char *pending_state, size_t cap)
{
    err_t err;
    struct agreement_actor r = REVIEWER;
    struct agreement_filter f = {.org_cvr = NULL, .state = -1, .awaiting_review = true};
    json_t *list;
    cr_assert_eq(agreement_list(fx_ag, &r, &f, &list, &err), 0, "%s", err.log);
    size_t n = json_array_size(list);
    pending_state[0] = '\0';
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "id")), id) == 0)
            snprintf(pending_state, cap, "%s",
                     json_is_string(json_object_get(a, "pending_state"))
                         ? json_string_value(json_object_get(a, "pending_state"))
                         : "(null)");
    }
    json_decref(list);
    return n;
}

Test(agreement, the_review_list_holds_new_applications_and_changes)
{
    err_t err;
    char id[AGREEMENT_ID_LEN + 1], fresh[AGREEMENT_ID_LEN + 1], st[32];
    fx_approved(fx_app("{\"Momsangivelse\": [\"A\"]}", -1, 0), id);
    struct agreement_actor p = PROCESSOR, s = SIGNATORY, r = REVIEWER;
    cr_assert_eq(review_list(id, st, sizeof st), 0, "an approved agreement awaits nothing");
    /* A change: a draft first (not yet for review), then signed. */
    json_t *app = fx_app("{\"Momsangivelse\": [\"A\", \"B\"]}", -1, 0);
    cr_assert_eq(agreement_edit(fx_ag, &p, str_from_cstr(id), app, &err), 0, "%s", err.detail);
    json_decref(app);
    cr_assert_eq(review_list(id, st, sizeof st), 0, "a change being drafted is not for review");
    cr_assert_eq(agreement_sign(fx_ag, &s, str_from_cstr(id), &err), 0);
    cr_assert_eq(review_list(id, st, sizeof st), 1);
    cr_assert_str_eq(st, "submitted");
    /* A new application beside it. */
    app = fx_app("{\"Momsangivelse\": [\"C\"]}", -1, 0);
    cr_assert_eq(agreement_create(fx_ag, &p, ENV_TEST, app, fresh, &err), 0);
    json_decref(app);
    cr_assert_eq(review_list(fresh, st, sizeof st), 1, "a draft is not for review");
    cr_assert_eq(agreement_sign(fx_ag, &s, str_from_cstr(fresh), &err), 0);
    cr_assert_eq(review_list(fresh, st, sizeof st), 2);
    cr_assert_str_eq(st, "submitted");
    /* The plain list says which summary has a pending change. */
    json_t *list;
    cr_assert_eq(agreement_list(fx_ag, &r, NULL, &list, &err), 0);
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a)
    {
        const char *aid = json_string_value(json_object_get(a, "id"));
        cr_assert_str_eq(json_string_value(json_object_get(a, "pending_state")), "submitted");
        cr_assert_str_eq(json_string_value(json_object_get(a, "status")),
                         strcmp(aid, id) == 0 ? "approved" : "submitted");
    }
    json_decref(list);
    /* Approved, the change leaves the list. */
    cr_assert_eq(agreement_approve(fx_ag, &r, str_from_cstr(id), "ok", NULL, NULL, &err), 0);
    cr_assert_eq(review_list(id, st, sizeof st), 1);
    cr_assert_str_eq(st, "");
}

Test(agreement, a_rejected_new_version_leaves_the_old_one_serving)
{
    err_t err;
    char id[AGREEMENT_ID_LEN + 1];
    fx_approved(fx_app("{\"Momsangivelse\": [\"A\"]}", -1, 0), id);
    struct agreement_actor p = PROCESSOR, s = SIGNATORY, r = REVIEWER;
    json_t *app = fx_app("{\"Momsangivelse\": [\"A\", \"B\", \"C\"]}", -1, 0);
    cr_assert_eq(agreement_edit(fx_ag, &p, str_from_cstr(id), app, &err), 0);
    json_decref(app);
    cr_assert_eq(agreement_sign(fx_ag, &s, str_from_cstr(id), &err), 0);
    cr_assert_eq(agreement_reject(fx_ag, &r, str_from_cstr(id), "Too much.", &err), 0);
    json_t *doc = doc_of(&p, id);
    cr_assert_str_eq(doc_str(doc, "status", NULL), "approved");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(doc, "serving"), "version")),
                 1);
    json_decref(doc);
}

Test(agreement, suspend_reactivate_revoke_and_terminate)
{
    err_t err;
    char id[AGREEMENT_ID_LEN + 1], id2[AGREEMENT_ID_LEN + 1];
    fx_approved(fx_app(MOMS_ABC, -1, 0), id);
    struct agreement_actor p = PROCESSOR, s = SIGNATORY, r = REVIEWER;
    agreement_registry_t *reg = agreement_registry(fx_ag);
    struct agreement_caller caller = {STR(ORG), STR("sys-1"), ENV_TEST};
    str_t fields[] = {STR("A")};
    bool gr[1];
    struct agreement_decision d;
#define DECIDE(i)                                                                                  \
    agreement_decide(reg, &caller, str_from_cstr(i), STR("Momsangivelse"), fields, 1, true,        \
                     clock_now_ms(), gr, &d)
    cr_assert_eq(agreement_suspend(fx_ag, &r, str_from_cstr(id), NULL, &err), DUPLA_EINVAL);
    cr_assert_eq(agreement_suspend(fx_ag, &r, str_from_cstr(id), "Incident 42.", &err), 0);
    cr_assert_eq(DECIDE(id), DUPLA_EFORBIDDEN);
    cr_assert_eq(d.verdict, AGREEMENT_DENY_SUSPENDED);
    cr_assert_eq(agreement_suspend(fx_ag, &r, str_from_cstr(id), "again", &err), DUPLA_ECONFLICT);
    cr_assert_eq(agreement_reactivate(fx_ag, &r, str_from_cstr(id), "Resolved.", &err), 0);
    cr_assert_eq(DECIDE(id), 0);
    /* A pending new version is withdrawn when the agreement is revoked. */
    json_t *app = fx_app(MOMS_ABC, -1, 0);
    json_object_set_new(app, "title", json_string("Changed"));
    cr_assert_eq(agreement_edit(fx_ag, &p, str_from_cstr(id), app, &err), 0);
    json_decref(app);
    cr_assert_eq(agreement_revoke(fx_ag, &r, str_from_cstr(id), "Misuse.", &err), 0);
    cr_assert_eq(DECIDE(id), DUPLA_EFORBIDDEN, "refused on the very next call");
    cr_assert_eq(d.verdict, AGREEMENT_DENY_REVOKED);
    cr_assert_eq(agreement_reactivate(fx_ag, &r, str_from_cstr(id), "oops", &err), DUPLA_ECONFLICT,
                 "revocation is final");
    app = fx_app(MOMS_ABC, -1, 0);
    cr_assert_eq(agreement_edit(fx_ag, &p, str_from_cstr(id), app, &err), DUPLA_ECONFLICT);
    json_decref(app);
    json_t *doc = doc_of(&r, id);
    cr_assert_str_eq(doc_str(doc, "status", NULL), "revoked");
    cr_assert(json_is_null(json_object_get(doc, "pending")));
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(doc, "versions"), 1), "state")),
                     "withdrawn");
    json_decref(doc);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE kind IN"
                          " ('agreement-suspended', 'agreement-reactivated', 'agreement-revoked')"),
                 3);

    /* The organisation terminates its own. */
    fx_approved(fx_app(MOMS_ABC, -1, 0), id2);
    cr_assert_eq(agreement_terminate(fx_ag, &p, str_from_cstr(id2), NULL, &err), DUPLA_EFORBIDDEN);
    cr_assert_eq(agreement_terminate(fx_ag, &s, str_from_cstr(id2), "No longer needed.", &err), 0);
    cr_assert_eq(DECIDE(id2), DUPLA_EFORBIDDEN);
    cr_assert_eq(d.verdict, AGREEMENT_DENY_TERMINATED);
#undef DECIDE
}

Test(agreement, time_bound_states)
{
    char future[AGREEMENT_ID_LEN + 1], bounded[AGREEMENT_ID_LEN + 1];
    fx_approved(fx_app(MOMS_ABC, 10, 0), future);
    fx_approved(fx_app(MOMS_ABC, -5, 5), bounded);
    agreement_registry_t *reg = agreement_registry(fx_ag);
    struct agreement_caller caller = {STR(ORG), STR("sys-1"), ENV_TEST};
    str_t fields[] = {STR("A")};
    bool gr[1];
    struct agreement_decision d;
    int64_t now = clock_now_ms();
    int64_t today = now / DAY * DAY;
    cr_assert_eq(agreement_decide(reg, &caller, str_from_cstr(future), STR("Momsangivelse"), fields,
                                  1, true, now, gr, &d),
                 DUPLA_EFORBIDDEN);
    cr_assert_eq(d.verdict, AGREEMENT_DENY_NOT_YET_ACTIVE);
    cr_assert_eq(agreement_decide(reg, &caller, str_from_cstr(future), STR("Momsangivelse"), fields,
                                  1, true, today + 10 * DAY, gr, &d),
                 0, "active from the start of its first day");
    cr_assert_eq(agreement_decide(reg, &caller, str_from_cstr(bounded), STR("Momsangivelse"),
                                  fields, 1, true, today + 6 * DAY - 1, gr, &d),
                 0, "active to the end of its last day");
    cr_assert_eq(agreement_decide(reg, &caller, str_from_cstr(bounded), STR("Momsangivelse"),
                                  fields, 1, true, today + 6 * DAY, gr, &d),
                 DUPLA_EFORBIDDEN);
    cr_assert_eq(d.verdict, AGREEMENT_DENY_EXPIRED);
    json_t *doc;
    err_t err;
    struct agreement_actor r = REVIEWER;
    cr_assert_eq(agreement_document_json(fx_ag, &r, str_from_cstr(future), &doc, &err), 0);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "status")), "approved");
    cr_assert(json_is_false(json_object_get(doc, "active_now")));
    json_decref(doc);
    cr_assert_eq(agreement_document_json(fx_ag, &r, str_from_cstr(bounded), &doc, &err), 0);
    cr_assert(json_is_true(json_object_get(doc, "active_now")));
    json_decref(doc);
}

Test(agreement, expiry_warning_is_queued_once_per_version)
{
    char soon[AGREEMENT_ID_LEN + 1], later[AGREEMENT_ID_LEN + 1], open[AGREEMENT_ID_LEN + 1];
    fx_approved(fx_app(MOMS_ABC, -1, 10), soon);
    fx_approved(fx_app(MOMS_ABC, -1, 100), later);
    fx_approved(fx_app(MOMS_ABC, -1, 0), open);
    err_t err;
    int n = -1;
    int64_t now = clock_now_ms();
    cr_assert_eq(agreement_expiry_warnings(fx_ag, now, &n, &err), 0, "%s", err.log);
    cr_assert_eq(n, 1);
    cr_assert_eq(agreement_expiry_warnings(fx_ag, now + 1000, &n, &err), 0);
    cr_assert_eq(n, 0, "only once");
    cr_assert_eq(
        fx_count("SELECT COUNT(*) FROM mail_message WHERE kind = 'agreement-expiry-warning'"
                 " AND recipient = 'kontakt-12345674@org.example'"),
        1);
    /* 75 days on, the second one is within 30 days of its end. */
    cr_assert_eq(agreement_expiry_warnings(fx_ag, now + 75 * DAY, &n, &err), 0);
    cr_assert_eq(n, 1);
    /* A new version is a new validity: it gets its own warning. */
    struct agreement_actor p = PROCESSOR, s = SIGNATORY, r = REVIEWER;
    json_t *app = fx_app("{\"Momsangivelse\": [\"A\"]}", -1, 20);
    cr_assert_eq(agreement_edit(fx_ag, &p, str_from_cstr(soon), app, &err), 0);
    json_decref(app);
    cr_assert_eq(agreement_sign(fx_ag, &s, str_from_cstr(soon), &err), 0);
    cr_assert_eq(agreement_approve(fx_ag, &r, str_from_cstr(soon), "ok", NULL, NULL, &err), 0);
    cr_assert_eq(agreement_expiry_warnings(fx_ag, now, &n, &err), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(
        fx_count("SELECT COUNT(*) FROM mail_message WHERE kind = 'agreement-expiry-warning'"), 3);
}

Test(agreement, the_html_document_escapes_every_value)
{
    char id[AGREEMENT_ID_LEN + 1];
    json_t *app = fx_app(MOMS_ABC, -1, 0);
    json_object_set_new(app, "title", json_string("<script>alert('x')</script> & co"));
    json_object_set_new(app, "purpose", json_string("\"quoted\" <b>bold</b>"));
    fx_approved(app, id);
    struct agreement_actor p = PROCESSOR;
    buf_t b;
    buf_init(&b, 1 << 20);
    err_t err;
    cr_assert_eq(agreement_document_html(fx_ag, &p, str_from_cstr(id), &b, &err), 0, "%s",
                 err.detail);
    cr_assert_null(strstr(b.data, "<script>"));
    cr_assert_null(strstr(b.data, "<b>bold"));
    cr_assert_not_null(strstr(b.data, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co"));
    cr_assert_not_null(strstr(b.data, "&quot;quoted&quot;"));
    cr_assert_not_null(strstr(b.data, id));
    cr_assert_not_null(strstr(b.data, "Historik"));
    buf_free(&b);
}

Test(agreement, unknown_or_malformed_ids_are_not_found)
{
    err_t err;
    struct agreement_actor r = REVIEWER;
    json_t *doc;
    cr_assert_eq(
        agreement_document_json(fx_ag, &r, STR("0123456789abcdef0123456789abcdef"), &doc, &err),
        DUPLA_ENOTFOUND);
    cr_assert_eq(agreement_document_json(fx_ag, &r, STR("../../etc/passwd"), &doc, &err),
                 DUPLA_ENOTFOUND);
    cr_assert_eq(agreement_revoke(fx_ag, &r, STR(""), "x", &err), DUPLA_ENOTFOUND);
}

Test(agreement, demo_setup_is_idempotent_and_follows_the_catalogue)
{
    err_t err;
    char a[AGREEMENT_ID_LEN + 1], b[AGREEMENT_ID_LEN + 1], c[AGREEMENT_ID_LEN + 1];
    json_t *sv = json_pack("{s:[s, s, s], s:[s, s]}", "Momsangivelse", "A", "B", "C",
                           "Aarsopgoerelse", "X", "Y");
    cr_assert_eq(agreement_demo_setup(fx_ag, ORG, ENV_TEST, sv, a, &err), 0, "%s", err.detail);
    cr_assert_eq(agreement_demo_setup(fx_ag, ORG, ENV_TEST, sv, b, &err), 0, "%s", err.detail);
    cr_assert_str_eq(a, b);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM agreement_version"), 1);
    struct agreement_caller caller = {STR(ORG), STR("any-system"), ENV_TEST};
    str_t fields[] = {STR("X"), STR("Y")};
    bool gr[2];
    struct agreement_decision d;
    cr_assert_eq(agreement_decide(agreement_registry(fx_ag), &caller, str_from_cstr(a),
                                  STR("Aarsopgoerelse"), fields, 2, true, clock_now_ms(), gr, &d),
                 0);
    json_object_del(sv, "Aarsopgoerelse");
    cr_assert_eq(agreement_demo_setup(fx_ag, ORG, ENV_TEST, sv, c, &err), 0, "%s", err.detail);
    cr_assert_str_eq(a, c);
    cr_assert_eq(agreement_decide(agreement_registry(fx_ag), &caller, str_from_cstr(a),
                                  STR("Aarsopgoerelse"), fields, 2, true, clock_now_ms(), gr, &d),
                 DUPLA_EFORBIDDEN);
    cr_assert_eq(d.verdict, AGREEMENT_DENY_SERVICE);
    cr_assert_eq(agreement_demo_setup(fx_ag, ORG, ENV_PRODUCTION, sv, c, &err), DUPLA_EFORBIDDEN);
    json_decref(sv);
}

Test(agreement, the_organisation_withdraws_a_pending_version_and_its_admin_terminates)
{
    err_t err;
    char id[AGREEMENT_ID_LEN + 1];
    fx_approved(fx_app(MOMS_ABC, -1, 0), id);
    struct agreement_actor p = PROCESSOR, s = SIGNATORY, a = ADMIN, r = REVIEWER;
    json_t *app = fx_app("{\"Momsangivelse\": [\"A\"]}", -1, 0);
    cr_assert_eq(agreement_edit(fx_ag, &p, str_from_cstr(id), app, &err), 0);
    json_decref(app);
    cr_assert_eq(agreement_sign(fx_ag, &s, str_from_cstr(id), &err), 0);
    struct agreement_step w = {.reason = "Not needed after all."};
    cr_assert_eq(agreement_step(fx_ag, &r, str_from_cstr(id), AGREEMENT_WITHDRAW, &w, &err),
                 DUPLA_EFORBIDDEN, "the data owner does not withdraw for the organisation");
    cr_assert_eq(agreement_step(fx_ag, &p, str_from_cstr(id), AGREEMENT_WITHDRAW, &w, &err), 0,
                 "%s", err.detail);
    cr_assert_eq(agreement_step(fx_ag, &p, str_from_cstr(id), AGREEMENT_WITHDRAW, &w, &err),
                 DUPLA_ECONFLICT, "nothing pending any more");
    json_t *doc = doc_of(&p, id);
    cr_assert_str_eq(doc_str(doc, "status", NULL), "approved");
    cr_assert(json_is_null(json_object_get(doc, "pending")));
    json_decref(doc);
    cr_assert_eq(agreement_terminate(fx_ag, &a, str_from_cstr(id), NULL, &err), 0, "%s",
                 err.detail);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE kind = 'agreement-terminated'"),
                 1);
    cr_assert_eq(agreement_step(fx_ag, &r, str_from_cstr(id), AGREEMENT_CREATE, NULL, &err),
                 DUPLA_EINTERNAL, "create is not a table step");
}

/* identity's users are known by their text id (user_ref): the same person
 * under another display name is still the drafter, and two people with the
 * same name are two. */
Test(agreement, four_eyes_compares_user_refs)
{
    err_t err;
    char id[AGREEMENT_ID_LEN + 1];
    struct agreement_actor d =
        fx_actor(0, "kim", ORG, AGREEMENT_ROLE_PROCESSOR | AGREEMENT_ROLE_SIGNATORY);
    snprintf(d.user_ref, sizeof d.user_ref, "6f1c2a8e-0000-4000-8000-000000000001");
    struct agreement_actor renamed = d;
    snprintf(renamed.user_name, sizeof renamed.user_name, "kim (renamed)");
    struct agreement_actor namesake = d;
    snprintf(namesake.user_ref, sizeof namesake.user_ref, "6f1c2a8e-0000-4000-8000-000000000002");
    json_t *app = fx_app(MOMS_ABC, 0, 0);
    cr_assert_eq(agreement_create(fx_ag, &d, ENV_TEST, app, id, &err), 0, "%s", err.detail);
    json_decref(app);
    cr_assert_eq(agreement_sign(fx_ag, &renamed, str_from_cstr(id), &err), DUPLA_EFORBIDDEN);
    cr_assert(strstr(err.detail, "four eyes"), "%s", err.detail);
    cr_assert_eq(agreement_sign(fx_ag, &namesake, str_from_cstr(id), &err), 0, "%s", err.detail);
}

Test(agreement, version_basis_without_an_actor)
{
    err_t err;
    char id[AGREEMENT_ID_LEN + 1];
    json_t *app = fx_app(MOMS_ABC, 0, 0);
    fx_approved(app, id); /* consumes app */
    char *purpose, *basis;
    cr_assert_eq(agreement_version_basis(fx_ag, str_from_cstr(id), 1, &purpose, &basis, &err), 0,
                 "%s", err.detail);
    cr_assert_str_eq(purpose, "To check entitlement to housing benefit.");
    cr_assert_str_eq(basis, "Lov om individuel boligstøtte § 48");
    free(purpose);
    free(basis);
    cr_assert_eq(agreement_version_basis(fx_ag, str_from_cstr(id), 2, &purpose, &basis, &err),
                 DUPLA_ENOTFOUND);
    cr_assert_eq(agreement_version_basis(fx_ag, STR("nope"), 1, &purpose, &basis, &err),
                 DUPLA_ENOTFOUND);
}
