/*
 * checkpoint.c: signed checkpoints of the hash chain: their signed message,
 * their rows, and their export format.
 *
 * A checkpoint says "entry seq has chain hash H" under the platform's key.
 * Anyone holding one can later check that a log continues it: entry seq must
 * still have hash H, which it can only have if no entry up to seq changed.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/internal.h"
#include "core/clock.h"
#include "core/encode.h"
#include "core/json.h"

#define CHECKPOINT_FORMAT "dupla-audit-checkpoint-1"
#define CHECKPOINTS_MAX   10000000 /* loaded by verify; 10^7 * 10^4 entries is far off */

size_t audit_checkpoint_message(const struct audit_checkpoint *cp, char *out)
{
    char hex[AUDIT_HASH_HEX];
    hex_encode(cp->chain_hash, AUDIT_HASH_LEN, hex);
    int n = snprintf(out, AUDIT_CHECKPOINT_MSG_MAX,
                     "dupla-audit-checkpoint-v1\nenvironment=%s\nseq=%" PRId64
                     "\nchain_hash=%s\ntime_ms=%" PRId64 "\n",
                     cp->environment, cp->seq, hex, cp->time_ms);
    return n < 0 ? 0 : (size_t)n;
}

int audit_checkpoint_check(const struct audit_checkpoint *cp, const unsigned char *pub, err_t *err)
{
    pki_verifier_t *v = NULL;
    int rc = pki_verifier_new(pub, &v, err);
    if (rc)
        return rc;
    char msg[AUDIT_CHECKPOINT_MSG_MAX];
    size_t n = audit_checkpoint_message(cp, msg);
    rc = pki_verify(v, msg, n, cp->signature);
    pki_verifier_free(v);
    if (rc)
        return err_set(err, DUPLA_ECRYPTO, "the signature of checkpoint %" PRId64 " is not valid",
                       cp->seq);
    return 0;
}

#define CHECKPOINT_COLUMNS "seq, time_ms, chain_hash, environment, kid, public_key, signature"

static int row_to_checkpoint(store_stmt_t *s, struct audit_checkpoint *cp, err_t *err)
{
    memset(cp, 0, sizeof *cp);
    cp->seq = store_col_int64(s, 0);
    cp->time_ms = store_col_int64(s, 1);
    str_t h = store_col_blob(s, 2), env = store_col_text(s, 3), kid = store_col_text(s, 4);
    str_t pub = store_col_blob(s, 5), sig = store_col_blob(s, 6);
    /* A malformed row is reported as such; the caller decides what it means. */
    if (h.len != AUDIT_HASH_LEN || pub.len != PKI_ED25519_PUB_LEN ||
        sig.len != PKI_ED25519_SIG_LEN || str_copy(env, cp->environment, sizeof cp->environment) ||
        str_copy(kid, cp->kid, sizeof cp->kid))
        return err_set(err, DUPLA_EINVAL, "checkpoint %" PRId64 " is malformed", cp->seq);
    memcpy(cp->chain_hash, h.ptr, AUDIT_HASH_LEN);
    memcpy(cp->public_key, pub.ptr, PKI_ED25519_PUB_LEN);
    memcpy(cp->signature, sig.ptr, PKI_ED25519_SIG_LEN);
    return 0;
}

int audit_checkpoints_load(store_conn_t *c, struct audit_checkpoint **out, size_t *n, err_t *err)
{
    *out = NULL;
    *n = 0;
    store_stmt_t *s;
    int rc = store_prepare(c, "SELECT " CHECKPOINT_COLUMNS " FROM audit_checkpoint ORDER BY seq",
                           &s, err);
    if (rc)
        return rc;
    struct audit_checkpoint *v = NULL;
    size_t cap = 0, cnt = 0;
    while ((rc = store_step(s, err)) == STORE_ROW) {
        if (cnt == CHECKPOINTS_MAX) {
            rc = err_set(err, DUPLA_ELIMIT, "more than %d checkpoints", CHECKPOINTS_MAX);
            break;
        }
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct audit_checkpoint *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = err_set(err, DUPLA_ENOMEM, "out of memory");
                break;
            }
            v = nv;
            cap = ncap;
        }
        err_t e2;
        err_clear(&e2);
        if (row_to_checkpoint(s, &v[cnt], &e2)) {
            /* keep it, with a zeroed signature: verify reports it as bad */
            memset(v[cnt].signature, 0, sizeof v[cnt].signature);
        }
        cnt++;
    }
    store_stmt_done(s);
    if (rc < 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}

int audit_checkpoint_write(store_conn_t *c, pki_signer_t *signer, const char *environment,
                           int64_t seq, const unsigned char hash[AUDIT_HASH_LEN], int64_t time_ms,
                           err_t *err)
{
    struct audit_checkpoint cp;
    memset(&cp, 0, sizeof cp);
    cp.seq = seq;
    cp.time_ms = time_ms;
    memcpy(cp.chain_hash, hash, AUDIT_HASH_LEN);
    snprintf(cp.environment, sizeof cp.environment, "%s", environment);
    snprintf(cp.kid, sizeof cp.kid, "%s", pki_signer_kid(signer));
    pki_signer_public(signer, cp.public_key);
    char msg[AUDIT_CHECKPOINT_MSG_MAX];
    size_t n = audit_checkpoint_message(&cp, msg);
    int rc = pki_sign(signer, msg, n, cp.signature, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    if ((rc = store_prepare(c,
                            "INSERT INTO audit_checkpoint (" CHECKPOINT_COLUMNS
                            ") VALUES (?, ?, ?, ?, ?, ?, ?)",
                            &s, err)))
        return rc;
    store_bind_int64(s, 1, cp.seq);
    store_bind_int64(s, 2, cp.time_ms);
    store_bind_blob(s, 3, cp.chain_hash, AUDIT_HASH_LEN);
    store_bind_cstr(s, 4, cp.environment);
    store_bind_cstr(s, 5, cp.kid);
    store_bind_blob(s, 6, cp.public_key, PKI_ED25519_PUB_LEN);
    store_bind_blob(s, 7, cp.signature, PKI_ED25519_SIG_LEN);
    rc = store_step(s, err);
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

int audit_checkpoint_latest(store_t *st, struct audit_checkpoint *out, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(st, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    if ((rc = store_prepare(
             c, "SELECT " CHECKPOINT_COLUMNS " FROM audit_checkpoint ORDER BY seq DESC LIMIT 1", &s,
             err)) == 0) {
        rc = store_step(s, err);
        if (rc == STORE_ROW)
            rc = row_to_checkpoint(s, out, err);
        else if (rc == STORE_DONE)
            rc = err_set(err, DUPLA_ENOTFOUND, "the disclosure log has no checkpoint yet");
        store_stmt_done(s);
    }
    store_conn_put(c);
    return rc;
}

int audit_checkpoint_to_json(const struct audit_checkpoint *cp, buf_t *out)
{
    char hash[AUDIT_HASH_HEX], when[32];
    char pub[64], sig[128];
    hex_encode(cp->chain_hash, AUDIT_HASH_LEN, hash);
    clock_format_ms(cp->time_ms, when, sizeof when);
    base64url_encode(cp->public_key, PKI_ED25519_PUB_LEN, pub);
    base64url_encode(cp->signature, PKI_ED25519_SIG_LEN, sig);
    int rc = buf_printf(out, "{\n  \"format\": \"%s\",\n  \"environment\": ", CHECKPOINT_FORMAT);
    if (rc || (rc = buf_append_json_string(out, str_from_cstr(cp->environment))) ||
        (rc = buf_printf(out,
                         ",\n  \"seq\": %" PRId64 ",\n  \"time\": \"%s\",\n  \"time_ms\": %" PRId64
                         ",\n  \"chain_hash\": \"%s\",\n  \"kid\": ",
                         cp->seq, when, cp->time_ms, hash)) ||
        (rc = buf_append_json_string(out, str_from_cstr(cp->kid))) ||
        (rc = buf_printf(out, ",\n  \"public_key\": \"%s\",\n  \"signature\": \"%s\"\n}\n", pub,
                         sig)))
        return rc;
    return 0;
}

static int json_str(json_t *o, const char *key, str_t *out, err_t *err)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        return err_param(err, DUPLA_EINVAL, key, "checkpoint: \"%s\" must be a string", key);
    *out = (str_t){json_string_value(v), json_string_length(v)};
    return 0;
}

int audit_checkpoint_from_json(str_t text, struct audit_checkpoint *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *o = json_parse(text.ptr, text.len, JSON_REJECT_DUPLICATES, &je, NULL);
    if (!o)
        return err_set(err, DUPLA_EINVAL, "checkpoint: not JSON (line %d: %s)", je.line, je.text);
    int rc = DUPLA_EINVAL;
    str_t fmt, env, hash, kid, pub, sig;
    json_t *seq = json_object_get(o, "seq"), *tm = json_object_get(o, "time_ms");
    if (!json_is_object(o)) {
        err_set(err, rc, "checkpoint: must be a JSON object");
        goto done;
    }
    if ((rc = json_str(o, "format", &fmt, err)))
        goto done;
    rc = DUPLA_EINVAL;
    if (!str_eq_cstr(fmt, CHECKPOINT_FORMAT)) {
        err_param(err, rc, "format", "checkpoint: format must be \"%s\"", CHECKPOINT_FORMAT);
        goto done;
    }
    if (!json_is_integer(seq) || json_integer_value(seq) < 1) {
        err_param(err, rc, "seq", "checkpoint: seq must be a positive integer");
        goto done;
    }
    if (!json_is_integer(tm)) {
        err_param(err, rc, "time_ms", "checkpoint: time_ms must be an integer");
        goto done;
    }
    out->seq = json_integer_value(seq);
    out->time_ms = json_integer_value(tm);
    if ((rc = json_str(o, "environment", &env, err)) || (rc = json_str(o, "kid", &kid, err)) ||
        (rc = json_str(o, "chain_hash", &hash, err)) ||
        (rc = json_str(o, "public_key", &pub, err)) || (rc = json_str(o, "signature", &sig, err)))
        goto done;
    rc = DUPLA_EINVAL;
    if (str_copy(env, out->environment, sizeof out->environment)) {
        err_param(err, rc, "environment", "checkpoint: environment is too long");
        goto done;
    }
    if (str_copy(kid, out->kid, sizeof out->kid)) {
        err_param(err, rc, "kid", "checkpoint: kid is too long");
        goto done;
    }
    if (hex_decode(hash, out->chain_hash, AUDIT_HASH_LEN) != AUDIT_HASH_LEN ||
        hash.len != 2 * AUDIT_HASH_LEN) {
        err_param(err, rc, "chain_hash", "checkpoint: chain_hash must be 64 hex digits");
        goto done;
    }
    if (base64url_decode(pub, out->public_key, PKI_ED25519_PUB_LEN) != PKI_ED25519_PUB_LEN) {
        err_param(err, rc, "public_key", "checkpoint: public_key must be 32 bytes, base64url");
        goto done;
    }
    if (base64url_decode(sig, out->signature, PKI_ED25519_SIG_LEN) != PKI_ED25519_SIG_LEN) {
        err_param(err, rc, "signature", "checkpoint: signature must be 64 bytes, base64url");
        goto done;
    }
    rc = 0;
done:
    json_decref(o);
    return rc;
}
