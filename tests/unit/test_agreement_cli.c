/* Unit tests: `dupla agreement` (cli/cmd_agreement.c), run as the real
 * binary ($DUPLA_BIN) against a store prepared through the library. */
#include <fcntl.h>
#include <pwd.h>
#include <sys/wait.h>

#include "agreement_fixture.h"

static char cfg_path[128];
static char out[65536]; /* what the last run wrote to stdout and stderr */

static void cli_setup(void)
{
    fx_setup();
    snprintf(cfg_path, sizeof cfg_path, "%s/dupla.json", fx_dir);
    FILE *f = fopen(cfg_path, "w");
    cr_assert_not_null(f);
    fputs("{\"environment\": \"test\", \"store\": \"sqlite:t.db\", \"listeners\": []}\n", f);
    fclose(f);
}

TestSuite(agreement_cli, .init = cli_setup, .fini = fx_teardown);

/* Runs `dupla agreement ARGS...` (NULL-terminated); its exit status. */
#define AG(...) run((char *[]){"dupla", "agreement", __VA_ARGS__, NULL})
static int run(char **argv)
{
    const char *bin = getenv("DUPLA_BIN");
    cr_assert_not_null(bin, "DUPLA_BIN is not set");
    char path[160];
    snprintf(path, sizeof path, "%s/out", fx_dir);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(bin, argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A version signed and waiting for review. */
static void submitted(char *id)
{
    err_t err;
    struct agreement_actor p = PROCESSOR, s = SIGNATORY;
    json_t *app = fx_app("{\"Momsangivelse\": [\"A\", \"B\", \"C\"]}", -1, 0);
    json_object_set_new(app, "title", json_string("Tit<le>"));
    cr_assert_eq(agreement_create(fx_ag, &p, ENV_TEST, app, id, &err), 0);
    json_decref(app);
    cr_assert_eq(agreement_sign(fx_ag, &s, str_from_cstr(id), &err), 0);
}

Test(agreement_cli, help_and_usage_errors)
{
    cr_assert_eq(AG("--help"), 0);
    cr_assert(strstr(out, "usage: dupla agreement"), "%s", out);
    cr_assert(strstr(out, "examples:"));
    cr_assert_eq(run((char *[]){"dupla", "agreement", NULL}), 2);
    cr_assert(strstr(out, "which subcommand"), "%s", out);
    cr_assert_eq(AG("frobnicate"), 2);
    cr_assert(strstr(out, "unknown subcommand 'frobnicate'"), "%s", out);
    cr_assert_eq(AG("list"), 2);
    cr_assert(strstr(out, "--config FILE is required"), "%s", out);
    cr_assert_eq(AG("show", "--config", cfg_path), 2);
    cr_assert(strstr(out, "needs the agreement ID"), "%s", out);
    cr_assert_eq(AG("revoke", "--config", cfg_path, "x"), 2);
    cr_assert(strstr(out, "needs --reason"), "%s", out);
    cr_assert_eq(AG("approve", "--config", cfg_path, "x"), 2);
    cr_assert(strstr(out, "needs --assessment"), "%s", out);
    cr_assert_eq(AG("approve", "--config", cfg_path, "x", "--assessment", "a", "--grant", "A"), 2);
    cr_assert(strstr(out, "SERVICE=FIELD"), "%s", out);
    cr_assert_eq(AG("list", "--config", cfg_path, "--status", "happy"), 2);
    cr_assert(strstr(out, "no status 'happy'"), "%s", out);
    cr_assert_eq(AG("list", "--config", cfg_path, "--bogus"), 2);
    cr_assert(strstr(out, "unknown option '--bogus'"), "%s", out);
    cr_assert_eq(AG("list", "--config", "/nonexistent/dupla.json"), 1);
    cr_assert_eq(
        AG("revoke", "--config", cfg_path, "0123456789abcdef0123456789abcdef", "--reason", "x"), 1);
    cr_assert(strstr(out, "no such agreement"), "%s", out);
}

Test(agreement_cli, approve_with_fewer_fields_then_revoke)
{
    char id[AGREEMENT_ID_LEN + 1];
    submitted(id);
    cr_assert_eq(AG("list", "--config", cfg_path, "--status", "submitted"), 0, "%s", out);
    cr_assert(strstr(out, id), "%s", out);
    cr_assert_eq(AG("approve", "--config", cfg_path, id, "--assessment", "Fine.", "--grant",
                    "Momsangivelse=A,B"),
                 2, "fewer fields need a reason");
    cr_assert(strstr(out, "reason"), "%s", out);
    cr_assert_eq(AG("approve", "--config", cfg_path, id, "--assessment", "Fine.", "--grant",
                    "Momsangivelse=A,B", "--reason", "C is not needed."),
                 0, "%s", out);
    cr_assert(strstr(out, "approved"), "%s", out);

    err_t err;
    cr_assert_eq(agreement_registry_sync(fx_ag, &err), 0);
    struct agreement_caller caller = {STR(ORG), STR("sys-1"), ENV_TEST};
    str_t fields[] = {STR("A"), STR("B"), STR("C")};
    bool gr[3];
    struct agreement_decision d;
    cr_assert_eq(agreement_decide(agreement_registry(fx_ag), &caller, str_from_cstr(id),
                                  STR("Momsangivelse"), fields, 3, false, clock_now_ms(), gr, &d),
                 0);
    cr_assert(gr[0] && gr[1] && !gr[2]);

    cr_assert_eq(AG("show", "--config", cfg_path, id, "--html"), 0);
    cr_assert(strstr(out, "Tit&lt;le&gt;"), "%s", out);
    cr_assert_eq(AG("revoke", "--config", cfg_path, id, "--reason", "Misuse."), 0, "%s", out);
    cr_assert_eq(agreement_registry_sync(fx_ag, &err), 0);
    cr_assert_eq(agreement_decide(agreement_registry(fx_ag), &caller, str_from_cstr(id),
                                  STR("Momsangivelse"), fields, 3, false, clock_now_ms(), gr, &d),
                 DUPLA_EFORBIDDEN);
    cr_assert_eq(d.verdict, AGREEMENT_DENY_REVOKED);
    cr_assert_eq(AG("revoke", "--config", cfg_path, id, "--reason", "Again."), 1);
    cr_assert(strstr(out, "cannot revoke"), "%s", out);

    /* The console is recorded as cli:<unix user>. */
    cr_assert_eq(AG("show", "--config", cfg_path, id), 0);
    char who[160];
    struct passwd *pw = getpwuid(geteuid());
    snprintf(who, sizeof who, "\"actor\": \"cli:%s\"", pw ? pw->pw_name : "?");
    cr_assert(strstr(out, who), "%s", out);
    cr_assert(strstr(out, "\"reason\": \"Misuse.\""), "%s", out);
}

Test(agreement_cli, return_reject_suspend_reactivate)
{
    char id[AGREEMENT_ID_LEN + 1], id2[AGREEMENT_ID_LEN + 1];
    submitted(id);
    cr_assert_eq(AG("return", "--config", cfg_path, id, "--reason", "Narrow it."), 0, "%s", out);
    cr_assert_eq(AG("list", "--config", cfg_path, "--status", "draft", "--json"), 0);
    cr_assert(strstr(out, id), "%s", out);
    submitted(id2);
    cr_assert_eq(AG("reject", "--config", cfg_path, id2, "--reason", "No."), 0, "%s", out);
    fx_approved(fx_app("{\"Momsangivelse\": [\"A\"]}", -1, 0), id);
    cr_assert_eq(AG("suspend", "--config", cfg_path, id, "--reason", "Check."), 0, "%s", out);
    cr_assert_eq(AG("reactivate", "--config", cfg_path, id, "--reason", "Checked."), 0, "%s", out);
    cr_assert_eq(AG("list", "--config", cfg_path, "--org", ORG), 0);
    cr_assert(strstr(out, "approved"), "%s", out);
    cr_assert(strstr(out, "rejected"), "%s", out);
}

Test(agreement_cli, budget_shows_sets_and_clears_the_rate_budget)
{
    char id[AGREEMENT_ID_LEN + 1];
    submitted(id);
    cr_assert_eq(AG("approve", "--config", cfg_path, id, "--assessment", "Fine."), 0, "%s", out);
    cr_assert_eq(AG("budget", "--config", cfg_path, id), 0, "%s", out);
    cr_assert(strstr(out, "the configured default budget"), "%s", out);
    cr_assert_eq(AG("budget", "--config", cfg_path, id, "--rate", "50", "--burst", "100"), 0, "%s",
                 out);
    cr_assert(strstr(out, "50 calls a second per system, at most 100 in a row"), "%s", out);
    err_t err;
    cr_assert_eq(agreement_registry_sync(fx_ag, &err), 0);
    unsigned rate = 0, burst = 0;
    cr_assert(agreement_rate_budget(agreement_registry(fx_ag), str_from_cstr(id), &rate, &burst));
    cr_assert_eq(rate, 50);
    cr_assert_eq(burst, 100);
    cr_assert_eq(AG("budget", "--config", cfg_path, id, "--json"), 0, "%s", out);
    json_t *j = json_loads(out, 0, NULL);
    cr_assert_not_null(j, "%s", out);
    cr_assert_eq(json_integer_value(json_object_get(j, "rate_per_second")), 50);
    json_decref(j);
    /* usage errors, before the store is asked */
    cr_assert_eq(AG("budget", "--config", cfg_path, id, "--rate", "0", "--burst", "1"), 2);
    cr_assert(strstr(out, "--rate must be a whole number from 1 to 100000"), "%s", out);
    cr_assert_eq(AG("budget", "--config", cfg_path, id, "--rate", "5"), 2);
    cr_assert(strstr(out, "both --rate N and --burst N"), "%s", out);
    cr_assert_eq(AG("budget", "--config", cfg_path, id, "--default", "--rate", "5", "--burst", "5"),
                 2);
    cr_assert_eq(AG("list", "--config", cfg_path, "--rate", "5"), 2);
    cr_assert_eq(AG("budget", "--config", cfg_path), 2);
    cr_assert(strstr(out, "needs the agreement ID"), "%s", out);
    cr_assert_eq(AG("budget", "--config", cfg_path, "00000000000000000000000000000000"), 1);
    cr_assert_eq(AG("budget", "--config", cfg_path, id, "--default"), 0, "%s", out);
    cr_assert(strstr(out, "the configured default budget"), "%s", out);
    cr_assert_eq(agreement_registry_sync(fx_ag, &err), 0);
    cr_assert(agreement_rate_budget(agreement_registry(fx_ag), str_from_cstr(id), &rate, &burst));
    cr_assert_eq(rate, 0, "back to the default");
}

Test(agreement_cli, templates_are_listed_published_and_withdrawn)
{
    struct agreement_actor r = REVIEWER;
    json_t *in = json_pack("{s:s, s:s, s:[{s:s, s:s}], s:{s:[s]}}", "title", "Kontrol af moms",
                           "purpose_category", "kontrol", "legal_basis", "law", "Lov", "section",
                           "§ 1", "services", "Momsangivelse", "A");
    char tid[AGREEMENT_ID_LEN + 1];
    err_t err;
    cr_assert_eq(agreement_template_save(fx_ag, &r, in, tid, &err), 0, "%s", err.log);
    json_decref(in);
    cr_assert_eq(AG("templates", "--config", cfg_path), 0, "%s", out);
    cr_assert(strstr(out, tid) && strstr(out, "Kontrol af moms") && strstr(out, "kontrol"), "%s",
              out);
    cr_assert_eq(AG("publish-template", "--config", cfg_path, tid), 0, "%s", out);
    cr_assert(strstr(out, "published"), "%s", out);
    cr_assert_eq(AG("templates", "--config", cfg_path, "--json"), 0, "%s", out);
    json_t *l = json_loads(out, 0, NULL);
    cr_assert_eq(json_array_size(l), 1, "%s", out);
    cr_assert(json_is_true(json_object_get(json_array_get(l, 0), "published")), "%s", out);
    json_decref(l);
    cr_assert_eq(AG("withdraw-template", "--config", cfg_path, tid), 0, "%s", out);
    cr_assert_eq(AG("templates", "--config", cfg_path, "--json"), 0, "%s", out);
    l = json_loads(out, 0, NULL);
    cr_assert(json_is_false(json_object_get(json_array_get(l, 0), "published")), "%s", out);
    json_decref(l);
    cr_assert_eq(AG("publish-template", "--config", cfg_path), 2);
    cr_assert(strstr(out, "needs the template ID"), "%s", out);
    cr_assert_eq(AG("publish-template", "--config", cfg_path, tid, "--json"), 2);
    cr_assert_eq(AG("templates", "--config", cfg_path, "x"), 2);
    cr_assert_eq(AG("publish-template", "--config", cfg_path, "00000000000000000000000000000000"),
                 1);
}
