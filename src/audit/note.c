/*
 * note.c: signed tree heads in the C2SP formats: a tlog-checkpoint body
 *
 *     <origin>\n<tree size, decimal>\n<root hash, base64>\n
 *
 * in a signed note (C2SP signed-note): the body, an empty line, and one
 * line per signature, "\u2014 <key name> <base64(key hash || signature)>\n",
 * where the key hash is the first 4 bytes of SHA-256(<key name> || "\n" ||
 * 0x01 || <Ed25519 public key>) and the signature is Ed25519 over the body.
 * The key name is the log's origin. Base64 is RFC 4648's standard alphabet
 * with padding. The writer signs one with every chain checkpoint (the same
 * key, the same entry) and keeps them in audit_tree_head.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/internal.h"
#include "core/encode.h"
#include "pki/pki.h"

#define SIG_PREFIX       "\xe2\x80\x94 " /* an em dash and a space */
#define NOTE_ALG_ED25519 0x01

/* ---- standard base64 (with padding), by way of the base64url codec ---- */

size_t audit_b64_encode(const void *data, size_t n, char *out)
{
    size_t len = base64url_encode(data, n, out);
    for (size_t i = 0; i < len; i++)
        out[i] = out[i] == '-' ? '+' : out[i] == '_' ? '/' : out[i];
    while (len % 4)
        out[len++] = '=';
    out[len] = '\0';
    return len;
}

long audit_b64_decode(str_t in, void *out, size_t cap)
{
    if (in.len % 4)
        return -1;
    size_t n = in.len, pad = 0;
    while (n && in.ptr[n - 1] == '=' && pad < 2) {
        n--;
        pad++;
    }
    if (pad && n % 4 != 4 - pad)
        return -1;
    char small[256], *tmp = n <= sizeof small ? small : malloc(n);
    if (!tmp)
        return -1;
    long rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char c = in.ptr[i];
        if (c == '-' || c == '_' || c == '=')
            rc = -1;
        tmp[i] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    if (rc == 0)
        rc = base64url_decode((str_t){tmp, n}, out, cap);
    if (tmp != small)
        free(tmp);
    return rc;
}

/* ---- keys ---- */

void audit_note_key_hash(const char *name, const unsigned char pub[PKI_ED25519_PUB_LEN],
                         unsigned char out[4])
{
    size_t nl = strlen(name);
    unsigned char buf[AUDIT_ORIGIN_MAX + 2 + PKI_ED25519_PUB_LEN], d[PKI_SHA256_LEN];
    if (nl > AUDIT_ORIGIN_MAX)
        nl = AUDIT_ORIGIN_MAX;
    memcpy(buf, name, nl);
    buf[nl] = '\n';
    buf[nl + 1] = NOTE_ALG_ED25519;
    memcpy(buf + nl + 2, pub, PKI_ED25519_PUB_LEN);
    pki_sha256(buf, nl + 2 + PKI_ED25519_PUB_LEN, d);
    memcpy(out, d, 4);
}

size_t audit_note_vkey(const char *name, const unsigned char pub[PKI_ED25519_PUB_LEN], char *out)
{
    unsigned char kh[4], key[1 + PKI_ED25519_PUB_LEN];
    char hex[9], b64[64];
    audit_note_key_hash(name, pub, kh);
    hex_encode(kh, 4, hex);
    key[0] = NOTE_ALG_ED25519;
    memcpy(key + 1, pub, PKI_ED25519_PUB_LEN);
    audit_b64_encode(key, sizeof key, b64);
    int n = snprintf(out, AUDIT_VKEY_MAX, "%s+%s+%s", name, hex, b64);
    return n < 0 ? 0 : (size_t)n;
}

int audit_note_vkey_parse(str_t vkey, char *name, size_t cap,
                          unsigned char pub[PKI_ED25519_PUB_LEN], err_t *err)
{
    /* <name>+<8 hex>+<base64(0x01 || key)>: the name ends at the first '+'
     * (a name has none), the key's base64 may hold more */
    size_t p1 = vkey.len;
    for (size_t i = 0; i < vkey.len && p1 == vkey.len; i++)
        if (vkey.ptr[i] == '+')
            p1 = i;
    size_t p2 = p1 + 9 < vkey.len && vkey.ptr[p1 + 9] == '+' ? p1 + 9 : vkey.len;
    unsigned char key[2 + PKI_ED25519_PUB_LEN], kh[4], want[4];
    if (p1 == 0 || p1 >= vkey.len || p2 >= vkey.len || p2 - p1 != 9 || p1 >= cap ||
        hex_decode(str_sub(vkey, p1 + 1, 8), kh, sizeof kh) != 4 ||
        audit_b64_decode(str_sub(vkey, p2 + 1, vkey.len - p2 - 1), key, sizeof key) !=
            1 + PKI_ED25519_PUB_LEN ||
        key[0] != NOTE_ALG_ED25519)
        return err_param(err, DUPLA_EINVAL, "key",
                         "a verifier key is <name>+<key hash, 8 hex digits>+<base64 of 0x01 and "
                         "the Ed25519 public key>");
    memcpy(name, vkey.ptr, p1);
    name[p1] = '\0';
    memcpy(pub, key + 1, PKI_ED25519_PUB_LEN);
    audit_note_key_hash(name, pub, want);
    if (memcmp(kh, want, 4) != 0)
        return err_param(err, DUPLA_EINVAL, "key", "the verifier key's hash does not match it");
    return 0;
}

/* ---- signing and opening notes ---- */

static bool origin_valid(const char *origin)
{
    size_t n = strlen(origin);
    if (n == 0 || n >= AUDIT_ORIGIN_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)origin[i];
        if (c <= ' ' || c == '+' || c >= 0x7f)
            return false;
    }
    return true;
}

int audit_note_sign(pki_signer_t *signer, const char *origin, int64_t size,
                    const unsigned char root[AUDIT_HASH_LEN], char *out, size_t *len, err_t *err)
{
    if (!origin_valid(origin))
        return err_param(err, DUPLA_EINVAL, "origin",
                         "the log's origin must be 1 to %d printable ASCII bytes without spaces "
                         "or '+'",
                         AUDIT_ORIGIN_MAX - 1);
    char r64[64];
    audit_b64_encode(root, AUDIT_HASH_LEN, r64);
    int body = snprintf(out, AUDIT_NOTE_MAX, "%s\n%" PRId64 "\n%s\n", origin, size, r64);
    if (body < 0 || body >= AUDIT_NOTE_MAX / 2)
        return err_internal(err, DUPLA_ELIMIT, "audit: a checkpoint body too long");
    unsigned char sig[4 + PKI_ED25519_SIG_LEN], pub[PKI_ED25519_PUB_LEN];
    pki_signer_public(signer, pub);
    audit_note_key_hash(origin, pub, sig);
    int rc = pki_sign(signer, out, (size_t)body, sig + 4, err);
    if (rc)
        return rc;
    char s64[128];
    audit_b64_encode(sig, sizeof sig, s64);
    int n =
        snprintf(out + body, AUDIT_NOTE_MAX - (size_t)body, "\n" SIG_PREFIX "%s %s\n", origin, s64);
    if (n < 0 || (size_t)n >= AUDIT_NOTE_MAX - (size_t)body)
        return err_internal(err, DUPLA_ELIMIT, "audit: a signed checkpoint too long");
    *len = (size_t)body + (size_t)n;
    return 0;
}

/* The next line of text from *at (without its "\n"); false at the end or
 * when the text does not end in "\n". */
static bool next_line(str_t text, size_t *at, str_t *line)
{
    if (*at >= text.len)
        return false;
    const char *nl = memchr(text.ptr + *at, '\n', text.len - *at);
    if (!nl)
        return false;
    *line = (str_t){text.ptr + *at, (size_t)(nl - (text.ptr + *at))};
    *at = (size_t)(nl - text.ptr) + 1;
    return true;
}

int audit_note_open(str_t note, const char *name, const unsigned char pub[PKI_ED25519_PUB_LEN],
                    struct audit_note *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    if (note.len == 0 || note.len > AUDIT_NOTE_MAX || !audit_text_valid(note))
        return err_param(err, DUPLA_EINVAL, "checkpoint",
                         "a checkpoint is a signed note of at most %d bytes of UTF-8",
                         AUDIT_NOTE_MAX);
    size_t at = 0;
    str_t line;
    /* the body: origin, size, root, extension lines, up to the empty line */
    if (!next_line(note, &at, &line) || line.len == 0 ||
        str_copy(line, out->origin, sizeof out->origin) || !origin_valid(out->origin))
        return err_param(err, DUPLA_EINVAL, "checkpoint", "the checkpoint's origin line is bad");
    if (!next_line(note, &at, &line) || line.len == 0 || line.len > 19 ||
        (line.len > 1 && line.ptr[0] == '0') || str_to_int64(line, &out->size) != 0 ||
        out->size < 0)
        return err_param(err, DUPLA_EINVAL, "checkpoint",
                         "the checkpoint's tree size is not a decimal number");
    for (size_t i = 0; i < line.len; i++)
        if (line.ptr[i] < '0' || line.ptr[i] > '9')
            return err_param(err, DUPLA_EINVAL, "checkpoint",
                             "the checkpoint's tree size is not a decimal number");
    if (!next_line(note, &at, &line) ||
        audit_b64_decode(line, out->root, AUDIT_HASH_LEN) != AUDIT_HASH_LEN)
        return err_param(err, DUPLA_EINVAL, "checkpoint",
                         "the checkpoint's root hash is not 32 bytes in base64");
    while (next_line(note, &at, &line) && line.len)
        ;
    if (line.len != 0 || at >= note.len)
        return err_param(err, DUPLA_EINVAL, "checkpoint", "the checkpoint has no signature lines");
    size_t body = at - 1; /* the body ends with the newline before the empty line */
    unsigned char kh[4];
    audit_note_key_hash(name, pub, kh);
    pki_verifier_t *v = NULL;
    int rc = pki_verifier_new(pub, &v, err);
    if (rc)
        return rc;
    bool signed_ok = false, any = false;
    size_t nl = strlen(name);
    while (next_line(note, &at, &line)) {
        any = true;
        size_t pl = sizeof SIG_PREFIX - 1;
        if (line.len < pl || memcmp(line.ptr, SIG_PREFIX, pl) != 0) {
            pki_verifier_free(v);
            return err_param(err, DUPLA_EINVAL, "checkpoint",
                             "a signature line of the checkpoint is malformed");
        }
        str_t rest = str_sub(line, pl, line.len - pl);
        if (rest.len <= nl + 1 || memcmp(rest.ptr, name, nl) != 0 || rest.ptr[nl] != ' ')
            continue; /* another key's */
        unsigned char sig[4 + PKI_ED25519_SIG_LEN + 4];
        long sl = audit_b64_decode(str_sub(rest, nl + 1, rest.len - nl - 1), sig, sizeof sig);
        if (sl != 4 + PKI_ED25519_SIG_LEN || memcmp(sig, kh, 4) != 0)
            continue;
        if (pki_verify(v, note.ptr, body, sig + 4) == 0)
            signed_ok = true;
    }
    pki_verifier_free(v);
    if (!any || at != note.len)
        return err_param(err, DUPLA_EINVAL, "checkpoint",
                         "the checkpoint's signature lines are malformed");
    if (!signed_ok)
        return err_set(err, DUPLA_ECRYPTO, "the checkpoint is not signed by the key %s", name);
    return 0;
}

/* ---- stored tree heads ---- */

int audit_tree_head_write(store_conn_t *c, pki_signer_t *signer, const char *origin, int64_t size,
                          const unsigned char root[AUDIT_HASH_LEN], int64_t time_ms, err_t *err)
{
    char note[AUDIT_NOTE_MAX];
    size_t len;
    int rc = audit_note_sign(signer, origin, size, root, note, &len, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    if ((rc = store_prepare(c,
                            "INSERT INTO audit_tree_head (tree_size, time_ms, root_hash, note) "
                            "VALUES (?, ?, ?, ?)",
                            &s, err)))
        return rc;
    store_bind_int64(s, 1, size);
    store_bind_int64(s, 2, time_ms);
    store_bind_blob(s, 3, root, AUDIT_HASH_LEN);
    store_bind_text(s, 4, (str_t){note, len});
    rc = store_step(s, err);
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

static int row_to_head(store_stmt_t *s, struct audit_tree_head *h, err_t *err)
{
    memset(h, 0, sizeof *h);
    h->size = store_col_int64(s, 0);
    h->time_ms = store_col_int64(s, 1);
    str_t r = store_col_blob(s, 2), note = store_col_text(s, 3);
    if (r.len != AUDIT_HASH_LEN || note.len >= AUDIT_NOTE_MAX)
        return err_internal(err, DUPLA_ESTORE, "audit: tree head %" PRId64 " is malformed",
                            h->size);
    memcpy(h->root, r.ptr, AUDIT_HASH_LEN);
    memcpy(h->note, note.ptr, note.len);
    h->note[note.len] = '\0';
    h->note_len = note.len;
    return 0;
}

#define HEAD_COLUMNS "tree_size, time_ms, root_hash, note"

int audit_tree_heads_conn(store_conn_t *c, int64_t after, unsigned limit,
                          struct audit_tree_head **out, size_t *n, err_t *err)
{
    *out = NULL;
    *n = 0;
    if (limit == 0)
        limit = 1;
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "SELECT " HEAD_COLUMNS " FROM audit_tree_head WHERE tree_size > ? "
                           "ORDER BY tree_size LIMIT ?",
                           &s, err);
    if (rc)
        return rc;
    store_bind_int64(s, 1, after);
    store_bind_int64(s, 2, limit);
    struct audit_tree_head *v = NULL;
    size_t cnt = 0, cap = 0;
    while ((rc = store_step(s, err)) == STORE_ROW) {
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct audit_tree_head *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = err_set(err, DUPLA_ENOMEM, "out of memory");
                break;
            }
            v = nv;
            cap = ncap;
        }
        if ((rc = row_to_head(s, &v[cnt], err)))
            break;
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

int audit_tree_heads(store_t *st, int64_t after, unsigned limit, struct audit_tree_head **out,
                     size_t *n, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(st, &c, err);
    if (rc)
        return rc;
    rc = audit_tree_heads_conn(c, after, limit, out, n, err);
    store_conn_put(c);
    return rc;
}

/* The head the query selects (one row, or DUPLA_ENOTFOUND). */
static int head_one(store_conn_t *c, const char *sql, int64_t arg, struct audit_tree_head *out,
                    err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c, sql, &s, err);
    if (rc)
        return rc;
    if (arg >= 0)
        store_bind_int64(s, 1, arg);
    rc = store_step(s, err);
    if (rc == STORE_ROW)
        rc = row_to_head(s, out, err);
    else if (rc == STORE_DONE)
        rc = err_set(err, DUPLA_ENOTFOUND, "the disclosure log has no such signed checkpoint yet");
    store_stmt_done(s);
    return rc;
}

int audit_tree_head_latest(store_conn_t *c, struct audit_tree_head *out, err_t *err)
{
    return head_one(c,
                    "SELECT " HEAD_COLUMNS " FROM audit_tree_head ORDER BY tree_size DESC LIMIT 1",
                    -1, out, err);
}

int audit_tree_head_at(store_conn_t *c, int64_t size, struct audit_tree_head *out, err_t *err)
{
    return head_one(c, "SELECT " HEAD_COLUMNS " FROM audit_tree_head WHERE tree_size = ?", size,
                    out, err);
}

int audit_tree_head_covering(store_conn_t *c, int64_t seq, struct audit_tree_head *out, err_t *err)
{
    return head_one(c,
                    "SELECT " HEAD_COLUMNS " FROM audit_tree_head WHERE tree_size >= ? "
                    "ORDER BY tree_size LIMIT 1",
                    seq, out, err);
}
