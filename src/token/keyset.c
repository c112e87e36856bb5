/*
 * keyset.c: the signing-key folder: loading, noticing changes, rotation and
 * the JWKS document.
 *
 * The folder holds key-<created ms>.pem files (Ed25519 private keys, 0600).
 * Sorted by creation, the last is the active signing key; key i was retired
 * when key i+1 was made and keeps verifying for lifetime + leeway after
 * that, which is as long as any token it signed can be valid.
 *
 * The keys in use are a core/snapshot cell (readers hold a reference while
 * they sign or verify; a reload swaps in a new keyset), reloaded when the
 * folder's mtime moves or a held key ages out, and under its one failure
 * rule: a folder that cannot be read leaves the last good keys in use for at
 * most registry.stale_max_ms, then issuing and verifying answer 503.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/encode.h"
#include "core/log.h"
#include "core/snapshot.h"
#include "token/internal.h"

#define KEY_PREFIX    "key-"
#define KEY_SUFFIX    ".pem"
#define KEY_FILES_MAX 256 /* files looked at in the folder */

struct key_file {
    int64_t created_ms;
    char name[64];
};

/* The key folder kept open (token_keydir_hold): read through this
 * descriptor, the folder can still be listed after `dupla serve` dropped
 * to a user that may not open it (the key files stay the key process's).
 * dir_mu also serialises the listings, which share the descriptor's
 * offset. */
static pthread_mutex_t dir_mu = PTHREAD_MUTEX_INITIALIZER;
static int held_fd = -1;
static char held_path[CONFIG_PATH_MAX];

int token_keydir_hold(const char *dir, err_t *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, DUPLA_EIO, "token: cannot open the key folder %s: %s", dir,
                       strerror(errno));
    pthread_mutex_lock(&dir_mu);
    if (held_fd >= 0)
        close(held_fd);
    held_fd = fd;
    snprintf(held_path, sizeof held_path, "%s", dir);
    pthread_mutex_unlock(&dir_mu);
    return 0;
}

/* Whether the held descriptor is dir's (under dir_mu): the same path, and
 * the path still names that folder (not moved or replaced), or cannot be
 * looked at by this user at all. */
static bool held_is(const char *dir)
{
    if (held_fd < 0 || strcmp(held_path, dir) != 0)
        return false;
    struct stat a, b;
    if (stat(dir, &a) != 0)
        return errno == EACCES;
    return fstat(held_fd, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* dir opened for a listing (under dir_mu): through the held descriptor
 * when it is that folder's. */
static DIR *dir_open(const char *dir)
{
    if (!held_is(dir))
        return opendir(dir);
    int fd = dup(held_fd);
    if (fd < 0)
        return NULL;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return NULL;
    }
    rewinddir(d);
    return d;
}

int token_keydir_ensure(const char *dir, err_t *err)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return err_set(err, DUPLA_EIO, "token: cannot create the key folder %s: %s", dir,
                       strerror(errno));
    return 0;
}

/* Parses "key-<digits>.pem". */
static bool key_name(const char *name, int64_t *created)
{
    size_t n = strlen(name), pl = strlen(KEY_PREFIX), sl = strlen(KEY_SUFFIX);
    if (n <= pl + sl || strncmp(name, KEY_PREFIX, pl) != 0 ||
        strcmp(name + n - sl, KEY_SUFFIX) != 0)
        return false;
    str_t digits = {name + pl, n - pl - sl};
    return str_is_digits(digits) && str_to_int64(digits, created) == 0;
}

static int cmp_key_file(const void *a, const void *b)
{
    int64_t x = ((const struct key_file *)a)->created_ms,
            y = ((const struct key_file *)b)->created_ms;
    return x < y ? -1 : x > y;
}

/* The key files of dir, oldest first, into files (KEY_FILES_MAX). */
static int list_keys(const char *dir, struct key_file *files, size_t *n, err_t *err)
{
    pthread_mutex_lock(&dir_mu);
    DIR *d = dir_open(dir);
    if (!d) {
        pthread_mutex_unlock(&dir_mu);
        return err_set(err, DUPLA_EIO, "token: cannot read the key folder %s: %s", dir,
                       strerror(errno));
    }
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && *n < KEY_FILES_MAX) {
        int64_t created;
        if (!key_name(e->d_name, &created) || strlen(e->d_name) >= sizeof files[0].name)
            continue;
        files[*n].created_ms = created;
        str_copy(str_from_cstr(e->d_name), files[*n].name, sizeof files[0].name);
        (*n)++;
    }
    closedir(d);
    pthread_mutex_unlock(&dir_mu);
    qsort(files, *n, sizeof *files, cmp_key_file);
    return 0;
}

static int64_t keep_ms(const struct token_config *cfg)
{
    return (int64_t)(cfg->lifetime_s + cfg->leeway_s) * 1000;
}

void token_keyset_free(struct token_keyset *ks)
{
    if (!ks)
        return;
    for (size_t i = 0; i < ks->n; i++)
        pki_verifier_free(ks->keys[i].verifier);
    pki_signer_free(ks->signer);
    if (ks->verified) {
        pthread_mutex_destroy(&ks->verified_lock);
        free(ks->verified);
    }
    free(ks);
}

static size_t verified_slot(const unsigned char *h)
{
    return ((size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16) & (TOKEN_VERIFIED_SLOTS - 1);
}

bool token_verified_has(struct token_keyset *ks, const unsigned char *h, struct token_claims *c)
{
    str_t want = {(const char *)h, TOKEN_VERIFIED_HASH};
    pthread_mutex_lock(&ks->verified_lock);
    const struct token_verified *slot = &ks->verified[verified_slot(h)];
    /* Constant time: the hash stands for a bearer token. */
    bool hit = str_ct_eq(want, (str_t){(const char *)slot->hash, TOKEN_VERIFIED_HASH});
    if (hit) {
        *c = slot->claims;
        ks->verified_hits++;
    }
    pthread_mutex_unlock(&ks->verified_lock);
    return hit;
}

void token_verified_put(struct token_keyset *ks, const unsigned char *h,
                        const struct token_claims *c)
{
    pthread_mutex_lock(&ks->verified_lock);
    struct token_verified *slot = &ks->verified[verified_slot(h)];
    memcpy(slot->hash, h, TOKEN_VERIFIED_HASH);
    slot->claims = *c;
    pthread_mutex_unlock(&ks->verified_lock);
}

static int dir_mtime(const char *dir, int64_t *ns)
{
    struct stat sb;
    pthread_mutex_lock(&dir_mu);
    int rc = held_is(dir) ? fstat(held_fd, &sb) : stat(dir, &sb);
    pthread_mutex_unlock(&dir_mu);
    if (rc != 0)
        return -1;
    *ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    return 0;
}

int token_keyset_load(const struct token_config *cfg, int64_t now_ms, struct token_keyset **out,
                      int64_t *mtime_ns, err_t *err)
{
    struct key_file *files = calloc(KEY_FILES_MAX, sizeof *files);
    struct token_keyset *ks = calloc(1, sizeof *ks);
    int rc = 0;
    size_t n = 0;
    if (ks && (ks->verified = calloc(TOKEN_VERIFIED_SLOTS, sizeof *ks->verified)))
        pthread_mutex_init(&ks->verified_lock, NULL);
    if (!files || !ks || !ks->verified) {
        rc = err_internal(err, DUPLA_ENOMEM, "token: out of memory");
        goto out;
    }
    if (mtime_ns && dir_mtime(cfg->key_dir, mtime_ns))
        *mtime_ns = 0;
    if ((rc = list_keys(cfg->key_dir, files, &n, err)))
        goto out;
    if (n == 0) {
        rc = err_set(err, DUPLA_ENOTFOUND, "token: no signing key in %s", cfg->key_dir);
        goto out;
    }
    /* The first key still worth holding: every older one's tokens expired. */
    size_t first = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (files[i + 1].created_ms + keep_ms(cfg) < now_ms)
            first = i + 1;
    if (n - first > TOKEN_KEYS_MAX)
        first = n - TOKEN_KEYS_MAX;
    for (size_t i = first; i < n; i++) {
        char path[CONFIG_PATH_MAX + 80];
        snprintf(path, sizeof path, "%s/%s", cfg->key_dir, files[i].name);
        pki_signer_t *signer;
        if ((rc = pki_signer_load(path, &signer, err)))
            goto out;
        struct token_key *k = &ks->keys[ks->n];
        snprintf(k->kid, sizeof k->kid, "%s", pki_signer_kid(signer));
        pki_signer_public(signer, k->pub);
        k->created_ms = files[i].created_ms;
        k->retired_ms = i + 1 < n ? files[i + 1].created_ms : 0;
        if ((rc = pki_verifier_new(k->pub, &k->verifier, err))) {
            pki_signer_free(signer);
            goto out;
        }
        ks->n++;
        if (i + 1 == n)
            ks->signer = signer;
        else
            pki_signer_free(signer);
    }
out:
    free(files);
    if (rc) {
        token_keyset_free(ks);
        return rc;
    }
    *out = ks;
    return 0;
}

/* ---- the keys in use: a core/snapshot cell of struct token_keyset, whose
 * generation is the folder's mtime ---- */

static int keys_load(void *ctx, void **data, int64_t *gen, err_t *err)
{
    token_service_t *ts = ctx;
    struct token_keyset *ks;
    int64_t mt = 0;
    int rc = token_keyset_load(&ts->cfg, clock_now_ms(), &ks, &mt, err);
    if (rc)
        return rc;
    log_info("token: signing keys loaded (%zu held, active %s)", ks->n, ks->keys[ks->n - 1].kid);
    *data = ks;
    *gen = mt;
    return 0;
}

/* The folder's mtime; or -1 (never a folder's) when a key held has aged
 * out, since keys age out even when the folder does not change. */
static int keys_generation(void *ctx, const void *current, int64_t *gen, err_t *err)
{
    token_service_t *ts = ctx;
    const struct token_keyset *ks = current;
    if (dir_mtime(ts->cfg.key_dir, gen) != 0)
        return err_set(err, DUPLA_EIO, "token: cannot read the key folder %s: %s", ts->cfg.key_dir,
                       strerror(errno));
    int64_t now = clock_now_ms();
    for (size_t i = 0; i < ks->n; i++)
        if (ks->keys[i].retired_ms && ks->keys[i].retired_ms + keep_ms(&ts->cfg) < now)
            *gen = -1;
    return 0;
}

static void keys_free(void *data)
{
    token_keyset_free(data);
}

int token_keys_open(token_service_t *ts, err_t *err)
{
    struct snapshot_source src = {"token signing keys", ts, keys_load, keys_generation, keys_free};
    return snapshot_new(&src, NULL, &ts->keys, err);
}

void token_keys_maybe_reload(token_service_t *ts, bool force)
{
    /* An unknown kid forces a look, but not more often than every tenth of
     * the interval, so that a flood of forged kids cannot make us read the
     * folder. A failure is logged by the cell. */
    err_t err;
    err_clear(&err);
    snapshot_poll(ts->keys, force ? TOKEN_KEYSET_POLL_MS / 10 : TOKEN_KEYSET_POLL_MS, &err);
}

json_t *token_jwks(token_service_t *ts)
{
    token_keys_maybe_reload(ts, false);
    snapshot_ref_t *ref;
    if (snapshot_acquire(ts->keys, &ref, NULL))
        return NULL;
    const struct token_keyset *ks = snapshot_data(ref);
    json_t *keys = json_array();
    for (size_t i = ks->n; i-- > 0;) {
        const struct token_key *k = &ks->keys[i];
        char x[TOKEN_THUMBPRINT_B64];
        base64url_encode(k->pub, sizeof k->pub, x);
        json_array_append_new(keys, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "crv",
                                              "Ed25519", "x", x, "kid", k->kid, "use", "sig", "alg",
                                              "EdDSA"));
    }
    snapshot_release(ref);
    return json_pack("{s:o}", "keys", keys);
}

void token_active_kid(token_service_t *ts, char *kid)
{
    snapshot_ref_t *ref;
    kid[0] = '\0';
    if (snapshot_acquire(ts->keys, &ref, NULL))
        return;
    const struct token_keyset *ks = snapshot_data(ref);
    snprintf(kid, PKI_KID_MAX, "%s", ks->keys[ks->n - 1].kid);
    snapshot_release(ref);
}

int token_active_key(token_service_t *ts, char *kid, int64_t *due_ms, err_t *err)
{
    snapshot_ref_t *ref;
    kid[0] = '\0';
    *due_ms = 0;
    if (snapshot_acquire(ts->keys, &ref, err))
        return DUPLA_EBUSY;
    const struct token_keyset *ks = snapshot_data(ref);
    const struct token_key *k = &ks->keys[ks->n - 1];
    snprintf(kid, PKI_KID_MAX, "%s", k->kid);
    *due_ms = k->created_ms + (int64_t)ts->cfg.key_max_age_days * 86400000;
    snapshot_release(ref);
    return 0;
}

int token_rotate_key(const struct token_config *cfg, char *kid_out, err_t *err)
{
    int rc = token_keydir_ensure(cfg->key_dir, err);
    if (rc)
        return rc;
    struct key_file *files = calloc(KEY_FILES_MAX, sizeof *files);
    if (!files)
        return err_internal(err, DUPLA_ENOMEM, "token: out of memory");
    size_t n = 0;
    if ((rc = list_keys(cfg->key_dir, files, &n, err)))
        goto out;
    int64_t now = clock_now_ms();
    /* Strictly newer than every key there, so that it sorts last. */
    int64_t created = now;
    if (n && files[n - 1].created_ms >= created)
        created = files[n - 1].created_ms + 1;
    char path[CONFIG_PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/" KEY_PREFIX "%013lld" KEY_SUFFIX, cfg->key_dir,
             (long long)created);
    if ((rc = pki_signer_generate(path, err)))
        goto out;
    pki_signer_t *s;
    if ((rc = pki_signer_load(path, &s, err)))
        goto out;
    if (kid_out)
        snprintf(kid_out, PKI_KID_MAX, "%s", pki_signer_kid(s));
    pki_signer_free(s);
    /* Delete keys whose every token has expired: key i retired when key i+1
     * was made (the new key retires the previous newest just now). */
    for (size_t i = 0; i + 1 < n; i++) {
        if (files[i + 1].created_ms + keep_ms(cfg) < now) {
            char old[CONFIG_PATH_MAX + 80];
            snprintf(old, sizeof old, "%s/%s", cfg->key_dir, files[i].name);
            if (unlink(old) != 0)
                log_warn("token: cannot delete the expired key %s: %s", old, strerror(errno));
        }
    }
out:
    free(files);
    return rc;
}
