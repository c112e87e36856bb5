/*
 * harness.h: end-to-end tests against the real `dupla serve`.
 *
 * A server is a fresh temporary folder with a local PKI (`dupla pki init`),
 * a configuration and a store, and `$DUPLA_BIN serve` running on free
 * ports, found through its ready file. Requests go over HTTPS with libcurl
 * (e2e_request) or, for malformed input libcurl would not send, as raw
 * bytes over a GnuTLS session (e2e_raw). Stopping sends SIGTERM and checks
 * that the server exited 0 and that its log holds no sanitizer report.
 *
 * Criterion runs each test in a fresh process, so a server shared by the
 * tests of a file is started by the harness's own main() before the tests
 * run and stopped after them; a file declares its shared servers with
 *
 *     E2E_SHARED_SERVERS({"main", {0}},
 *                        {"limits", {.limits_json = "{\"max_url_bytes\": 300}"}});
 *
 * and a test reaches one with e2e_shared("main"). A test that must stop or
 * signal its server starts its own with e2e_start() and stops it with
 * e2e_stop().
 *
 * Defaults: two listeners, "api" (no client certificates) and "token"
 * (client_cert "request", trust = the PKI's CA, crl = its CRL), both on
 * 127.0.0.1 with a free port and the PKI's server certificate. Every path
 * in the configuration is relative to the server's folder; the PKI is in
 * <dir>/pki.
 */
#ifndef DUPLA_TESTS_E2E_HARNESS_H
#define DUPLA_TESTS_E2E_HARNESS_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define E2E_DIR_MAX            512
#define E2E_PATH_MAX           1024
#define E2E_MAX_LISTENERS      8
#define E2E_MAX_HEADERS        64
#define E2E_READY_TIMEOUT_MS   20000 /* a sanitised build starts slowly */
#define E2E_STOP_TIMEOUT_MS    20000
#define E2E_REQUEST_TIMEOUT_MS 20000

struct e2e_options {
    /* A JSON object text for "limits" (absent: the server's defaults). */
    const char *limits_json;
    /* A JSON array text of further listeners. Missing keys are filled:
     * address 127.0.0.1, port 0, cert/key the PKI's server certificate, and
     * for client_cert other than "none" trust = CA and crl = CRL. */
    const char *listeners_json;
    /* A JSON object text whose members are added to the configuration's
     * top level (a module's section: "{\"token\": {...}}"). */
    const char *config_json;
    /* Only the listeners of listeners_json, not the two defaults. */
    bool no_default_listeners;
    /* More arguments for `dupla serve` (NULL-terminated), e.g.
     * {"--drain-seconds", "2", NULL}. */
    const char *const *serve_args;
};

struct e2e_server {
    char name[32];                 /* a shared server's name, else "" */
    char dir[E2E_DIR_MAX];         /* the temporary folder */
    char pki_dir[E2E_DIR_MAX + 8]; /* <dir>/pki */
    char config[E2E_PATH_MAX];     /* <dir>/dupla.json */
    char log[E2E_PATH_MAX];        /* <dir>/server.log: the server's stderr and stdout */
    char ready[E2E_PATH_MAX];      /* <dir>/ready.json */
    pid_t pid;
    bool owner; /* this process started it (and must stop it) */
    size_t n_listeners;
    struct {
        char name[32];
        unsigned port;
    } listeners[E2E_MAX_LISTENERS];
};

/* Makes a fresh folder and PKI, writes the configuration and starts the
 * server, waiting (bounded) until it is listening. 0, or -1 with the reason
 * on stderr (and the server's log, when it got that far). */
int e2e_start(const struct e2e_options *opt, struct e2e_server *s);
/* SIGTERM, then waits for the exit. 0 if the server exited with status 0
 * and its log has no sanitizer report; else -1, with the reason and the
 * log's tail on stderr. The folder is removed when all went well (unless
 * DUPLA_E2E_KEEP is set). */
int e2e_stop(struct e2e_server *s);
/* logscan.c: whether the log holds a CPR number, a bearer token, a
 * one-time secret or a password of the test data (see logscan.c for the
 * rules; secrets are gathered from dir, which may be NULL). 0, or -1 with
 * the line and what it holds in why. e2e_stop runs it on every server. */
int e2e_log_scan_file(const char *log, const char *dir, char *why, size_t cap);
int e2e_log_scan(const struct e2e_server *s, char *why, size_t cap);
/* Removes a server's folder (after e2e_stop with DUPLA_E2E_KEEP set). */
void e2e_remove_dir(const struct e2e_server *s);
/* Starts `dupla serve` again in the folder of a server that was stopped
 * (e2e_stop with DUPLA_E2E_KEEP set) or killed, on the same configuration
 * and store; opt gives only serve_args (may be NULL). 0 or -1, as
 * e2e_start. */
int e2e_restart(const struct e2e_options *opt, struct e2e_server *s);
/* Sends sig to the server (SIGHUP to reload). */
int e2e_signal(const struct e2e_server *s, int sig);
/* A server declared with E2E_SHARED_SERVERS, started by the harness.
 * Aborts the test if there is none of that name. */
const struct e2e_server *e2e_shared(const char *name);

/* The port of a listener; 0 if there is none of that name. */
unsigned e2e_port(const struct e2e_server *s, const char *listener);
/* "<dir>/<rel>" or "<pki_dir>/<rel>" into out (E2E_PATH_MAX); returns out. */
const char *e2e_path(const struct e2e_server *s, const char *rel, char *out);
const char *e2e_pki_path(const struct e2e_server *s, const char *rel, char *out);

/* Runs `$DUPLA_BIN pki issue-system --dir <pki> --cvr CVR --name NAME`
 * plus extra (NULL-terminated, may be NULL). The certificate is then at
 * <pki>/NAME.pem (.key, .p12, .p12.pass). 0 or -1 (output on stderr). */
int e2e_issue_system(const struct e2e_server *s, const char *name, const char *cvr,
                     const char *const *extra);
/* Runs $DUPLA_BIN with args (NULL-terminated; args[0] is the first argument
 * after the binary), output appended to out_file if given (else discarded).
 * Returns the exit status, or -1 if it did not exit normally. */
int e2e_run_dupla(const char *const *args, const char *out_file);
/* Runs a `dupla` command against server s (args as for e2e_run_dupla, at
 * most E2E_CLI_ARGS_MAX; `--config <s's config>` is appended), output
 * appended to <s's folder>/cli.log. Returns the exit status, or -1. */
#define E2E_CLI_ARGS_MAX 28
int e2e_cli(const struct e2e_server *s, const char *const *args);
/* Decrypts a PKCS#12 file with its password into PEM files
 * <p12>.<pid>.cert.pem and <p12>.<pid>.key.pem (cert_out and key_out get
 * their paths, E2E_PATH_MAX + 32 bytes each; the caller removes them). This
 * build's libcurl (GnuTLS) cannot load PKCS#12 itself. 0, or -1 with the
 * reason in err. */
int e2e_p12_to_pem(const char *p12_file, const char *password, char *cert_out, char *key_out,
                   char *err, size_t err_cap);
/* Reads the first line of a file (a PKCS#12 password) into out. 0 or -1. */
int e2e_read_line(const char *path, char *out, size_t cap);

/* ---- requests ---- */

struct e2e_request {
    const char *method;         /* default "GET" */
    const char *listener;       /* default "api" */
    const char *path;           /* sent as is (percent-encode yourself) */
    const char *const *headers; /* "Name: value", NULL-terminated */
    const char *body;           /* NULL: no body */
    size_t body_len;            /* 0 with a body: strlen(body) */
    bool chunked;               /* send the body with Transfer-Encoding: chunked */
    const char *cert_file;      /* client certificate, PEM ... */
    const char *key_file;       /* ... and its key */
    const char *p12_file;       /* or a PKCS#12 file ... */
    const char *p12_password;   /* ... and its password */
    const char *ca_file;        /* default: the server's CA */
    long timeout_ms;            /* default E2E_REQUEST_TIMEOUT_MS */
};

struct e2e_header {
    char *name;
    char *value;
};

struct e2e_response {
    long status;   /* 0 when no answer came (see curl_code and error) */
    int curl_code; /* CURLcode */
    char error[CURL_ERROR_SIZE + 128];
    size_t n_headers;
    struct e2e_header headers[E2E_MAX_HEADERS];
    char *body; /* NUL-terminated */
    size_t body_len;
    json_t *json;                /* the body parsed, when it is JSON */
    char server_cert_sha256[65]; /* of the certificate the server showed */
};

/* Sends one request on a new connection and fills *out (free it with
 * e2e_response_free). Returns 0 when an HTTP answer came, else -1 (a TLS
 * refusal, a timeout...) with curl_code and error set. */
int e2e_request(const struct e2e_server *s, const struct e2e_request *rq, struct e2e_response *out);
void e2e_response_free(struct e2e_response *r);
/* The first value of a response header (case-insensitive name), or NULL. */
const char *e2e_header(const struct e2e_response *r, const char *name);
/* A GET of path on a listener; the common case. */
int e2e_get(const struct e2e_server *s, const char *listener, const char *path,
            struct e2e_response *out);

/* Raw bytes over TLS: connects to a listener, sends data (may be empty),
 * and reads until the server closes or timeout_ms pass. *out (malloc'd,
 * NUL-terminated) holds what came back; *elapsed_ms how long from the end
 * of the handshake until the server closed (or the timeout). Returns 0 if
 * the server closed, 1 on the timeout, -1 if the TLS session did not come
 * up. */
int e2e_raw(const struct e2e_server *s, const char *listener, const void *data, size_t len,
            long timeout_ms, char **out, long *elapsed_ms);
/* As e2e_raw, in parts, each sent after waiting its delay_ms (slow
 * clients); the parts left are not sent once the server has answered or
 * closed the connection. */
struct e2e_raw_part {
    const void *data;
    size_t len;
    long delay_ms;
};
int e2e_raw_parts(const struct e2e_server *s, const char *listener,
                  const struct e2e_raw_part *parts, size_t n, long timeout_ms, char **out,
                  long *elapsed_ms);
/* A plain TCP connection to a listener from a loopback source address
 * (e.g. "127.0.0.2"; NULL: any), left open: the fd, or -1. For the
 * connection-limit tests. */
int e2e_tcp_connect(const struct e2e_server *s, const char *listener, const char *source);

/* ---- diagnostics ---- */

/* Prints the last lines of the server's log to stderr. */
void e2e_log_tail(const struct e2e_server *s, int lines);
/* true if the server's log has a line containing needle. */
bool e2e_log_contains(const struct e2e_server *s, const char *needle);
/* As e2e_log_contains, waiting up to timeout_ms for the line: a request's
 * log line is written when the server has finished with it, which may be
 * just after the client has its answer. */
bool e2e_log_wait(const struct e2e_server *s, const char *needle, long timeout_ms);
/* Asserts (Criterion) the status, printing the body and the log's tail
 * when it differs. */
#define e2e_assert_status(srv, resp, want)                                                         \
    do {                                                                                           \
        if ((resp)->status != (want)) {                                                            \
            e2e_log_tail((srv), 30);                                                               \
            cr_assert_fail("status %ld, want %d (curl: %s); body: %.*s", (resp)->status,           \
                           (int)(want), (resp)->error, 2000, (resp)->body ? (resp)->body : "");    \
        }                                                                                          \
    } while (0)

/* ---- servers shared by a file's tests ---- */

struct e2e_shared_server {
    const char *name;
    struct e2e_options options;
};

extern const struct e2e_shared_server e2e_shared_servers[];
extern const size_t e2e_n_shared_servers;

#define E2E_SHARED_SERVERS(...)                                                                    \
    const struct e2e_shared_server e2e_shared_servers[] = {__VA_ARGS__};                           \
    const size_t e2e_n_shared_servers = sizeof e2e_shared_servers / sizeof e2e_shared_servers[0]

#endif
