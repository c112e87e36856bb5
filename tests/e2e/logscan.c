/*
 * logscan.c: no personal number or secret in the server's log (#18 item
 * 5). e2e_stop runs e2e_log_scan on every server the end-to-end suite
 * stops, so every log line the suite makes a server write is read once,
 * and a test fails on the first leak, naming the line.
 *
 * What counts as a leak:
 *   - a CPR number: ten digits (or six, '-', four) forming a day and month
 *     (substitute numbers, day + 60, included), standing alone: not part
 *     of a longer run of digits (timestamps in ms, sequence numbers) or of
 *     a word (a hex digest, a UUID's last group);
 *   - a bearer token: a JWT's "eyJ<base64url>.<base64url>";
 *   - a one-time secret, session id or CSRF token: a run of exactly 32
 *     base64url characters with upper case, lower case, a digit and a
 *     letter past 'f' (what the platform's 24 random bytes look like; ids
 *     are hex, in the request log with their digits masked by X);
 *   - the test data's secrets, read from the server's folder: each
 *     PKCS#12 password (*.p12.pass), each password file (pw.txt and files
 *     named *password*), each one-time set-up secret the CLI printed
 *     (cli.log), and the passwords the tests type (E2E_KNOWN_PASSWORDS),
 *     as sent and form-encoded.
 * The log is the server's own (server.log: its stderr and stdout); the
 * CLI's output (cli.log) shows secrets to their owner by design.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ident.h"
#include "harness.h"

#define SCAN_SECRETS_MAX 256
#define SCAN_SECRET_MIN  6 /* shorter "secrets" would match by chance */
#define SCAN_SECRET_LEN  128
#define SCAN_DEPTH_MAX   3
#define SCAN_RANDOM_LEN  32 /* base64url of 24 random bytes */

/* The passwords the end-to-end tests type (tests/e2e/api_helpers.h and the
 * web tests). */
static const char *const E2E_KNOWN_PASSWORDS[] = {"correct horse battery", "correct+horse+battery"};

struct secrets {
    size_t n;
    char v[SCAN_SECRETS_MAX][SCAN_SECRET_LEN];
};

static void add_secret(struct secrets *s, const char *v)
{
    size_t len = strcspn(v, "\r\n");
    while (len && isspace((unsigned char)v[len - 1]))
        len--;
    while (len && isspace((unsigned char)*v))
        v++, len--;
    if (len < SCAN_SECRET_MIN || len >= SCAN_SECRET_LEN || s->n >= SCAN_SECRETS_MAX)
        return;
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->v[i]) == len && memcmp(s->v[i], v, len) == 0)
            return;
    memcpy(s->v[s->n], v, len);
    s->v[s->n][len] = '\0';
    s->n++;
}

static void add_first_line(struct secrets *s, const char *path)
{
    char line[SCAN_SECRET_LEN];
    if (e2e_read_line(path, line, sizeof line) == 0)
        add_secret(s, line);
}

/* The set-up secrets `dupla org create` / `user create` printed: the
 * indented line after "one-time set-up secret". */
static void add_cli_secrets(struct secrets *s, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[1024];
    bool next = false;
    while (fgets(line, sizeof line, f)) {
        if (next)
            add_secret(s, line);
        next = strstr(line, "one-time set-up secret") != NULL;
    }
    fclose(f);
}

static void gather(struct secrets *s, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[E2E_PATH_MAX * 2];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t n = strlen(e->d_name);
        if (e->d_type == DT_DIR) {
            if (depth < SCAN_DEPTH_MAX)
                gather(s, path, depth + 1);
        } else if ((n > 9 && strcmp(e->d_name + n - 9, ".p12.pass") == 0) ||
                   strcmp(e->d_name, "pw.txt") == 0 || strstr(e->d_name, "password")) {
            add_first_line(s, path);
        } else if (strcmp(e->d_name, "cli.log") == 0) {
            add_cli_secrets(s, path);
        }
    }
    closedir(d);
}

static bool b64url(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_';
}

/* What in line is a leak (a short name), or NULL; *at is where. */
static const char *line_leak(const char *line, const struct secrets *sec, size_t *at)
{
    size_t len = strlen(line);
    for (size_t i = 0; i < sec->n; i++) {
        const char *p = strstr(line, sec->v[i]);
        if (p) {
            *at = (size_t)(p - line);
            return "a secret of the test data";
        }
    }
    for (size_t i = 0; i < len; i++) {
        /* A number stands alone: not inside a hex digest or an id. */
        bool start = i == 0 || !isalnum((unsigned char)line[i - 1]);
        /* A CPR number: DDMMYYSSSS or DDMMYY-SSSS. */
        if (start && len - i >= 10) {
            char cpr[10];
            size_t k = 0, j = i;
            while (k < 10 && j < len &&
                   (isdigit((unsigned char)line[j]) || (k == 6 && line[j] == '-' && j == i + 6))) {
                if (line[j] != '-')
                    cpr[k++] = line[j];
                j++;
            }
            if (k == 10 && (j >= len || !isalnum((unsigned char)line[j])) &&
                ident_cpr_valid((str_t){cpr, 10})) {
                *at = i;
                return "a CPR number";
            }
        }
        /* A JWT. */
        if (strncmp(line + i, "eyJ", 3) == 0 && (i == 0 || !b64url(line[i - 1]))) {
            size_t j = i;
            while (j < len && b64url(line[j]))
                j++;
            size_t k = j + 1;
            while (k < len && b64url(line[k]))
                k++;
            if (j - i >= 10 && j < len && line[j] == '.' && k - j > 8) {
                *at = i;
                return "a bearer token (JWT)";
            }
        }
        /* A random secret of 24 bytes, base64url. */
        if (b64url(line[i]) && (i == 0 || !b64url(line[i - 1]))) {
            size_t j = i;
            bool up = false, low = false, dig = false, nonhex = false;
            while (j < len && b64url(line[j])) {
                up |= isupper((unsigned char)line[j]) != 0;
                low |= islower((unsigned char)line[j]) != 0;
                dig |= isdigit((unsigned char)line[j]) != 0;
                nonhex |= !isxdigit((unsigned char)line[j]) && line[j] != 'X';
                j++;
            }
            /* Not a hex id whose digits the request log masked with X. */
            if (j - i == SCAN_RANDOM_LEN && up && low && dig && nonhex) {
                *at = i;
                return "a one-time secret, session or CSRF token (32 random base64url characters)";
            }
        }
    }
    return NULL;
}

int e2e_log_scan_file(const char *log, const char *dir, char *why, size_t cap)
{
    static struct secrets sec; /* large; e2e_stop runs in one thread */
    memset(&sec, 0, sizeof sec);
    for (size_t i = 0; i < sizeof E2E_KNOWN_PASSWORDS / sizeof E2E_KNOWN_PASSWORDS[0]; i++)
        add_secret(&sec, E2E_KNOWN_PASSWORDS[i]);
    if (dir)
        gather(&sec, dir, 0);
    FILE *f = fopen(log, "r");
    if (!f)
        return 0; /* no log: nothing leaked */
    char *line = NULL;
    size_t lcap = 0;
    long no = 0;
    int rc = 0;
    while (getline(&line, &lcap, f) > 0) {
        no++;
        size_t at = 0;
        const char *what = line_leak(line, &sec, &at);
        if (what) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(why, cap, "%s:%ld holds %s at column %zu: %.300s", log, no, what, at + 1,
                     line);
            rc = -1;
            break;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

int e2e_log_scan(const struct e2e_server *s, char *why, size_t cap)
{
    return e2e_log_scan_file(s->log, s->dir, why, cap);
}
