/*
 * tls.c: the TLS side of a listener, on GnuTLS.
 *
 * Each listener has one credentials set (server certificate chain, its key,
 * the trust store and CRL for client certificates), reference counted: the
 * listener holds one reference while the set is current, every connection
 * that uses it one more. A reload (SIGHUP) makes a new set current; the old
 * one is freed when its last connection closes, so a reload never disturbs a
 * connection in progress and never drops the listening socket.
 *
 * libmicrohttpd creates the GnuTLS session; connection.c hands it here at the
 * start of the connection, before the handshake, and we replace the
 * daemon's credentials with the listener's current set and apply the
 * client-certificate policy:
 *   none     no certificate is asked for;
 *   request  one is asked for and any (or none) is accepted: the route
 *            decides (HTTP_ROUTE_CLIENT_CERT), /whoami says why one failed;
 *   require  the handshake itself fails unless the client presents one
 *            that verifies (chain, validity, CRL, purpose).
 * Under `dupla serve` the private key is not read here: a key source
 * (http_tls_set_key_source; the key process, src/keys/) gives a GnuTLS
 * external key whose every handshake signature is made by the process that
 * holds the key, and this file reads only the certificate chain.
 * The server does not advertise its trusted CA names in the certificate
 * request: clients hold one system certificate and send it, so the server
 * can tell them why it was refused instead of seeing nothing.
 */
#include <string.h>

#include "core/log.h"
#include "http/internal.h"

static int gnutls_fail(err_t *err, const char *what, const char *path, int rc)
{
    return err_set(err, DUPLA_ECRYPTO, "%s %s: %s", what, path, gnutls_strerror(rc));
}

/* The chain's certificates a listener may present at most. */
#define HTTP_TLS_CHAIN_MAX 16

static const struct http_tls_key_source *key_source;

void http_tls_set_key_source(const struct http_tls_key_source *src)
{
    key_source = src;
}

/* The certificate chain from its file, and the key from the key source: no
 * private key in this process. On success cred owns both. */
static int creds_set_remote_key(gnutls_certificate_credentials_t cred,
                                const struct listener_config *lc, err_t *err)
{
    gnutls_pcert_st certs[HTTP_TLS_CHAIN_MAX];
    unsigned n = HTTP_TLS_CHAIN_MAX;
    int rc = gnutls_pcert_list_import_x509_file(certs, &n, lc->cert_file, GNUTLS_X509_FMT_PEM, NULL,
                                                NULL, 0);
    if (rc < 0)
        return gnutls_fail(err, "listener certificate", lc->cert_file, rc);
    unsigned char id[HTTP_TLS_KEYID_LEN];
    size_t id_len = sizeof id;
    gnutls_privkey_t key = NULL;
    rc = gnutls_pubkey_get_key_id(certs[0].pubkey, GNUTLS_KEYID_USE_SHA256, id, &id_len);
    if (rc < 0 || id_len != sizeof id) {
        gnutls_fail(err, "listener certificate's key id", lc->cert_file,
                    rc < 0 ? rc : GNUTLS_E_INTERNAL_ERROR);
        goto fail;
    }
    if ((rc = key_source->privkey(key_source->ctx, lc->key_file, id, &key, err)) != 0)
        goto fail;
    rc = gnutls_certificate_set_key(cred, NULL, 0, certs, (int)n, key);
    if (rc < 0) {
        gnutls_privkey_deinit(key);
        gnutls_fail(err, "listener certificate/key", lc->cert_file, rc);
        goto fail;
    }
    return 0;
fail:
    for (unsigned i = 0; i < n; i++)
        gnutls_pcert_deinit(&certs[i]);
    return err->code ? err->code : DUPLA_ECRYPTO;
}

int http_creds_load(const struct listener_config *lc, struct http_creds **out, err_t *err)
{
    *out = NULL;
    struct http_creds *c = calloc(1, sizeof *c);
    if (!c)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    int rc = gnutls_certificate_allocate_credentials(&c->cred);
    if (rc < 0) {
        free(c);
        return err_set(err, DUPLA_ENOMEM, "gnutls credentials: %s", gnutls_strerror(rc));
    }
    if (key_source) {
        if (creds_set_remote_key(c->cred, lc, err) != 0)
            goto fail;
    } else {
        rc = gnutls_certificate_set_x509_key_file(c->cred, lc->cert_file, lc->key_file,
                                                  GNUTLS_X509_FMT_PEM);
        if (rc < 0) {
            gnutls_fail(err, "listener certificate/key", lc->cert_file, rc);
            goto fail;
        }
    }
    gnutls_datum_t der = {NULL, 0};
    rc = gnutls_certificate_get_crt_raw(c->cred, 0, 0, &der);
    if (rc >= 0) {
        pki_sha256_hex(der.data, der.size, c->server_sha256);
    }
    if (lc->client_cert != CLIENT_CERT_NONE) {
        rc = gnutls_certificate_set_x509_trust_file(c->cred, lc->trust_file, GNUTLS_X509_FMT_PEM);
        if (rc < 0) {
            gnutls_fail(err, "trust store", lc->trust_file, rc);
            goto fail;
        }
        if (rc == 0) {
            err_set(err, DUPLA_ECRYPTO, "trust store %s: no CA certificate in it", lc->trust_file);
            goto fail;
        }
        if (lc->crl_file[0]) {
            rc = gnutls_certificate_set_x509_crl_file(c->cred, lc->crl_file, GNUTLS_X509_FMT_PEM);
            if (rc < 0) {
                gnutls_fail(err, "CRL", lc->crl_file, rc);
                goto fail;
            }
        }
    }
    c->refs = 1;
    *out = c;
    return 0;
fail:
    gnutls_certificate_free_credentials(c->cred);
    free(c);
    return err->code;
}

void http_creds_free(struct http_creds *c)
{
    if (!c)
        return;
    gnutls_certificate_free_credentials(c->cred);
    free(c);
}

/* Clients must present a certificate meant for TLS clients (when it names
 * its purposes at all). */
static gnutls_typed_vdata_st client_purpose = {
    .type = GNUTLS_DT_KEY_PURPOSE_OID,
    .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT,
};

int http_tls_session_setup(gnutls_session_t s, const struct listener_config *lc,
                           struct http_creds *creds, err_t *err)
{
    int rc = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, creds->cred);
    if (rc < 0)
        return err_set(err, DUPLA_ECRYPTO, "gnutls_credentials_set: %s", gnutls_strerror(rc));
    switch (lc->client_cert) {
    case CLIENT_CERT_NONE:
        gnutls_certificate_server_set_request(s, GNUTLS_CERT_IGNORE);
        break;
    case CLIENT_CERT_REQUEST:
        gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUEST);
        gnutls_certificate_send_x509_rdn_sequence(s, 1);
        break;
    case CLIENT_CERT_REQUIRE:
        gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
        gnutls_certificate_send_x509_rdn_sequence(s, 1);
        gnutls_session_set_verify_cert2(s, &client_purpose, 1, 0);
        break;
    }
    return 0;
}

const char *http_tls_reason(unsigned status)
{
    if (status == 0)
        return "";
    if (status & GNUTLS_CERT_SIGNER_NOT_FOUND)
        return "unknown CA";
    if (status & GNUTLS_CERT_REVOKED)
        return "revoked";
    if (status & GNUTLS_CERT_EXPIRED)
        return "expired";
    if (status & GNUTLS_CERT_NOT_ACTIVATED)
        return "not yet valid";
    if (status & GNUTLS_CERT_SIGNER_NOT_CA)
        return "issuer is not a CA";
    if (status & GNUTLS_CERT_PURPOSE_MISMATCH)
        return "not a TLS client certificate";
    if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
        return "insecure algorithm";
    if (status & GNUTLS_CERT_SIGNATURE_FAILURE)
        return "bad signature";
    if (status &
        (GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED | GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE))
        return "revocation list out of date";
    if (status & GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE)
        return "issuer constraints violated";
    return "not trusted";
}

void http_tls_client_cert(gnutls_session_t s, struct http_client_cert *out)
{
    memset(out, 0, sizeof *out);
    unsigned n = 0;
    const gnutls_datum_t *peers = gnutls_certificate_get_peers(s, &n);
    if (!peers || n == 0) {
        snprintf(out->reason, sizeof out->reason, "no certificate");
        return;
    }
    out->present = true;
    err_t e;
    err_clear(&e);
    if (pki_cert_info_from_der(peers[0].data, peers[0].size, &out->info, &e) != 0) {
        out->gnutls_status = GNUTLS_CERT_INVALID;
        snprintf(out->reason, sizeof out->reason, "unreadable certificate");
        return;
    }
    unsigned status = 0;
    int rc = gnutls_certificate_verify_peers(s, &client_purpose, 1, &status);
    if (rc < 0) {
        out->gnutls_status = GNUTLS_CERT_INVALID;
        snprintf(out->reason, sizeof out->reason, "verification failed: %s", gnutls_strerror(rc));
        return;
    }
    out->gnutls_status = status;
    out->verified = status == 0;
    snprintf(out->reason, sizeof out->reason, "%s", http_tls_reason(status));
}

int http_tls_refuse_cert(gnutls_session_t s, const gnutls_datum_t *req_ca_dn, int n_dn,
                         const gnutls_pk_algorithm_t *algos, int n_algos, gnutls_pcert_st **pcert,
                         unsigned *n_pcert, gnutls_privkey_t *key)
{
    (void)s;
    (void)req_ca_dn;
    (void)n_dn;
    (void)algos;
    (void)n_algos;
    *pcert = NULL;
    *n_pcert = 0;
    *key = NULL;
    return -1;
}

const char *http_tls_priorities(const struct listener_config *lc)
{
    return lc->tls_priorities[0] ? lc->tls_priorities : HTTP_TLS_PRIORITIES;
}

int http_tls_priorities_check(const struct listener_config *lc, size_t idx, err_t *err)
{
    gnutls_priority_t p;
    const char *where = NULL;
    const char *text = http_tls_priorities(lc);
    int rc = gnutls_priority_init(&p, text, &where);
    if (rc == GNUTLS_E_SUCCESS) {
        gnutls_priority_deinit(p);
        return 0;
    }
    char key[64];
    snprintf(key, sizeof key, "listeners[%zu].tls_priorities", idx);
    return err_param(err, DUPLA_EINVAL, key, "%s: not a GnuTLS priority string (%s, at \"%.40s\")",
                     key, gnutls_strerror(rc), where ? where : text);
}
