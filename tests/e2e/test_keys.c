/* End-to-end: the key process of `dupla serve` (#18 item 3, src/keys/).
 * The server forks it at start; it alone holds the token and checkpoint
 * keys. Killed, token issue answers 503 keys-unavailable (the server does
 * not crash), tokens already issued still verify, and the server stops
 * cleanly. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

/* The value of a field of /proc/<pid>/status ("Seccomp:"), or -1. */
static long status_field(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, strlen(field)) == 0)
            v = atol(line + strlen(field));
    if (f)
        fclose(f);
    return v;
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1 /* the server installs no filter (core/sandbox.h) */
#else
#define UNDER_ASAN 0
#endif

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
    /* the listeners' keys in this process: new connections still work
     * without the key process (the next test: with them there) */
    snprintf(cfg, sizeof cfg,
             "{\"identity\": {\"registry_poll_ms\": 50}, \"audit\": {\"signing_key\": \"%s\","
             " \"checkpoint_seconds\": 1}, \"tls_key_process\": false}",
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

/* With the listeners' TLS keys in the key process (the default), a TLS
 * handshake needs it: once it is killed no new connection is accepted
 * (the server does not crash, and stops cleanly). */
Test(keys_e2e, with_tls_keys_in_the_key_process_killing_it_stops_new_handshakes, .timeout = 120)
{
    struct e2e_server s;
    cr_assert_eq(e2e_start(NULL, &s), 0);
    struct e2e_response r;
    cr_assert_eq(e2e_get(&s, "api", "/health/live", &r), 0, "%s", r.error);
    e2e_assert_status(&s, &r, 200);
    e2e_response_free(&r);
    pid_t keys = child_named(s.pid, "dupla-keys");
    cr_assert_gt(keys, 0);
    cr_assert_eq(kill(keys, SIGKILL), 0);
    for (int i = 0; i < 100 && child_named(s.pid, "dupla-keys"); i++)
        usleep(20 * 1000);
    cr_assert_neq(e2e_get(&s, "api", "/health/live", &r), 0, "a handshake without the key");
    e2e_response_free(&r);
    cr_assert(e2e_log_wait(&s, "keys: a TLS signature failed", 5000));
    cr_assert_eq(e2e_stop(&s), 0);
}

/* Once ready, every thread of the request process is under the seccomp
 * filter (mode 2) with no_new_privs; "seccomp": false installs none. What
 * the filter refuses is tested in unit-core (sandbox); that the list holds
 * everything the server does, by every e2e suite running under it. */
Test(keys_e2e, the_request_process_serves_under_the_seccomp_filter, .timeout = 120)
{
    struct e2e_server s;
    cr_assert_eq(e2e_start(NULL, &s), 0);
    if (UNDER_ASAN) {
        cr_assert(e2e_log_wait(&s, "seccomp: not installed: this is an AddressSanitizer", 1000));
    } else {
        cr_assert(e2e_log_wait(&s, "seccomp: the filter is installed (kill", 1000));
        cr_assert_eq(status_field(s.pid, "Seccomp:"), 2);
        cr_assert_eq(status_field(s.pid, "NoNewPrivs:"), 1);
        /* every thread, the listeners' that existed before it too */
        char taskdir[64];
        snprintf(taskdir, sizeof taskdir, "/proc/%d/task", (int)s.pid);
        DIR *d = opendir(taskdir);
        cr_assert_not_null(d);
        struct dirent *e;
        int threads = 0;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            cr_assert_eq(status_field((pid_t)atoi(e->d_name), "Seccomp:"), 2, "thread %s",
                         e->d_name);
            threads++;
        }
        closedir(d);
        cr_assert_gt(threads, 1);
    }
    struct e2e_response r;
    cr_assert_eq(e2e_get(&s, "api", "/health/ready", &r), 0);
    e2e_assert_status(&s, &r, 200);
    e2e_response_free(&r);
    /* SIGHUP re-reads the TLS files under the filter */
    cr_assert_eq(kill(s.pid, SIGHUP), 0);
    cr_assert(e2e_log_wait(&s, "SIGHUP: reloading certificates", 5000));
    cr_assert_eq(e2e_get(&s, "api", "/health/ready", &r), 0);
    e2e_assert_status(&s, &r, 200);
    e2e_response_free(&r);
    setenv("DUPLA_E2E_KEEP", "1", 1);
    cr_assert_eq(e2e_stop(&s), 0);
    unsetenv("DUPLA_E2E_KEEP");

    json_error_t je;
    json_t *cfg = json_load_file(s.config, 0, &je);
    cr_assert_not_null(cfg, "%s", je.text);
    json_object_set_new(cfg, "seccomp", json_false());
    cr_assert_eq(json_dump_file(cfg, s.config, JSON_INDENT(2)), 0);
    json_decref(cfg);
    cr_assert_eq(e2e_restart(NULL, &s), 0);
    cr_assert_eq(status_field(s.pid, "Seccomp:"), 0);
    cr_assert(e2e_log_wait(&s, "seccomp: off", 1000));
    cr_assert_eq(e2e_stop(&s), 0);
}

/* The builds with the tests make SIGUSR2 a test hook: the serving
 * process's main thread calls execve. Under the filter that kills it with
 * SIGSYS. */
Test(keys_e2e, an_exec_in_the_request_process_is_killed_by_the_filter, .timeout = 120)
{
    if (UNDER_ASAN) {
        cr_skip_test("an AddressSanitizer build installs no filter");
        return;
    }
    struct e2e_server s;
    cr_assert_eq(e2e_start(NULL, &s), 0);
    cr_assert_eq(kill(s.pid, SIGUSR2), 0);
    int st = 0;
    cr_assert_eq(waitpid(s.pid, &st, 0), s.pid);
    s.pid = 0;
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "status %#x: not killed by the filter",
              st);
    cr_assert(e2e_log_wait(&s, "test hook: SIGUSR2: trying execve", 1000));
    cr_assert(!e2e_log_wait(&s, "execve failed", 0));
    e2e_remove_dir(&s);
}

#define DROP_USER "dupla-test" /* the unprivileged user of scripts/pg-test-server.sh */

/* The user the tests drop to, created when missing (as the PostgreSQL
 * test script does); false when it cannot be had. */
static bool drop_user(uid_t *uid, gid_t *gid)
{
    struct passwd *pw = getpwnam(DROP_USER);
    if (!pw && system("useradd --system --no-create-home --shell /usr/sbin/nologin " DROP_USER
                      " >/dev/null 2>&1") == 0)
        pw = getpwnam(DROP_USER);
    if (!pw)
        return false;
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return true;
}

/* uid of pid (the real one, from /proc/<pid>/status), or -1. */
static long uid_of(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long uid = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Uid:", 4) == 0)
            uid = atol(line + 4);
    if (f)
        fclose(f);
    return uid;
}

/* Whether user uid:gid can open path for reading (in a child that drops
 * to it, as the server's request process has). */
static bool can_read_as(uid_t uid, gid_t gid, const char *path)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (setgroups(0, NULL) || setgid(gid) || setuid(uid))
            _exit(2);
        int fd = open(path, O_RDONLY);
        _exit(fd >= 0 ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) != 2, "could not drop to " DROP_USER);
    return WEXITSTATUS(status) == 0;
}

Test(keys_e2e, with_user_set_the_request_process_runs_unprivileged_and_cannot_read_the_keys,
     .timeout = 120)
{
    uid_t uid;
    gid_t gid;
    if (geteuid() != 0 || !drop_user(&uid, &gid)) {
        cr_skip_test("not root, or no user " DROP_USER ": the privilege drop is not tested here");
        return;
    }
    struct e2e_server s;
    cr_assert_eq(e2e_start(&(struct e2e_options){.config_json = "{\"identity\": "
                                                                "{\"registry_poll_ms\": 50}}"},
                           &s),
                 0);
    const char *org[] = {"org",     "create", "--name",          "Org A",  "--cvr", CVR_A,
                         "--admin", "a@a.dk", "--contact-email", "k@a.dk", NULL};
    must(&s, org);
    cr_assert_eq(e2e_issue_system(&s, "sys", CVR_A, NULL), 0);
    char pem[E2E_PATH_MAX];
    const char *reg[] = {"system", "register", "--org",  CVR_A,
                         "--name", "sys",      "--cert", e2e_pki_path(&s, "sys.pem", pem),
                         NULL};
    must(&s, reg);
    /* stopped, its folder kept: the server's files become the user's, the
     * keys stay root's (0700 folder, 0600 files), and it starts again
     * with "user" set */
    setenv("DUPLA_E2E_KEEP", "1", 1);
    cr_assert_eq(e2e_stop(&s), 0);
    unsetenv("DUPLA_E2E_KEEP");
    char cmd[4 * E2E_PATH_MAX], keydir[E2E_PATH_MAX];
    e2e_path(&s, "token-keys", keydir);
    snprintf(cmd, sizeof cmd, "chown -R " DROP_USER " '%s' && chown -R root '%s' '%s'", s.dir,
             keydir, s.pki_dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "chmod 0755 '%s'", s.pki_dir);
    cr_assert_eq(system(cmd), 0);
    json_error_t je;
    json_t *cfg = json_load_file(s.config, 0, &je);
    cr_assert_not_null(cfg, "%s", je.text);
    json_object_set_new(cfg, "user", json_string(DROP_USER));
    cr_assert_eq(json_dump_file(cfg, s.config, JSON_INDENT(2)), 0);
    json_decref(cfg);
    cr_assert_eq(e2e_restart(NULL, &s), 0);

    /* the request process is the user; the key process is not */
    cr_assert_eq(uid_of(s.pid), (long)uid);
    cr_assert_eq(status_field(s.pid, "Seccomp:"), UNDER_ASAN ? 0 : 2);
    pid_t keys = child_named(s.pid, "dupla-keys");
    cr_assert_gt(keys, 0);
    cr_assert_eq(uid_of(keys), 0);
    /* what that user can do, the request process can: read no key file */
    char keyfile[E2E_PATH_MAX + 300];
    DIR *d = opendir(keydir);
    cr_assert_not_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "key-", 4) == 0) {
            snprintf(keyfile, sizeof keyfile, "%s/%s", keydir, e->d_name);
            cr_assert(!can_read_as(uid, gid, keyfile), "%s is readable by " DROP_USER, keyfile);
            n++;
        }
    closedir(d);
    cr_assert_gt(n, 0);
    /* nor the listeners' TLS key, and yet both listeners shake hands (the
     * key process signs), also after a reload as that user */
    char tlskey[E2E_PATH_MAX];
    cr_assert(!can_read_as(uid, gid, e2e_pki_path(&s, "server.key", tlskey)),
              "%s is readable by " DROP_USER, tlskey);
    cr_assert_eq(kill(s.pid, SIGHUP), 0);
    cr_assert(e2e_log_wait(&s, "\"msg\":\"reload done\"", 5000));
    cr_assert(!e2e_log_wait(&s, "reload failed", 0), "the reload as " DROP_USER " failed");
    /* and yet tokens are issued, signed by the key process */
    struct e2e_response r;
    cr_assert_eq(post_token(&s, &r), 200, "%s", r.body);
    e2e_response_free(&r);
    /* a key rotated meanwhile is seen (the folder is listed through the
     * descriptor opened before the drop) and signs the next token */
    const char *rot[] = {"token", "rotate-key", NULL};
    must(&s, rot);
    size_t keys_published = 0;
    for (int i = 0; i < 60 && keys_published < 2; i++) {
        usleep(100 * 1000);
        cr_assert_eq(e2e_get(&s, "api", "/.well-known/jwks.json", &r), 0);
        keys_published = json_array_size(json_object_get(r.json, "keys"));
        e2e_response_free(&r);
    }
    cr_assert_eq(keys_published, 2, "the rotated key was not seen after the drop");
    cr_assert_eq(post_token(&s, &r), 200, "%s", r.body);
    e2e_response_free(&r);
    cr_assert_eq(e2e_stop(&s), 0);
}
