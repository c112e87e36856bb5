/*
 * keys.h: the key process (#18 item 3; as Kore's keymgr and relayd's ca).
 *
 * `dupla serve` forks it before it opens anything else; it alone reads the
 * private signing keys (the token keys of token.key_dir and the log's
 * checkpoint key audit.signing_key) and signs on request. The request
 * process installs keys_remote() as pki's remote (pki/sign.h), so every
 * pki_signer_load there asks the key process for the key's public half
 * and every pki_sign asks it for a signature. With tls_key_process (the
 * default) it also holds the listeners' TLS keys: the request process's
 * GnuTLS credentials get an external key (keys_tls_privkey) that asks it
 * for every handshake's signature. The process that parses requests never
 * has a private key in its memory.
 *
 * The wire (a SOCK_STREAM socketpair; one request at a time, every field
 * bounded, big-endian):
 *   request  version (1 byte, KEYS_VERSION), op (1), name length (2),
 *            message length (4), then the name and the message
 *     LOAD   name: a key file's path; no message. The path must be the
 *            configured checkpoint key or a key-<digits>.pem directly in
 *            the token key folder; the key is loaded (mode 0600, Ed25519)
 *            and kept by its kid. Answer: its public key (32 bytes).
 *     SIGN   name: a kid loaded before; message: the bytes to sign (at
 *            most KEYS_MESSAGE_MAX). Answer: the signature (64 bytes).
 *     TLS_LOAD name: a listener's private key file, exactly as configured
 *            (listeners[].key); message: the SHA-256 key id of the
 *            certificate's public key (KEYS_TLS_KEYID_LEN bytes). The key
 *            (any algorithm GnuTLS reads: ECDSA, RSA, Ed25519) is read
 *            from the file again; one that does not match the certificate
 *            is refused and the one held kept (a SIGHUP that finds a new key
 *            beside an old certificate changes nothing). Kept by that path.
 *            Answer: its public key algorithm (1 byte,
 *            gnutls_pk_algorithm_t) and bits (4).
 *     TLS_SIGN name: that path; message: what (1 byte: KEYS_TLS_DATA or
 *            KEYS_TLS_HASH), the signature algorithm (2,
 *            gnutls_sign_algorithm_t), GnuTLS's flags (4), then the data or
 *            hash (at most KEYS_MESSAGE_MAX in all). Answer: the signature
 *            (at most KEYS_TLS_SIG_MAX bytes).
 *   answer   status (1 byte: 0 ok, 1 refused), length (2), then the
 *            public key, the signature, or the refusal's text.
 * A well-formed request the key process will not do (a path outside what
 * is configured, an unknown kid) is refused and the next one read. A
 * malformed one (another version, an unknown op, a length over its bound,
 * a name with a NUL byte) is refused and the connection closed: after a
 * framing error nothing that follows can be trusted. The key process exits
 * when the connection closes (EOF) or its parent dies (PR_SET_PDEATHSIG).
 *
 * When the key process is gone, signing answers DUPLA_EBUSY (503,
 * keys-unavailable): token issue refuses, the log skips checkpoints until
 * it answers again (it does not: a restart of the service brings it back).
 */
#ifndef DUPLA_KEYS_KEYS_H
#define DUPLA_KEYS_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <gnutls/abstract.h>

#include "core/config.h"
#include "core/error.h"
#include "pki/sign.h"

#define KEYS_VERSION       1
#define KEYS_OP_LOAD       1
#define KEYS_OP_SIGN       2
#define KEYS_OP_TLS_LOAD   3
#define KEYS_OP_TLS_SIGN   4
#define KEYS_TLS_DATA      1    /* TLS_SIGN of data (GnuTLS hashes it) */
#define KEYS_TLS_HASH      2    /* TLS_SIGN of a hash (TLS 1.2's RSA, DigestInfo) */
#define KEYS_TLS_HEADER    7    /* what, algorithm, flags */
#define KEYS_TLS_SIG_MAX   1024 /* an RSA-8192 signature */
#define KEYS_TLS_KEYID_LEN 32   /* gnutls_pubkey_get_key_id, SHA-256 */
#define KEYS_TLS_MAX       CONFIG_MAX_LISTENERS
#define KEYS_HEADER_LEN    8
#define KEYS_ANSWER_HEADER 3
#define KEYS_NAME_MAX      CONFIG_PATH_MAX /* a path, or a kid */
#define KEYS_MESSAGE_MAX   (64 * 1024)     /* a JWT's signing input, a checkpoint note */
#define KEYS_HELD_MAX      64              /* keys loaded at once */
#define KEYS_ANSWER_MAX    256             /* a refusal's text */
#define KEYS_TIMEOUT_MS    5000            /* an answer later than this: the process is gone */

/* What the key process may load. */
struct keys_config {
    char token_dir[CONFIG_PATH_MAX];              /* "": none */
    char audit_key[CONFIG_PATH_MAX];              /* "": none */
    char tls_keys[KEYS_TLS_MAX][CONFIG_PATH_MAX]; /* the listeners' key files */
    size_t n_tls;
};

/* A request's header, as read. */
struct keys_header {
    unsigned op;
    size_t name_len;
    size_t message_len;
};

/* Checks a request header (KEYS_HEADER_LEN bytes): 0 and *out, or
 * DUPLA_EINVAL with err saying what is malformed. */
int keys_header_parse(const unsigned char *h, struct keys_header *out, err_t *err);

/* The key process's loop on fd: reads requests and answers them until EOF
 * or a malformed request (then 0 or -1; the held keys are freed and wiped).
 * What the forked child runs; tests run it on a socketpair. */
int keys_serve(int fd, const struct keys_config *cfg);

/* Forks the key process (before any thread exists) with a socketpair;
 * the caller owns *out. */
typedef struct keys keys_t;
int keys_start(const struct keys_config *cfg, keys_t **out, err_t *err);
/* A client of the key process on fd (the request process's end), for
 * tests: no child to wait for. */
int keys_client_new(int fd, keys_t **out, err_t *err);
pid_t keys_pid(const keys_t *k);
/* The pki remote that asks k (pki_signer_set_remote). */
const struct pki_signer_remote *keys_remote(keys_t *k);
/* A GnuTLS private key for path (one of the configured tls_keys; key_id:
 * the certificate's, KEYS_TLS_KEYID_LEN bytes) whose
 * signatures the key process makes (gnutls_privkey_import_ext4): the
 * request process never holds the listener's private key. k must outlive
 * *out; the caller owns *out (gnutls_privkey_deinit, or handing it to
 * gnutls_certificate_set_key). A key process that is gone: DUPLA_EBUSY. */
int keys_tls_privkey(keys_t *k, const char *path, const unsigned char *key_id,
                     gnutls_privkey_t *out, err_t *err);

/* Closes the connection (the key process then exits) and reaps it. */
void keys_stop(keys_t *k);

#endif
