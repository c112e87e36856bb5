/*
 * session.c: logging in (with throttling), sessions and their CSRF tokens.
 *
 * A session id is IDENTITY_SESSION_ID_BYTES random bytes (base64url), sent
 * to the browser in an HttpOnly; Secure; SameSite=Strict cookie; the store
 * keeps only its SHA-256. A session ends after session_idle_ms without use
 * or session_abs_ms after login, whichever is first.
 *
 * The CSRF token is derived from the session id (SHA-256 of "csrf:" + id),
 * so nothing more is stored and it cannot be guessed without the cookie,
 * which a cross-site page cannot read. Every state-changing request made
 * with a session must carry it in X-CSRF-Token (routes.c checks it).
 *
 * Throttling is in the store (table identity_login_throttle, so every node
 * of a cluster counts the same failures), by growing delays, never a lock
 * (identity.h, LOGIN_*): a failure counts for the username from this
 * address, for the address and for the username from anywhere; past each
 * key's free failures the key must wait, doubling per failure up to its
 * cap. A try inside a wait is refused before the password is checked (no
 * argon2 work). The username alone waits seconds at most, so guessing from
 * elsewhere cannot keep its owner out; the guesser's own address and pair
 * wait up to minutes. A success forgets the pair and the username.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/encode.h"
#include "core/log.h"
#include "core/rand.h"
#include "identity/internal.h"

/* A valid argon2id hash of a random value, checked against when the user is
 * unknown so that the answer takes as long as for a known user. */
static char dummy_hash[PASSWORD_ENCODED_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void dummy_init(void)
{
    char pw[33];
    if (rand_hex(pw, 16) == 0)
        identity_password_hash(str_from_cstr(pw), dummy_hash, sizeof dummy_hash, NULL);
    secret_wipe(pw, sizeof pw);
}

/* The row of key: SHA-256 of the key, so that the table names neither the
 * username nor the address (a row lives LOGIN_WINDOW_MS past its last
 * failure at most; note_failure sweeps older ones). */
static void key_hash(const char *key, char out[PKI_SHA256_HEX])
{
    pki_sha256_hex(key, strlen(key), out);
}

void identity_throttle_reset(identity_t *id)
{
    store_conn_t *c;
    err_t err;
    if (store_conn_get(id->st, &c, &err))
        return;
    store_exec(c, "DELETE FROM identity_login_throttle", &err);
    store_conn_put(c);
}

/* Seconds the longest of keys must still wait (0: none). */
static int wait_for(store_conn_t *c, const char *const keys[3], int64_t now, long *wait_s,
                    err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "SELECT MAX(wait_until_ms) FROM identity_login_throttle"
                           " WHERE key_hash IN (?, ?, ?)",
                           &s, err);
    if (rc)
        return rc;
    for (int i = 0; i < 3; i++) {
        char h[PKI_SHA256_HEX];
        key_hash(keys[i], h);
        store_bind_cstr(s, i + 1, h);
    }
    rc = store_step(s, err);
    int64_t until = rc == STORE_ROW && !store_col_is_null(s, 0) ? store_col_int64(s, 0) : 0;
    store_stmt_done(s);
    if (rc < 0)
        return rc;
    *wait_s = until > now ? (long)((until - now + 999) / 1000) : 0;
    return 0;
}

/* Counts a failure for key: past free failures, a wait of
 * LOGIN_DELAY_BASE_MS doubled per further failure, at most max_delay_ms.
 * One upsert counts (atomic on both backends, so failures on several nodes
 * all count); the wait it implies is then raised, never lowered. */
static int note_failure(store_conn_t *c, const char *key, unsigned free_fails, int64_t max_delay_ms,
                        int64_t now, err_t *err)
{
    char h[PKI_SHA256_HEX];
    key_hash(key, h);
    store_stmt_t *s;
    int rc = store_prepare(
        c,
        "INSERT INTO identity_login_throttle (key_hash, fails, last_ms, wait_until_ms)"
        " VALUES (?, 1, ?, 0) ON CONFLICT (key_hash) DO UPDATE SET"
        " fails = CASE WHEN ? - identity_login_throttle.last_ms > ?"
        " AND ? > identity_login_throttle.wait_until_ms THEN 1"
        " ELSE identity_login_throttle.fails + 1 END, last_ms = ? RETURNING fails",
        &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, h);
    store_bind_int64(s, 2, now);
    store_bind_int64(s, 3, now);
    store_bind_int64(s, 4, LOGIN_WINDOW_MS);
    store_bind_int64(s, 5, now);
    store_bind_int64(s, 6, now);
    rc = store_step(s, err);
    int64_t fails = rc == STORE_ROW ? store_col_int64(s, 0) : 0;
    store_stmt_done(s);
    if (rc < 0)
        return rc;
    if (fails <= (int64_t)free_fails)
        return 0;
    int64_t over = fails - free_fails - 1;
    int64_t delay = over >= 30 ? max_delay_ms : (int64_t)LOGIN_DELAY_BASE_MS << over;
    if (delay > max_delay_ms)
        delay = max_delay_ms;
    if ((rc = store_prepare(c,
                            "UPDATE identity_login_throttle SET wait_until_ms = ?"
                            " WHERE key_hash = ? AND wait_until_ms < ?",
                            &s, err)))
        return rc;
    store_bind_int64(s, 1, now + delay);
    store_bind_cstr(s, 2, h);
    store_bind_int64(s, 3, now + delay);
    rc = store_step(s, err);
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

/* Forgets keys that have been quiet for the window and wait no more. */
static int sweep(store_conn_t *c, int64_t now, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "DELETE FROM identity_login_throttle"
                           " WHERE last_ms < ? AND wait_until_ms < ?",
                           &s, err);
    if (rc)
        return rc;
    store_bind_int64(s, 1, now - LOGIN_WINDOW_MS);
    store_bind_int64(s, 2, now);
    rc = store_step(s, err);
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

static void note_success(store_conn_t *c, const char *key)
{
    char h[PKI_SHA256_HEX];
    key_hash(key, h);
    store_stmt_t *s;
    err_t err;
    if (store_prepare(c, "DELETE FROM identity_login_throttle WHERE key_hash = ?", &s, &err))
        return;
    store_bind_cstr(s, 1, h);
    if (store_step(s, &err) < 0)
        log_json(LOG_WARN, "login throttle: cannot forget a key",
                 json_pack("{s:s}", "error", err.log));
    store_stmt_done(s);
}

void identity_session_csrf(str_t session_id, char *out)
{
    unsigned char d[PKI_SHA256_LEN];
    /* SHA-256("csrf:" || id): one-way, so the token does not reveal the id. */
    char buf[5 + IDENTITY_SESSION_ID_TEXT];
    size_t n =
        session_id.len < IDENTITY_SESSION_ID_TEXT ? session_id.len : IDENTITY_SESSION_ID_TEXT;
    memcpy(buf, "csrf:", 5);
    memcpy(buf + 5, session_id.ptr, n);
    pki_sha256(buf, 5 + n, d);
    secret_wipe(buf, sizeof buf);
    base64url_encode(d, sizeof d, out);
}

bool identity_session_csrf_ok(str_t session_id, str_t csrf)
{
    if (session_id.len == 0 || csrf.len == 0)
        return false;
    char want[IDENTITY_CSRF_TEXT];
    identity_session_csrf(session_id, want);
    return str_ct_eq(str_from_cstr(want), csrf);
}

int identity_login(identity_t *id, str_t username, str_t password, const char *peer,
                   struct identity_session *out, long *retry_after_s, err_t *err)
{
    pthread_once(&dummy_once, dummy_init);
    *retry_after_s = 0;
    if (username.len == 0 || username.len > IDENTITY_USERNAME_MAX)
        return err_param(err, DUPLA_EINVAL, "username", "username is required");
    if (password.len == 0 || password.len > PASSWORD_MAX_LEN)
        return err_param(err, DUPLA_EINVAL, "password", "password is required");
    char ukey[LOGIN_KEY_MAX], akey[LOGIN_KEY_MAX], pkey[LOGIN_KEY_MAX];
    snprintf(ukey, sizeof ukey, "u:%.*s", STR_FMT(username));
    snprintf(akey, sizeof akey, "a:%.63s", peer ? peer : "");
    snprintf(pkey, sizeof pkey, "p:%.63s|%.*s", peer ? peer : "", STR_FMT(username));
    const char *const keys[3] = {ukey, akey, pkey};
    int64_t now = clock_now_ms();

    store_conn_t *c;
    int rc = store_conn_get(id->st, &c, err);
    if (rc)
        return rc;
    long wait = 0;
    if ((rc = wait_for(c, keys, now, &wait, err)))
        goto out;
    if (wait) {
        *retry_after_s = wait;
        rc = err_set(err, DUPLA_ERATE, "too many failed logins; try again in %ld seconds",
                     *retry_after_s);
        err_problem(err, PROBLEM_LOGIN_THROTTLED);
        goto out;
    }
    store_stmt_t *s;
    if ((rc = store_prepare(c,
                            "SELECT u.id, u.password_hash, u.status, o.status FROM identity_user u"
                            " JOIN identity_org o ON o.id = u.org_id WHERE u.username = ?",
                            &s, err)))
        goto out;
    store_bind_text(s, 1, username);
    rc = store_step(s, err);
    char uid[IDENTITY_ID_LEN + 1] = "", hash[PASSWORD_ENCODED_MAX] = "";
    bool active = false;
    if (rc == STORE_ROW) {
        str_copy(store_col_text(s, 0), uid, sizeof uid);
        str_copy(store_col_text(s, 1), hash, sizeof hash);
        active = store_col_int64(s, 2) == USER_ACTIVE && store_col_int64(s, 3) == ORG_ACTIVE;
    }
    store_stmt_done(s);
    if (rc < 0)
        goto out;
    bool found = rc == STORE_ROW && hash[0];
    int vrc = identity_password_verify(password, found ? hash : dummy_hash);
    secret_wipe(hash, sizeof hash);
    if (!found || vrc != 0 || !active) {
        err_t terr;
        if (note_failure(c, pkey, LOGIN_FREE_FAILS_PAIR, LOGIN_MAX_DELAY_PAIR, now, &terr) ||
            note_failure(c, akey, LOGIN_FREE_FAILS_IP, LOGIN_MAX_DELAY_IP, now, &terr) ||
            note_failure(c, ukey, LOGIN_FREE_FAILS_USER, LOGIN_MAX_DELAY_USER, now, &terr) ||
            sweep(c, now, &terr))
            log_json(LOG_WARN, "login throttle: cannot count a failure",
                     json_pack("{s:s}", "error", terr.log));
        json_t *f = json_pack("{s:s, s:s}", "peer", peer ? peer : "", "reason",
                              !found ? "unknown user or no password"
                              : vrc  ? "wrong password"
                                     : "inactive");
        log_json(LOG_INFO, "login refused", f);
        rc = err_set(err, DUPLA_EUNAUTH, "wrong username or password");
        goto out;
    }
    note_success(c, ukey);
    note_success(c, pkey);

    unsigned char raw[IDENTITY_SESSION_ID_BYTES];
    if (rand_bytes(raw, sizeof raw)) {
        rc = err_internal(err, DUPLA_EIO, "identity: no random bytes for a session");
        goto out;
    }
    memset(out, 0, sizeof *out);
    base64url_encode(raw, sizeof raw, out->id);
    secret_wipe(raw, sizeof raw);
    identity_session_csrf(str_from_cstr(out->id), out->csrf);
    out->expires_ms = now + id->session_abs_ms;
    char idhash[PKI_SHA256_HEX];
    pki_sha256_hex(out->id, strlen(out->id), idhash);
    if ((rc = store_prepare(c,
                            "INSERT INTO identity_session (id_hash, user_id, created_ms,"
                            " last_seen_ms, expires_ms) VALUES (?, ?, ?, ?, ?)",
                            &s, err)))
        goto out;
    store_bind_cstr(s, 1, idhash);
    store_bind_cstr(s, 2, uid);
    store_bind_int64(s, 3, now);
    store_bind_int64(s, 4, now);
    store_bind_int64(s, 5, out->expires_ms);
    rc = store_step(s, err);
    store_stmt_done(s);
    rc = rc < 0 ? rc : 0;
    /* Sweep expired sessions now and then (cheap: indexed by primary key is
     * not enough, but logins are rare compared with requests). */
    if (!rc && (rc = store_prepare(c,
                                   "DELETE FROM identity_session WHERE expires_ms < ?"
                                   " OR last_seen_ms < ?",
                                   &s, err)) == 0) {
        store_bind_int64(s, 1, now);
        store_bind_int64(s, 2, now - id->session_idle_ms);
        rc = store_step(s, err);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    if (rc)
        secret_wipe(out, sizeof *out);
    else
        log_json(LOG_INFO, "login",
                 json_pack("{s:s, s:s}", "user_id", uid, "peer", peer ? peer : ""));
out:
    store_conn_put(c);
    return rc;
}

int identity_session_actor(identity_t *id, str_t session_id, identity_actor_t *actor, err_t *err)
{
    if (session_id.len == 0 || session_id.len >= IDENTITY_SESSION_ID_TEXT)
        return err_set(err, DUPLA_EUNAUTH, "no valid session; log in");
    char idhash[PKI_SHA256_HEX];
    pki_sha256_hex(session_id.ptr, session_id.len, idhash);
    store_conn_t *c;
    int rc = store_conn_get(id->st, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    if ((rc = store_prepare(c,
                            "SELECT s.last_seen_ms, s.expires_ms, u.id, u.org_id, u.username,"
                            " u.roles, u.status, o.status, o.data_owner FROM identity_session s"
                            " JOIN identity_user u ON u.id = s.user_id"
                            " JOIN identity_org o ON o.id = u.org_id WHERE s.id_hash = ?",
                            &s, err)))
        goto out;
    store_bind_cstr(s, 1, idhash);
    rc = store_step(s, err);
    int64_t now = clock_now_ms(), last_seen = 0, expires = 0;
    bool active = false;
    memset(actor, 0, sizeof *actor);
    if (rc == STORE_ROW) {
        last_seen = store_col_int64(s, 0);
        expires = store_col_int64(s, 1);
        actor->kind = ACTOR_USER;
        str_copy(store_col_text(s, 2), actor->user_id, sizeof actor->user_id);
        str_copy(store_col_text(s, 3), actor->org_id, sizeof actor->org_id);
        str_copy(store_col_text(s, 4), actor->username, sizeof actor->username);
        actor->roles = (unsigned)store_col_int64(s, 5);
        active = store_col_int64(s, 6) == USER_ACTIVE && store_col_int64(s, 7) == ORG_ACTIVE;
        actor->data_owner = store_col_int64(s, 8) != 0;
        snprintf(actor->label, sizeof actor->label, "user:%s", actor->user_id);
    }
    store_stmt_done(s);
    if (rc < 0)
        goto out;
    bool expired = rc == STORE_ROW && (now >= expires || now - last_seen >= id->session_idle_ms);
    if (rc != STORE_ROW || expired || !active) {
        if (expired || (rc == STORE_ROW && !active)) {
            if (store_prepare(c, "DELETE FROM identity_session WHERE id_hash = ?", &s, NULL) == 0) {
                store_bind_cstr(s, 1, idhash);
                store_step(s, NULL);
                store_stmt_done(s);
            }
        }
        memset(actor, 0, sizeof *actor);
        rc =
            err_set(err, DUPLA_EUNAUTH,
                    expired ? "the session has expired; log in again" : "no valid session; log in");
        goto out;
    }
    rc = 0;
    /* At most a tenth of the idle time stale, so the pages' expiry warning
     * (a third of the idle time, at most two minutes, ahead) comes first. */
    int64_t touch = id->session_idle_ms / 10 < IDENTITY_SESSION_TOUCH_MS
                        ? id->session_idle_ms / 10
                        : IDENTITY_SESSION_TOUCH_MS;
    if (now - last_seen >= touch &&
        store_prepare(c, "UPDATE identity_session SET last_seen_ms = ? WHERE id_hash = ?", &s,
                      NULL) == 0) {
        store_bind_int64(s, 1, now);
        store_bind_cstr(s, 2, idhash);
        store_step(s, NULL);
        store_stmt_done(s);
    }
out:
    store_conn_put(c);
    return rc;
}

int identity_logout(identity_t *id, str_t session_id, err_t *err)
{
    if (session_id.len == 0 || session_id.len >= IDENTITY_SESSION_ID_TEXT)
        return 0;
    char idhash[PKI_SHA256_HEX];
    pki_sha256_hex(session_id.ptr, session_id.len, idhash);
    store_conn_t *c;
    int rc = store_conn_get(id->st, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    if ((rc = store_prepare(c, "DELETE FROM identity_session WHERE id_hash = ?", &s, err)) == 0) {
        store_bind_cstr(s, 1, idhash);
        rc = store_step(s, err);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    store_conn_put(c);
    return rc;
}
