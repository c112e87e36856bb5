/* End-to-end: the key process of `dupla serve` (#18 item 3, src/keys/).
 * The server forks it at start; it alone holds the token and checkpoint
 * keys. Killed, token issue answers 503 keys-unavailable (the server does
 * not crash), tokens already issued still verify, and the server stops
 * cleanly. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define CVR_A "12345674"

static void must(const struct e2e_server *s, const char *const *args)
{
    int rc = e2e_cli(s, args);
    if (rc != 0) {
        char log[E2E_PATH_MAX], cmd[E2E_PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "tail -5 %s >&2", e2e_path(s, "cli.log", log));
        (void)system(cmd);
        cr_assert_fail("dupla %s %s exited %d", args[0], args[1], rc);
    }
}

/* The pid of parent's child named comm, or 0. */
static pid_t child_named(pid_t parent, const char *comm)
{
    DIR *d = opendir("/proc");
    cr_assert_not_null(d);
    pid_t found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        char path[300], line[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        /* pid (comm) state ppid ... */
        if (fgets(line, sizeof line, f)) {
            char *open = strchr(line, '('), *close = strrchr(line, ')');
            char state;
            int ppid;
            if (open && close && sscanf(close + 1, " %c %d", &state, &ppid) == 2 &&
                ppid == parent && state != 'Z' && (size_t)(close - open - 1) == strlen(comm) &&
                strncmp(open + 1, comm, strlen(comm)) == 0)
                found = (pid_t)atoi(line);
        }
        fclose(f);
    }
    closedir(d);
    return found;
}

static long post_token(const struct e2e_server *s, struct e2e_response *r)
{
    char pem[E2E_PATH_MAX], key[E2E_PATH_MAX];
    struct e2e_request rq = {
        .method = "POST",
        .listener = "token",
        .path = "/token",
        .body = "client_id=api-gateway&scope=openid&grant_type=password",
        .headers = (const char *const[]){"Content-Type: application/x-www-form-urlencoded", NULL},
        .cert_file = e2e_pki_path(s, "sys.pem", pem),
        .key_file = e2e_pki_path(s, "sys.key", key)};
    cr_assert_eq(e2e_request(s, &rq, r), 0, "no answer: %s", r->error);
    return r->status;
}

Test(keys_e2e, killing_the_key_process_makes_token_issue_answer_503_not_crash, .timeout = 120)
{
    char dir[] = "/tmp/dupla-keys-XXXXXX", key[64], out[E2E_PATH_MAX], cfg[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(key, sizeof key, "%s/audit.key", dir);
    snprintf(out, sizeof out, "%s/keygen.log", dir);
    const char *gen[] = {"pki", "keygen", "--out", key, NULL};
    cr_assert_eq(e2e_run_dupla(gen, out), 0);
    snprintf(cfg, sizeof cfg,
             "{\"identity\": {\"registry_poll_ms\": 50}, \"audit\": {\"signing_key\": \"%s\","
             " \"checkpoint_seconds\": 1}}",
             key);
    struct e2e_server s;
    cr_assert_eq(e2e_start(&(struct e2e_options){.config_json = cfg}, &s), 0);
    const char *org[] = {"org",     "create", "--name",          "Org A",  "--cvr", CVR_A,
                         "--admin", "a@a.dk", "--contact-email", "k@a.dk", NULL};
    must(&s, org);
    cr_assert_eq(e2e_issue_system(&s, "sys", CVR_A, NULL), 0);
    char pem[E2E_PATH_MAX];
    const char *reg[] = {"system", "register", "--org",  CVR_A,
                         "--name", "sys",      "--cert", e2e_pki_path(&s, "sys.pem", pem),
                         NULL};
    must(&s, reg);
    usleep(200 * 1000); /* the registry poll */

    pid_t keys = child_named(s.pid, "dupla-keys");
    cr_assert_gt(keys, 0, "the server has no key process");
    struct e2e_response r;
    cr_assert_eq(post_token(&s, &r), 200, "%s", r.body);
    e2e_response_free(&r);

    cr_assert_eq(kill(keys, SIGKILL), 0);
    for (int i = 0; i < 100 && child_named(s.pid, "dupla-keys"); i++)
        usleep(20 * 1000);
    cr_assert_eq(child_named(s.pid, "dupla-keys"), 0, "the key process did not die");
    /* a token now: 503 naming why, and again (no crash, no hang) */
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(post_token(&s, &r), 503, "%s", r.body);
        cr_assert(strstr(e2e_header(&r, "Content-Type"), "application/problem+json"));
        const char *type = json_string_value(json_object_get(r.json, "type"));
        cr_assert(type && strstr(type, "/keys-unavailable"), "%s", r.body);
        e2e_response_free(&r);
    }
    /* the server still answers; the log's checkpoints wait (logged) */
    cr_assert_eq(e2e_get(&s, "api", "/.well-known/jwks.json", &r), 0);
    e2e_assert_status(&s, &r, 200);
    e2e_response_free(&r);
    cr_assert(e2e_log_wait(&s, "the key process does not answer", 5000));
    cr_assert_eq(e2e_stop(&s), 0);
    unlink(key);
    unlink(out);
    rmdir(dir);
}
