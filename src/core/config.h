/*
 * config.h: the server configuration file.
 *
 * The file is JSON. The keys the core knows (environment, store, listeners,
 * limits, log_level) are parsed into struct dupla_config; every module reads
 * its own section ("token", "audit", ...) from the parsed tree with
 * config_section(), so that adding a module does not touch this file.
 * Relative paths in the file are taken relative to the file's own folder.
 * See docs in README ("Configuration") for every key and its default.
 */
#ifndef DUPLA_CORE_CONFIG_H
#define DUPLA_CORE_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

#define CONFIG_MAX_LISTENERS 8
#define CONFIG_PATH_MAX      512
#define CONFIG_NAME_MAX      32

/* Defaults of the request limits (see struct limits_config). */
#define LIMIT_DEFAULT_HEADER_BYTES       8192
#define LIMIT_DEFAULT_URL_BYTES          4096
#define LIMIT_DEFAULT_QUERY_PARAMS       1100
#define LIMIT_DEFAULT_BODY_BYTES         (1024 * 1024)
#define LIMIT_DEFAULT_CONNECTIONS        16384
#define LIMIT_DEFAULT_CONNECTIONS_PER_IP 128
#define LIMIT_DEFAULT_REQUEST_SECONDS    30
#define LIMIT_DEFAULT_IDLE_SECONDS       15
#define LIMIT_DEFAULT_HANDSHAKE_SECONDS  5
/* Strict-Transport-Security max-age of a listener's answers (a year). */
#define LISTENER_DEFAULT_HSTS_MAX_AGE 31536000
#define LISTENER_HSTS_MAX_AGE_MAX     63072000

enum environment { ENV_TEST = 0, ENV_PRODUCTION = 1 };

enum client_cert_policy {
    CLIENT_CERT_NONE = 0,    /* no certificate is asked for */
    CLIENT_CERT_REQUEST = 1, /* asked for; a route decides whether it needs one */
    CLIENT_CERT_REQUIRE = 2, /* the TLS handshake fails without a trusted one */
};

#define CONFIG_TLS_PRIORITIES_MAX 512

struct listener_config {
    char name[CONFIG_NAME_MAX];      /* "api", "token", ... (metrics, logs) */
    char address[64];                /* "127.0.0.1", "::1", "0.0.0.0" */
    unsigned port;                   /* 0 picks a free port (see serve --ready-file) */
    char cert_file[CONFIG_PATH_MAX]; /* server certificate chain, PEM */
    char key_file[CONFIG_PATH_MAX];  /* its private key, PEM */
    enum client_cert_policy client_cert;
    char trust_file[CONFIG_PATH_MAX]; /* CA certificates for client certs, PEM */
    char crl_file[CONFIG_PATH_MAX];   /* optional CRL, PEM */
    unsigned hsts_max_age;            /* Strict-Transport-Security max-age; 0: none */
    bool metrics;                     /* serves GET /metrics (default: a loopback address) */
    /* GnuTLS priority string; "": the built-in one (TLS 1.2/1.3, AEAD with
     * forward secrecy, the server's order). Checked by http_server_new. */
    char tls_priorities[CONFIG_TLS_PRIORITIES_MAX];
};

/* Limits that apply before authentication, to every request. */
struct limits_config {
    size_t max_header_bytes;   /* one header line: name + value (431) */
    size_t max_url_bytes;      /* path + query (414) */
    unsigned max_query_params; /* query parameters per request (400) */
    size_t max_body_bytes;     /* request body, unless a route says less (413) */
    unsigned max_connections;  /* open connections in all */
    unsigned max_connections_per_ip;
    unsigned request_seconds;   /* time to receive a whole request */
    unsigned idle_seconds;      /* idle keep-alive connections are closed after */
    unsigned handshake_seconds; /* time to finish the TLS handshake (http/sweep.c) */
};

#define CONFIG_USER_MAX 64

struct dupla_config {
    char path[CONFIG_PATH_MAX]; /* the file it was read from */
    char dir[CONFIG_PATH_MAX];  /* its folder, for relative paths */
    enum environment environment;
    char store_url[CONFIG_PATH_MAX]; /* "sqlite:PATH" (default) or "postgresql://..." */
    char log_level[16];
    /* `dupla serve` drops to this user (and its group, no supplementary
     * groups) once its ports are bound; "": stays who started it */
    char user[CONFIG_USER_MAX];
    /* the request process's system call filter (core/sandbox.h): an enum
     * sandbox_mode; seccomp_set: the file named it (else the default, kill,
     * which a kernel without seccomp only warns about) */
    int seccomp;
    bool seccomp_set;
    /* the listeners' private keys live in the key process, which signs
     * every handshake (default); false: the request process reads them */
    bool tls_key_process;
    size_t n_listeners;
    struct listener_config listeners[CONFIG_MAX_LISTENERS];
    struct limits_config limits;
    json_t *root; /* the whole parsed file, owned */
};

/* Reads and validates path into *cfg. Every error names the file, the line
 * where jansson can tell it, the key and the reason. On error *cfg holds
 * nothing to free. */
int config_load(const char *path, struct dupla_config *cfg, err_t *err);
/* Parses a configuration from a JSON text (tests); dir resolves paths. */
int config_load_string(const char *text, const char *dir, struct dupla_config *cfg, err_t *err);
void config_free(struct dupla_config *cfg);

/* Refuses (DUPLA_EINVAL naming the key) a key of section that is not in
 * keys (NULL-terminated), so that a typo in the file is an error and not a
 * silently ignored setting: 'config: unknown key "stor" in section "audit"'.
 * Also refuses a section that is not an object. NULL section: nothing to
 * check. Every module's section reader calls it with the keys it reads. */
int config_only_keys(const json_t *section, const char *secname, const char *const *keys,
                     err_t *err);
/* Refuses a top-level key of the file that is neither one of the core's
 * keys nor a module's section (the table config_sections in config.c:
 * a module that adds a section adds its name there). config_load calls it. */
int config_only_sections(const struct dupla_config *cfg, err_t *err);

/* A module's own section, or NULL. Borrowed from cfg. */
json_t *config_section(const struct dupla_config *cfg, const char *name);

/* Resolves a path from the file against its folder into out. 0 or -1 (too long). */
int config_resolve_path(const struct dupla_config *cfg, const char *path, char *out, size_t cap);

const char *environment_name(enum environment env);

/* Typed readers for modules' sections. Each returns 0 and sets *out (to def
 * when the key is absent), or an error naming "section.key". */
int config_get_int(const json_t *section, const char *secname, const char *key, long long min,
                   long long max, long long def, long long *out, err_t *err);
int config_get_string(const json_t *section, const char *secname, const char *key, const char *def,
                      const char **out, err_t *err);
int config_get_bool(const json_t *section, const char *secname, const char *key, int def, int *out,
                    err_t *err);

#endif
