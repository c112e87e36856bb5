/*
 * harness.c: starting, talking to and stopping `dupla serve` for the
 * end-to-end tests (see harness.h), and the main() of every e2e test
 * executable (it starts the shared servers around Criterion's run).
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/pkcs12.h>
#include <gnutls/x509.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define E2E_ENV_PREFIX "DUPLA_E2E_SERVER_"
#define E2E_BODY_MAX   (64u * 1024 * 1024)

/* Files without E2E_SHARED_SERVERS have no shared servers. */
extern const struct e2e_shared_server e2e_shared_servers[] __attribute__((weak));
extern const size_t e2e_n_shared_servers __attribute__((weak));

static void fail_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "e2e: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static const char *dupla_bin(void)
{
    const char *b = getenv("DUPLA_BIN");
    return b && b[0] ? b : "./dupla";
}

const char *e2e_path(const struct e2e_server *s, const char *rel, char *out)
{
    snprintf(out, E2E_PATH_MAX, "%s/%s", s->dir, rel);
    return out;
}

const char *e2e_pki_path(const struct e2e_server *s, const char *rel, char *out)
{
    snprintf(out, E2E_PATH_MAX, "%s/%s", s->pki_dir, rel);
    return out;
}

unsigned e2e_port(const struct e2e_server *s, const char *listener)
{
    for (size_t i = 0; i < s->n_listeners; i++)
        if (strcmp(s->listeners[i].name, listener) == 0)
            return s->listeners[i].port;
    return 0;
}

int e2e_read_line(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    if (!fgets(out, (int)cap, f))
        out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

/* ---- running the binary ---- */

int e2e_run_dupla(const char *const *args, const char *out_file)
{
    size_t n = 0;
    while (args[n])
        n++;
    char **argv = calloc(n + 2, sizeof *argv);
    if (!argv)
        return -1;
    argv[0] = (char *)dupla_bin();
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = (char *)args[i];
    pid_t pid = fork();
    if (pid < 0) {
        free(argv);
        return -1;
    }
    if (pid == 0) {
        int fd = open(out_file ? out_file : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    free(argv);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int e2e_cli(const struct e2e_server *s, const char *const *args)
{
    const char *argv[E2E_CLI_ARGS_MAX + 3];
    size_t n = 0;
    for (; args[n]; n++) {
        if (n == E2E_CLI_ARGS_MAX)
            return -1;
        argv[n] = args[n];
    }
    argv[n++] = "--config";
    argv[n++] = s->config;
    argv[n] = NULL;
    char log[E2E_PATH_MAX];
    return e2e_run_dupla(argv, e2e_path(s, "cli.log", log));
}

int e2e_issue_system(const struct e2e_server *s, const char *name, const char *cvr,
                     const char *const *extra)
{
    const char *args[32] = {"pki", "issue-system", "--dir", s->pki_dir, "--cvr",
                            cvr,   "--name",       name};
    size_t n = 8;
    for (size_t i = 0; extra && extra[i] && n < 31; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    char out[E2E_PATH_MAX];
    e2e_path(s, "pki.log", out);
    int rc = e2e_run_dupla(args, out);
    if (rc != 0) {
        fail_msg("dupla pki issue-system %s exited %d; see %s", name, rc, out);
        return -1;
    }
    return 0;
}

/* ---- the configuration ---- */

static json_t *listener_json(const char *name, const char *policy)
{
    json_t *l =
        json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}", "name", name, "address", "127.0.0.1", "port", 0,
                  "cert", "pki/server.pem", "key", "pki/server.key", "client_cert", policy);
    if (strcmp(policy, "none") != 0) {
        json_object_set_new(l, "trust", json_string("pki/ca.pem"));
        json_object_set_new(l, "crl", json_string("pki/crl.pem"));
    }
    return l;
}

static json_t *parse_option(const char *text, const char *what)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (!v)
        fail_msg("%s: %s (line %d)", what, e.text, e.line);
    return v;
}

static int write_config(const struct e2e_options *opt, struct e2e_server *s)
{
    json_t *ls = json_array();
    if (!opt->no_default_listeners) {
        json_array_append_new(ls, listener_json("api", "none"));
        json_array_append_new(ls, listener_json("token", "request"));
    }
    if (opt->listeners_json) {
        json_t *extra = parse_option(opt->listeners_json, "listeners_json");
        if (!json_is_array(extra)) {
            json_decref(extra);
            json_decref(ls);
            fail_msg("listeners_json must be a JSON array");
            return -1;
        }
        size_t i;
        json_t *l;
        json_array_foreach(extra, i, l)
        {
            const char *name = json_string_value(json_object_get(l, "name"));
            const char *policy = json_string_value(json_object_get(l, "client_cert"));
            json_t *full = listener_json(name ? name : "extra", policy ? policy : "none");
            json_object_update(full, l);
            json_array_append_new(ls, full);
        }
        json_decref(extra);
    }
    json_t *cfg = json_pack("{s:s, s:s, s:s, s:o}", "environment", "test", "store",
                            "sqlite:dupla.db", "log_level", "info", "listeners", ls);
    if (opt->limits_json) {
        json_t *lim = parse_option(opt->limits_json, "limits_json");
        if (!lim) {
            json_decref(cfg);
            return -1;
        }
        json_object_set_new(cfg, "limits", lim);
    }
    if (opt->config_json) {
        json_t *more = parse_option(opt->config_json, "config_json");
        if (!json_is_object(more)) {
            json_decref(more);
            json_decref(cfg);
            fail_msg("config_json must be a JSON object");
            return -1;
        }
        json_object_update(cfg, more);
        json_decref(more);
    }
    int rc = json_dump_file(cfg, s->config, JSON_INDENT(2));
    json_decref(cfg);
    if (rc != 0)
        fail_msg("cannot write %s", s->config);
    return rc ? -1 : 0;
}

/* ---- starting and stopping ---- */

/* Reads the ready file into s (pid and ports). 0, or -1 if it is not
 * (yet) there. */
static int read_ready(struct e2e_server *s)
{
    json_t *r = json_load_file(s->ready, 0, NULL);
    if (!r)
        return -1;
    json_t *ls = json_object_get(r, "listeners");
    const char *name;
    json_t *port;
    s->n_listeners = 0;
    json_object_foreach(ls, name, port)
    {
        if (s->n_listeners >= E2E_MAX_LISTENERS)
            break;
        snprintf(s->listeners[s->n_listeners].name, sizeof s->listeners[0].name, "%s", name);
        s->listeners[s->n_listeners].port = (unsigned)json_integer_value(port);
        s->n_listeners++;
    }
    if (!s->pid)
        s->pid = (pid_t)json_integer_value(json_object_get(r, "pid"));
    json_decref(r);
    return 0;
}

static void set_paths(struct e2e_server *s)
{
    snprintf(s->pki_dir, sizeof s->pki_dir, "%s/pki", s->dir);
    snprintf(s->config, sizeof s->config, "%s/dupla.json", s->dir);
    snprintf(s->log, sizeof s->log, "%s/server.log", s->dir);
    snprintf(s->ready, sizeof s->ready, "%s/ready.json", s->dir);
}

static int spawn_serve(const struct e2e_options *opt, struct e2e_server *s);

int e2e_start(const struct e2e_options *opt, struct e2e_server *s)
{
    static const struct e2e_options none = {0};
    if (!opt)
        opt = &none;
    memset(s, 0, sizeof *s);
    const char *tmp = getenv("TMPDIR");
    snprintf(s->dir, sizeof s->dir, "%s/dupla-e2e-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(s->dir)) {
        fail_msg("mkdtemp %s: %s", s->dir, strerror(errno));
        return -1;
    }
    set_paths(s);
    const char *init[] = {"pki", "init", "--dir", s->pki_dir, NULL};
    char out[E2E_PATH_MAX];
    if (e2e_run_dupla(init, e2e_path(s, "pki.log", out)) != 0) {
        fail_msg("dupla pki init failed; see %s", out);
        return -1;
    }
    if (write_config(opt, s) != 0)
        return -1;
    return spawn_serve(opt, s);
}

int e2e_restart(const struct e2e_options *opt, struct e2e_server *s)
{
    static const struct e2e_options none = {0};
    if (s->pid > 0) {
        fail_msg("e2e_restart: the server is still running");
        return -1;
    }
    unlink(s->ready);
    return spawn_serve(opt ? opt : &none, s);
}

/* Starts `dupla serve` on s's configuration and waits until it is ready. */
static int spawn_serve(const struct e2e_options *opt, struct e2e_server *s)
{
    const char *argv[48] = {dupla_bin(), "serve", "--config", s->config, "--ready-file", s->ready};
    size_t n = 6;
    for (size_t i = 0; opt->serve_args && opt->serve_args[i] && n < 47; i++)
        argv[n++] = opt->serve_args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0) {
        fail_msg("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* A test that dies (a failed assertion, a timeout) takes its server
         * with it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        /* The server must not inherit a test's blocked or ignored signals. */
        sigset_t none_set;
        sigemptyset(&none_set);
        sigprocmask(SIG_SETMASK, &none_set, NULL);
        execv(argv[0], (char **)argv);
        _exit(127);
    }
    s->pid = pid;
    s->owner = true;
    long deadline = now_ms() + E2E_READY_TIMEOUT_MS;
    for (;;) {
        if (read_ready(s) == 0)
            return 0;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            fail_msg("dupla serve exited (status %d) before it was ready",
                     WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
            e2e_log_tail(s, 40);
            return -1;
        }
        if (now_ms() > deadline) {
            fail_msg("dupla serve was not ready within %d ms", E2E_READY_TIMEOUT_MS);
            e2e_log_tail(s, 40);
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            s->pid = 0;
            return -1;
        }
        usleep(10 * 1000);
    }
}

int e2e_signal(const struct e2e_server *s, int sig)
{
    return s->pid > 0 ? kill(s->pid, sig) : -1;
}

static const char *const sanitizer_marks[] = {
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "WARNING: ThreadSanitizer",
    "ERROR: UndefinedBehaviorSanitizer",
};

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void e2e_remove_dir(const struct e2e_server *s)
{
    if (s->dir[0])
        nftw(s->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int e2e_stop(struct e2e_server *s)
{
    if (!s->owner || s->pid <= 0) {
        fail_msg("e2e_stop: this process did not start the server");
        return -1;
    }
    kill(s->pid, SIGTERM);
    long deadline = now_ms() + E2E_STOP_TIMEOUT_MS;
    int st = 0;
    pid_t got;
    while ((got = waitpid(s->pid, &st, WNOHANG)) == 0) {
        if (now_ms() > deadline) {
            fail_msg("dupla serve did not stop within %d ms of SIGTERM", E2E_STOP_TIMEOUT_MS);
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
            e2e_log_tail(s, 40);
            s->pid = 0;
            return -1;
        }
        usleep(10 * 1000);
    }
    s->pid = 0;
    int rc = 0;
    if (got < 0) {
        fail_msg("waitpid: %s", strerror(errno));
        rc = -1;
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (WIFEXITED(st))
            fail_msg("dupla serve exited with status %d", WEXITSTATUS(st));
        else
            fail_msg("dupla serve died of signal %d", WTERMSIG(st));
        rc = -1;
    }
    for (size_t i = 0; i < sizeof sanitizer_marks / sizeof sanitizer_marks[0]; i++)
        if (e2e_log_contains(s, sanitizer_marks[i])) {
            fail_msg("the server's log has a sanitizer report (%s)", sanitizer_marks[i]);
            rc = -1;
        }
    char leak[1024];
    if (e2e_log_scan(s, leak, sizeof leak) != 0) {
        fail_msg("personal data or a secret in the server's log: %s", leak);
        rc = -1;
    }
    if (rc) {
        e2e_log_tail(s, 60);
        fail_msg("server folder kept: %s", s->dir);
    } else if (!getenv("DUPLA_E2E_KEEP")) {
        e2e_remove_dir(s);
    }
    return rc;
}

const struct e2e_server *e2e_shared(const char *name)
{
    static struct e2e_server cache[E2E_MAX_LISTENERS];
    static size_t n_cache;
    for (size_t i = 0; i < n_cache; i++)
        if (strcmp(cache[i].name, name) == 0)
            return &cache[i];
    char var[128];
    snprintf(var, sizeof var, "%s%s", E2E_ENV_PREFIX, name);
    const char *dir = getenv(var);
    if (!dir || n_cache >= E2E_MAX_LISTENERS)
        cr_assert_fail("no shared server \"%s\" (declare it with E2E_SHARED_SERVERS)", name);
    struct e2e_server *s = &cache[n_cache];
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    set_paths(s);
    if (read_ready(s) != 0)
        cr_assert_fail("shared server \"%s\": no ready file %s", name, s->ready);
    snprintf(s->name, sizeof s->name, "%s", name);
    n_cache++;
    return s;
}

/* ---- diagnostics ---- */

void e2e_log_tail(const struct e2e_server *s, int lines)
{
    FILE *f = fopen(s->log, "r");
    if (!f) {
        fprintf(stderr, "e2e: (no server log at %s)\n", s->log);
        return;
    }
    /* Keep the last `lines` lines in a ring. */
    char **ring = calloc((size_t)lines, sizeof *ring);
    char *line = NULL;
    size_t cap = 0;
    long n = 0;
    while (ring && getline(&line, &cap, f) > 0) {
        free(ring[n % lines]);
        ring[n % lines] = strdup(line);
        n++;
    }
    fclose(f);
    free(line);
    fprintf(stderr, "---- last lines of %s ----\n", s->log);
    long start = n > lines ? n - lines : 0;
    for (long i = start; ring && i < n; i++)
        fputs(ring[i % lines], stderr);
    fprintf(stderr, "---- end of server log ----\n");
    for (int i = 0; ring && i < lines; i++)
        free(ring[i]);
    free(ring);
}

bool e2e_log_contains(const struct e2e_server *s, const char *needle)
{
    FILE *f = fopen(s->log, "r");
    if (!f)
        return false;
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    while (!found && getline(&line, &cap, f) > 0)
        found = strstr(line, needle) != NULL;
    free(line);
    fclose(f);
    return found;
}

bool e2e_log_wait(const struct e2e_server *s, const char *needle, long timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        if (e2e_log_contains(s, needle))
            return true;
        if (now_ms() > deadline)
            return false;
        usleep(10 * 1000);
    }
}

/* ---- requests (libcurl) ---- */

struct collect {
    char *data;
    size_t len;
};

static size_t on_body(char *ptr, size_t size, size_t n, void *ud)
{
    struct collect *c = ud;
    size_t add = size * n;
    if (c->len + add > E2E_BODY_MAX)
        return 0;
    char *grown = realloc(c->data, c->len + add + 1);
    if (!grown)
        return 0;
    memcpy(grown + c->len, ptr, add);
    c->data = grown;
    c->len += add;
    c->data[c->len] = '\0';
    return add;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *ud)
{
    struct e2e_response *r = ud;
    size_t len = size * n;
    /* A new status line (after a 100 Continue) starts a new header set. */
    if (len >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        for (size_t i = 0; i < r->n_headers; i++) {
            free(r->headers[i].name);
            free(r->headers[i].value);
        }
        r->n_headers = 0;
        return len;
    }
    const char *colon = memchr(ptr, ':', len);
    if (!colon || r->n_headers >= E2E_MAX_HEADERS)
        return len;
    size_t nl = (size_t)(colon - ptr);
    const char *v = colon + 1;
    size_t vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    r->headers[r->n_headers].name = strndup(ptr, nl);
    r->headers[r->n_headers].value = strndup(v, vl);
    r->n_headers++;
    return len;
}

const char *e2e_header(const struct e2e_response *r, const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

void e2e_response_free(struct e2e_response *r)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

/* The SHA-256 of the server certificate libcurl reports (PEM), in hex. */
static void server_fingerprint(CURL *h, char out[65])
{
    out[0] = '\0';
    struct curl_certinfo *ci = NULL;
    if (curl_easy_getinfo(h, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci || ci->num_of_certs < 1)
        return;
    for (struct curl_slist *sl = ci->certinfo[0]; sl; sl = sl->next) {
        if (strncmp(sl->data, "Cert:", 5) != 0)
            continue;
        gnutls_datum_t pem = {(unsigned char *)sl->data + 5, (unsigned)strlen(sl->data + 5)};
        gnutls_x509_crt_t crt;
        if (gnutls_x509_crt_init(&crt) < 0)
            return;
        if (gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM) >= 0) {
            unsigned char der[16384];
            size_t dl = sizeof der;
            unsigned char sum[32];
            if (gnutls_x509_crt_export(crt, GNUTLS_X509_FMT_DER, der, &dl) >= 0 &&
                gnutls_hash_fast(GNUTLS_DIG_SHA256, der, dl, sum) == 0)
                for (int i = 0; i < 32; i++)
                    snprintf(out + 2 * i, 3, "%02x", sum[i]);
        }
        gnutls_x509_crt_deinit(crt);
        return;
    }
}

struct upload {
    const char *p;
    size_t left;
};

static size_t on_upload(char *buf, size_t size, size_t n, void *ud)
{
    struct upload *u = ud;
    size_t k = size * n < u->left ? size * n : u->left;
    memcpy(buf, u->p, k);
    u->p += k;
    u->left -= k;
    return k;
}

static int write_datum(const char *path, const gnutls_datum_t *d, const char *mode)
{
    FILE *f = fopen(path, mode);
    if (!f)
        return -1;
    size_t w = fwrite(d->data, 1, d->size, f);
    return (fclose(f) == 0 && w == d->size) ? 0 : -1;
}

/* Decrypts a PKCS#12 file into <p12>.<pid>.cert.pem and .key.pem (the
 * caller removes them). 0, or -1 with the reason in err. */
int e2e_p12_to_pem(const char *p12_file, const char *password, char *cert_out, char *key_out,
                   char *err, size_t err_cap)
{
    gnutls_datum_t raw = {NULL, 0};
    int rc = gnutls_load_file(p12_file, &raw);
    if (rc < 0) {
        snprintf(err, err_cap, "%s: %s", p12_file, gnutls_strerror(rc));
        return -1;
    }
    gnutls_pkcs12_t p12 = NULL;
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t *chain = NULL;
    unsigned n_chain = 0;
    int result = -1;
    if ((rc = gnutls_pkcs12_init(&p12)) < 0 ||
        (rc = gnutls_pkcs12_import(p12, &raw, GNUTLS_X509_FMT_DER, 0)) < 0 ||
        (rc = gnutls_pkcs12_simple_parse(p12, password ? password : "", &key, &chain, &n_chain,
                                         NULL, NULL, NULL, 0)) < 0) {
        snprintf(err, err_cap, "%s: %s", p12_file, gnutls_strerror(rc));
        goto done;
    }
    snprintf(cert_out, E2E_PATH_MAX + 32, "%s.%d.cert.pem", p12_file, (int)getpid());
    snprintf(key_out, E2E_PATH_MAX + 32, "%s.%d.key.pem", p12_file, (int)getpid());
    gnutls_datum_t pem = {NULL, 0};
    if (gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &pem) < 0 ||
        write_datum(key_out, &pem, "w") != 0) {
        snprintf(err, err_cap, "%s: cannot write the key", p12_file);
        gnutls_free(pem.data);
        goto done;
    }
    gnutls_free(pem.data);
    remove(cert_out);
    for (unsigned i = 0; i < n_chain; i++) {
        pem.data = NULL;
        if (gnutls_x509_crt_export2(chain[i], GNUTLS_X509_FMT_PEM, &pem) < 0 ||
            write_datum(cert_out, &pem, "a") != 0) {
            snprintf(err, err_cap, "%s: cannot write the certificate", p12_file);
            gnutls_free(pem.data);
            goto done;
        }
        gnutls_free(pem.data);
    }
    result = 0;
done:
    for (unsigned i = 0; i < n_chain; i++)
        gnutls_x509_crt_deinit(chain[i]);
    gnutls_free(chain);
    if (key)
        gnutls_x509_privkey_deinit(key);
    if (p12)
        gnutls_pkcs12_deinit(p12);
    gnutls_free(raw.data);
    return result;
}

int e2e_request(const struct e2e_server *s, const struct e2e_request *rq, struct e2e_response *out)
{
    memset(out, 0, sizeof *out);
    const char *listener = rq->listener ? rq->listener : "api";
    unsigned port = e2e_port(s, listener);
    if (!port) {
        snprintf(out->error, sizeof out->error, "no listener \"%s\"", listener);
        return -1;
    }
    const char *path = rq->path ? rq->path : "/";
    size_t url_len = strlen(path) + 64;
    char *url = malloc(url_len);
    if (!url) {
        snprintf(out->error, sizeof out->error, "out of memory");
        return -1;
    }
    snprintf(url, url_len, "https://localhost:%u%s", port, path);
    char ca[E2E_PATH_MAX];
    if (!rq->ca_file)
        e2e_pki_path(s, "ca.pem", ca);
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(out->error, sizeof out->error, "curl_easy_init failed");
        free(url);
        return -1;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    struct collect body = {NULL, 0};
    struct curl_slist *hdrs = NULL;
    for (size_t i = 0; rq->headers && rq->headers[i]; i++)
        hdrs = curl_slist_append(hdrs, rq->headers[i]);
    /* libcurl would wait for "100 Continue" before a large body. */
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (rq->chunked)
        hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_CAINFO, rq->ca_file ? rq->ca_file : ca);
    /* Only that CA: libcurl would otherwise also read every certificate in
     * the system's CA folder for each handle (slow under ASan). */
    curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(h, CURLOPT_CERTINFO, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                     rq->timeout_ms ? rq->timeout_ms : (long)E2E_REQUEST_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    char p12_cert[E2E_PATH_MAX + 32] = "", p12_key[E2E_PATH_MAX + 32] = "";
    if (rq->cert_file) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, rq->cert_file);
        curl_easy_setopt(h, CURLOPT_SSLKEY, rq->key_file);
    } else if (rq->p12_file) {
        /* libcurl on GnuTLS (Debian's libcurl4-gnutls) takes no PKCS#12
         * client certificate, so open it here as a client would, with the
         * password, and hand libcurl the PEM parts. */
        if (e2e_p12_to_pem(rq->p12_file, rq->p12_password, p12_cert, p12_key, out->error,
                           sizeof out->error) != 0) {
            curl_slist_free_all(hdrs);
            curl_easy_cleanup(h);
            free(url);
            out->body = strdup("");
            return -1;
        }
        curl_easy_setopt(h, CURLOPT_SSLCERT, p12_cert);
        curl_easy_setopt(h, CURLOPT_SSLKEY, p12_key);
    }
    const char *method = rq->method ? rq->method : "GET";
    struct upload up = {rq->body, rq->body ? (rq->body_len ? rq->body_len : strlen(rq->body)) : 0};
    if (rq->body && !rq->chunked) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)up.left);
    } else if (rq->body) {
        /* A body of unknown length: libcurl sends it chunked. */
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_upload);
        curl_easy_setopt(h, CURLOPT_READDATA, &up);
    }
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0 || rq->body)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    CURLcode cc = curl_easy_perform(h);
    out->curl_code = (int)cc;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
        server_fingerprint(h, out->server_cert_sha256);
    } else {
        snprintf(out->error, sizeof out->error, "%s: %s", curl_easy_strerror(cc),
                 errbuf[0] ? errbuf : "-");
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    free(url);
    if (p12_cert[0]) {
        unlink(p12_cert);
        unlink(p12_key);
    }
    out->body = body.data ? body.data : strdup("");
    out->body_len = body.len;
    if (out->body_len)
        out->json = json_loadb(out->body, out->body_len, 0, NULL);
    return cc == CURLE_OK ? 0 : -1;
}

int e2e_get(const struct e2e_server *s, const char *listener, const char *path,
            struct e2e_response *out)
{
    struct e2e_request rq = {.listener = listener, .path = path};
    return e2e_request(s, &rq, out);
}

/* ---- raw bytes over TLS (GnuTLS) ---- */

int e2e_tcp_connect(const struct e2e_server *s, const char *listener, const char *source)
{
    unsigned port = e2e_port(s, listener);
    if (!port)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (source) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        if (inet_pton(AF_INET, source, &src.sin_addr) != 1 ||
            bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int e2e_raw(const struct e2e_server *s, const char *listener, const void *data, size_t len,
            long timeout_ms, char **out, long *elapsed_ms)
{
    struct e2e_raw_part part = {data, len, 0};
    return e2e_raw_parts(s, listener, &part, 1, timeout_ms, out, elapsed_ms);
}

int e2e_raw_parts(const struct e2e_server *s, const char *listener,
                  const struct e2e_raw_part *parts, size_t n_parts, long timeout_ms, char **out,
                  long *elapsed_ms)
{
    *out = NULL;
    *elapsed_ms = 0;
    /* The server may close while we still send (that is what some tests
     * provoke): a write error, not a SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    int fd = e2e_tcp_connect(s, listener, NULL);
    if (fd < 0)
        return -1;
    gnutls_certificate_credentials_t cred;
    gnutls_session_t ses;
    gnutls_certificate_allocate_credentials(&cred);
    char ca[E2E_PATH_MAX];
    gnutls_certificate_set_x509_trust_file(cred, e2e_pki_path(s, "ca.pem", ca),
                                           GNUTLS_X509_FMT_PEM);
    gnutls_init(&ses, GNUTLS_CLIENT);
    gnutls_set_default_priority(ses);
    gnutls_server_name_set(ses, GNUTLS_NAME_DNS, "localhost", 9);
    gnutls_credentials_set(ses, GNUTLS_CRD_CERTIFICATE, cred);
    gnutls_session_set_verify_cert(ses, "localhost", 0);
    gnutls_transport_set_int(ses, fd);
    gnutls_handshake_set_timeout(ses, (unsigned)timeout_ms);
    int rc;
    do
        rc = gnutls_handshake(ses);
    while (rc < 0 && !gnutls_error_is_fatal(rc));
    int result = -1;
    long start = now_ms();
    struct collect got = {NULL, 0};
    if (rc < 0)
        goto done;
    for (size_t i = 0; i < n_parts; i++) {
        if (parts[i].delay_ms > 0)
            usleep((useconds_t)parts[i].delay_ms * 1000);
        /* Once the server has answered or closed, a slow client is done:
         * read what it said (the elapsed time then says when it gave up). */
        struct pollfd ready = {.fd = fd, .events = POLLIN};
        if (i > 0 && (gnutls_record_check_pending(ses) > 0 || poll(&ready, 1, 0) > 0))
            break;
        const char *p = parts[i].data;
        size_t left = parts[i].len;
        while (left) {
            ssize_t w = gnutls_record_send(ses, p, left);
            if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
                continue;
            if (w < 0)
                break; /* the server may close early; read what it said */
            p += w;
            left -= (size_t)w;
        }
    }
    result = 1;
    for (;;) {
        long wait = timeout_ms - (now_ms() - start);
        if (wait <= 0)
            break;
        if (gnutls_record_check_pending(ses) == 0) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            if (poll(&pfd, 1, (int)wait) <= 0)
                break;
        }
        char buf[16384];
        ssize_t r = gnutls_record_recv(ses, buf, sizeof buf);
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
            continue;
        if (r <= 0) {
            result = 0; /* closed (cleanly or not) */
            break;
        }
        on_body(buf, 1, (size_t)r, &got);
    }
done:
    *elapsed_ms = now_ms() - start;
    *out = got.data ? got.data : strdup("");
    gnutls_deinit(ses);
    gnutls_certificate_free_credentials(cred);
    close(fd);
    return result;
}

/* ---- main: shared servers around Criterion's run ---- */

int main(int argc, char **argv)
{
    struct criterion_test_set *tests = criterion_initialize();
    int result = 0;
    if (!criterion_handle_args(argc, argv, true)) {
        criterion_finalize(tests);
        return 0;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    size_t n = &e2e_n_shared_servers ? e2e_n_shared_servers : 0;
    struct e2e_server *servers = calloc(n ? n : 1, sizeof *servers);
    size_t started = 0;
    for (; started < n; started++) {
        const struct e2e_shared_server *sh = &e2e_shared_servers[started];
        if (e2e_start(&sh->options, &servers[started]) != 0) {
            fail_msg("shared server \"%s\" did not start", sh->name);
            result = 1;
            break;
        }
        char var[128];
        snprintf(var, sizeof var, "%s%s", E2E_ENV_PREFIX, sh->name);
        setenv(var, servers[started].dir, 1);
    }
    if (result == 0)
        result = !criterion_run_all_tests(tests);
    for (size_t i = 0; i < started; i++) {
        if (e2e_stop(&servers[i]) != 0) {
            fail_msg("shared server \"%s\" did not stop cleanly", e2e_shared_servers[i].name);
            result = 1;
        }
    }
    free(servers);
    curl_global_cleanup();
    criterion_finalize(tests);
    return result;
}
