/*
 * internal.h: what the token module's files share.
 */
#ifndef DUPLA_TOKEN_INTERNAL_H
#define DUPLA_TOKEN_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/snapshot.h"
#include "token/token.h"

struct token_key {
    char kid[PKI_KID_MAX];
    unsigned char pub[PKI_ED25519_PUB_LEN];
    pki_verifier_t *verifier;
    int64_t created_ms;
    int64_t retired_ms; /* when its successor was made; 0 for the active key */
};

/* Tokens that verified under a keyset, remembered by the SHA-256 of the
 * whole token with what their claims said, so that a client's next calls
 * with the same token skip decoding its header and claims and the Ed25519
 * check (the time and registry checks still run on every call). Only a
 * token that passed every check goes in, so a forged one cannot evict
 * anything; direct-mapped; a new keyset (rotation, reload) starts empty. */
#define TOKEN_VERIFIED_SLOTS 4096 /* a power of two */
#define TOKEN_VERIFIED_HASH  32
#define TOKEN_SUB_MAX        128

/* What a token's claims say, once its signature and static claims were
 * checked (jwt.c). */
struct token_claims {
    char sub[TOKEN_SUB_MAX];
    char cvr[CVR_LEN + 1]; /* "" for a supplier's token for any organisation */
    char x5t[TOKEN_THUMBPRINT_B64];
    char jti[UUID_STR_LEN + 1];
    char obo[SE_LEN + 1]; /* onbehalfofse, or "" */
    unsigned char sha[PKI_SHA256_LEN];
    int64_t exp, nbf, iat;
    bool any_org;
};

struct token_verified {
    unsigned char hash[TOKEN_VERIFIED_HASH]; /* all zero: an empty slot */
    struct token_claims claims;
};

struct token_keyset {
    size_t n;
    struct token_key keys[TOKEN_KEYS_MAX]; /* oldest first; the last is active */
    pki_signer_t *signer;                  /* the active key's private half */
    pthread_mutex_t verified_lock;
    struct token_verified *verified; /* TOKEN_VERIFIED_SLOTS */
    uint64_t verified_hits;          /* under verified_lock */
};

struct token_service {
    struct token_config cfg;
    identity_t *id;
    pthread_mutex_t sign_lock; /* one signature at a time */
    snapshot_t *keys;          /* of struct token_keyset (keyset.c) */
};

/* keyset.c */
/* Loads the folder into a new keyset (oldest first), dropping keys that can
 * no longer verify anything at now_ms. */
int token_keyset_load(const struct token_config *cfg, int64_t now_ms, struct token_keyset **out,
                      int64_t *dir_mtime_ns, err_t *err);
void token_keyset_free(struct token_keyset *ks);
/* Makes ts->keys and loads the folder into it. */
int token_keys_open(token_service_t *ts, err_t *err);
/* Reloads when the folder changed or a key aged out (checked at most every
 * TOKEN_KEYSET_POLL_MS, or a tenth of that when force). */
void token_keys_maybe_reload(token_service_t *ts, bool force);
/* Whether the token hashed to h verified under ks before (its claims into
 * *c); and remembering that it did (both take ks->verified_lock). */
bool token_verified_has(struct token_keyset *ks, const unsigned char *h, struct token_claims *c);
void token_verified_put(struct token_keyset *ks, const unsigned char *h,
                        const struct token_claims *c);
/* Creates key_dir (0700) if missing. */
int token_keydir_ensure(const char *dir, err_t *err);
/* Keeps dir open for its listings (process-wide, the latest folder held),
 * so that it can be listed after the server drops privileges. */
int token_keydir_hold(const char *dir, err_t *err);

#endif
