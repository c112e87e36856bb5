/* Incidents: the trigger rule, ids, phone and web intake, the transition
 * table, history, assignment, messages and who may see what. */
#include "core/problem.h"
#include "incident_fixture.h"

TestSuite(incident, .init = fx_setup, .fini = fx_teardown);

Test(incident, each_trigger_gives_its_type)
{
    str_t rest;
    cr_assert_eq(incident_trigger_match(STR("DUPLA-Prod-Data: felt mangler"), &rest),
                 INCIDENT_PROD_DATA);
    cr_assert(str_eq_cstr(rest, "felt mangler"));
    cr_assert_eq(incident_trigger_match(STR("DUPLA-Prod-Aftale - adgang"), &rest),
                 INCIDENT_PROD_AFTALE);
    cr_assert(str_eq_cstr(rest, "adgang"));
    cr_assert_eq(incident_trigger_match(STR("DUPLA-TFE"), &rest), INCIDENT_TFE);
    cr_assert_eq(rest.len, 0);
    cr_assert_eq(incident_trigger_match(STR("  dupla-tfe testdata"), NULL), INCIDENT_TFE);
    cr_assert_eq(incident_type_environment(INCIDENT_TFE), ENV_TEST);
    cr_assert_eq(incident_type_environment(INCIDENT_PROD_DATA), ENV_PRODUCTION);
}

Test(incident, misspelled_or_missing_triggers_are_refused)
{
    const char *bad[] = {
        "DUPLA-Prod-Date: x",  "DUPLA TFE", "DUPLA-TFE2", "Re: DUPLA-TFE x", "DUPLA-Prod",
        "DUPLA-Prod-Datafejl", "",          "Spørgsmål",  "DUPLA_TFE"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(incident_trigger_match(str_from_cstr(bad[i]), NULL), -1, "%s", bad[i]);
}

Test(incident, phone_report_makes_incident_and_receipt)
{
    struct incident_actor staff = STAFF;
    struct incident_phone_report r = {.org_cvr = ORG,
                                      .caller = "Pia Hansen",
                                      .caller_email = "Pia@Kommune.example",
                                      .type = INCIDENT_PROD_DATA,
                                      .description = "Momsangivelse mangler felt A\nmere tekst"};
    char id[INCIDENT_ID_LEN + 1];
    err_t err;
    cr_assert_eq(incident_report_phone(fx_inc, &staff, &r, id, &err), 0, "%s", err.detail);
    cr_assert_eq(strlen(id), INCIDENT_ID_LEN);
    cr_assert_eq(strncmp(id, "INC-", 4), 0);
    cr_assert(strstr(id, "-000001"));
    json_t *o;
    cr_assert_eq(incident_get_json(fx_inc, &staff, str_from_cstr(id), &o, &err), 0);
    cr_assert_str_eq(json_string_value(json_object_get(o, "title")),
                     "Momsangivelse mangler felt A");
    cr_assert_str_eq(json_string_value(json_object_get(o, "channel")), "phone");
    cr_assert_str_eq(json_string_value(json_object_get(o, "environment")), "production");
    cr_assert_str_eq(json_string_value(json_object_get(o, "reporter_email")),
                     "pia@kommune.example");
    json_decref(o);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE kind = 'receipt' AND recipient ="
                          " 'kontakt-12345674@org.example' AND cc = 'pia@kommune.example'"),
                 1);
    /* the second gets the next number */
    cr_assert_eq(incident_report_phone(fx_inc, &staff, &r, id, &err), 0);
    cr_assert(strstr(id, "-000002"));
}

Test(incident, phone_refusals)
{
    struct incident_actor staff = STAFF, member = MEMBER;
    char id[INCIDENT_ID_LEN + 1];
    err_t err;
    struct incident_phone_report r = {
        .org_cvr = ORG, .caller = "Pia", .type = INCIDENT_TFE, .description = "x"};
    cr_assert_eq(incident_report_phone(fx_inc, &member, &r, id, &err), DUPLA_EFORBIDDEN);
    r.org_cvr = "12345678"; /* bad check digit */
    cr_assert_eq(incident_report_phone(fx_inc, &staff, &r, id, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "organisation");
    r.org_cvr = "10000009"; /* valid, unknown */
    cr_assert_eq(incident_report_phone(fx_inc, &staff, &r, id, &err), DUPLA_ENOTFOUND);
    r.org_cvr = ORG;
    r.caller = "";
    cr_assert_eq(incident_report_phone(fx_inc, &staff, &r, id, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "caller");
    r.caller = "Pia";
    r.description = "";
    cr_assert_eq(incident_report_phone(fx_inc, &staff, &r, id, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "description");
    r.description = "x";
    r.caller_email = "not an address";
    cr_assert_eq(incident_report_phone(fx_inc, &staff, &r, id, &err), DUPLA_EINVAL);
    r.caller_email = NULL;
    r.agreement_id = "ffff";
    cr_assert_eq(incident_report_phone(fx_inc, &staff, &r, id, &err), DUPLA_ENOTFOUND);
    cr_assert_str_eq(err.param, "agreement_id");
    r.type = (enum incident_type)7;
    cr_assert_eq(incident_report_phone(fx_inc, &staff, &r, id, &err), DUPLA_EINVAL);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM incident"), 0);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message"), 0);
}

Test(incident, web_report_with_agreement_and_json_checks)
{
    struct incident_actor member = MEMBER, other = OTHER, staff = STAFF;
    snprintf(member.email, sizeof member.email, "pia@kommune.example");
    char id[INCIDENT_ID_LEN + 1];
    err_t err;
    json_t *body =
        json_pack("{s:s, s:s, s:s, s:s}", "type", "Prod-Aftale", "title", "Adgang", "description",
                  "Kan ikke hente token", "agreement_id", "aaaabbbbccccddddeeeeffff00001111");
    cr_assert_eq(incident_report_json(fx_inc, &member, body, id, &err), 0, "%s", err.detail);
    /* another organisation cannot tie it to this agreement */
    cr_assert_eq(incident_report_json(fx_inc, &other, body, id, &err), DUPLA_ENOTFOUND);
    json_object_set_new(body, "extra", json_string("x"));
    cr_assert_eq(incident_report_json(fx_inc, &member, body, id, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "extra");
    json_object_del(body, "extra");
    json_object_set_new(body, "type", json_string("Prod-Date"));
    cr_assert_eq(incident_report_json(fx_inc, &member, body, id, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "type");
    json_decref(body);
    /* staff are not an organisation's users */
    struct incident_web_report w = {.type = INCIDENT_TFE, .description = "x"};
    cr_assert_eq(incident_report_web(fx_inc, &staff, &w, id, &err), DUPLA_EFORBIDDEN);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM incident WHERE channel = 'web' AND agreement_id ="
                          " 'aaaabbbbccccddddeeeeffff00001111'"),
                 1);
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE kind = 'receipt'"), 1);
}

static void new_incident(char *id)
{
    struct incident_actor member = MEMBER;
    snprintf(member.email, sizeof member.email, "pia@kommune.example");
    struct incident_web_report w = {.type = INCIDENT_PROD_DATA, .description = "Fejl i data"};
    err_t err;
    cr_assert_eq(incident_report_web(fx_inc, &member, &w, id, &err), 0, "%s", err.detail);
}

Test(incident, transition_table)
{
    for (int f = 0; f < INCIDENT_STATUS_COUNT; f++)
        cr_assert(!incident_transition_allowed((enum incident_status)f, INCIDENT_NEW));
    for (int t = 0; t < INCIDENT_STATUS_COUNT; t++)
        cr_assert(!incident_transition_allowed(INCIDENT_CLOSED, (enum incident_status)t));
    cr_assert(incident_transition_allowed(INCIDENT_NEW, INCIDENT_IN_PROGRESS));
    cr_assert(incident_transition_allowed(INCIDENT_RESOLVED, INCIDENT_IN_PROGRESS));
    cr_assert(!incident_transition_allowed(INCIDENT_RESOLVED, INCIDENT_WAITING));
}

Test(incident, status_changes_are_kept_and_told)
{
    char id[INCIDENT_ID_LEN + 1];
    new_incident(id);
    struct incident_actor staff = STAFF, member = MEMBER;
    err_t err;
    str_t sid = str_from_cstr(id);
    cr_assert_eq(incident_set_status(fx_inc, &member, sid, INCIDENT_IN_PROGRESS, NULL, &err),
                 DUPLA_EFORBIDDEN);
    cr_assert_eq(incident_set_status(fx_inc, &staff, sid, INCIDENT_IN_PROGRESS, "Vi kigger", &err),
                 0, "%s", err.detail);
    cr_assert_eq(incident_set_status(fx_inc, &staff, sid, INCIDENT_WAITING, "Hvilket år?", &err),
                 0);
    /* the reporter answers: back in progress */
    cr_assert_eq(incident_add_message(fx_inc, &member, sid, "Indkomstår 2024", false, &err), 0,
                 "%s", err.detail);
    cr_assert_eq(incident_set_status(fx_inc, &staff, sid, INCIDENT_RESOLVED, NULL, &err), 0);
    cr_assert_eq(incident_set_status(fx_inc, &staff, sid, INCIDENT_WAITING, NULL, &err),
                 DUPLA_ECONFLICT);
    cr_assert_str_eq(err.param, "status");
    cr_assert(err_is(&err, PROBLEM_STATUS_TRANSITION), "%s", err.type);
    cr_assert_eq(incident_set_status(fx_inc, &staff, sid, INCIDENT_CLOSED, NULL, &err), 0);
    cr_assert_eq(incident_set_status(fx_inc, &staff, sid, INCIDENT_IN_PROGRESS, NULL, &err),
                 DUPLA_ECONFLICT);
    cr_assert_eq(incident_add_message(fx_inc, &member, sid, "mere", false, &err), DUPLA_ECONFLICT);
    cr_assert(err_is(&err, PROBLEM_INCIDENT_CLOSED), "%s", err.type);
    cr_assert_eq(incident_assign(fx_inc, &staff, sid, "sofie", &err), 0);
    cr_assert_eq(incident_assign(fx_inc, &member, sid, "sofie", &err), DUPLA_EFORBIDDEN);
    cr_assert_eq(
        incident_set_status(fx_inc, &staff, STR("INC-2026-999999"), INCIDENT_CLOSED, NULL, &err),
        DUPLA_ENOTFOUND);
    json_t *o;
    cr_assert_eq(incident_get_json(fx_inc, &staff, sid, &o, &err), 0);
    cr_assert_str_eq(json_string_value(json_object_get(o, "status")), "closed");
    cr_assert_str_eq(json_string_value(json_object_get(o, "assignee")), "sofie");
    json_t *h = json_object_get(o, "history");
    /* created, 3 status, message-in + automatic status, resolved, closed, assign */
    cr_assert_eq(json_array_size(h), 8, "%zu", json_array_size(h));
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(h, 0), "kind")), "created");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(h, 3), "kind")),
                     "message-in");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(h, 4), "to_status")),
                     "in-progress");
    json_decref(o);
    /* four status notices to the reporter, besides the receipt */
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM mail_message WHERE kind = 'status' AND recipient ="
                          " 'pia@kommune.example'"),
                 4);
}

Test(incident, organisations_see_only_their_own)
{
    char id[INCIDENT_ID_LEN + 1];
    new_incident(id);
    struct incident_actor staff = STAFF, member = MEMBER, other = OTHER;
    err_t err;
    json_t *o;
    cr_assert_eq(incident_get_json(fx_inc, &other, str_from_cstr(id), &o, &err), DUPLA_ENOTFOUND);
    cr_assert_eq(incident_add_message(fx_inc, &other, str_from_cstr(id), "x", false, &err),
                 DUPLA_ENOTFOUND);
    cr_assert_eq(incident_add_message(fx_inc, &staff, str_from_cstr(id), "intern", false, &err), 0);
    cr_assert_eq(incident_get_json(fx_inc, &member, str_from_cstr(id), &o, &err), 0);
    cr_assert_eq(json_array_size(json_object_get(o, "history")), 1, "notes are staff-only");
    json_decref(o);
    json_t *list;
    cr_assert_eq(incident_list_json(fx_inc, &other, NULL, &list, &err), 0);
    cr_assert_eq(json_array_size(list), 0);
    json_decref(list);
    cr_assert_eq(incident_list_json(fx_inc, &member, NULL, &list, &err), 0);
    cr_assert_eq(json_array_size(list), 1);
    json_decref(list);
    struct incident_filter f = {.org_cvr = ORG, .status = INCIDENT_NEW};
    cr_assert_eq(incident_list_json(fx_inc, &other, &f, &list, &err), DUPLA_EFORBIDDEN);
    cr_assert_eq(incident_list_json(fx_inc, &staff, &f, &list, &err), 0);
    cr_assert_eq(json_array_size(list), 1);
    json_decref(list);
}
