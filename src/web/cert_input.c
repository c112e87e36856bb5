/*
 * cert_input.c: a system certificate posted from a page (an uploaded PEM
 * or DER file, or pasted PEM text), read and checked against the
 * organisation before the identity module is asked, so that each refusal
 * can be said precisely in Danish (CVR, expiry, CA certificate, the wrong
 * kind of file). The module checks the same again. Used by the systems
 * pages (pages_systems.c).
 */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "pki/pki.h"
#include "web/internal.h"

#define PEM_CERT_BEGIN "-----BEGIN CERTIFICATE-----"

/* See internal.h. */
int web_cert_read(struct web_ctx *cx, const struct multipart *mp, const struct web_cert_input *in,
                  struct form_errors *fe, struct pki_cert_info *info, const char **used)
{
    *used = in->file_id;
    const struct multipart_part *file =
        multipart_get(mp, in->file_name ? in->file_name : "certificate_file");
    bool have_file = file && file->is_file && (file->filename.len || file->data.len);
    str_t pasted = form_get(&cx->form, in->pem_name ? in->pem_name : "certificate");
    err_t e;
    err_clear(&e);
    if (have_file && pasted.len) {
        form_error(fe, in->file_id,
                   "Vælg en certifikatfil eller indsæt certifikatet som tekst, ikke begge.");
        return -1;
    }
    if (have_file) {
        str_t d = file->data;
        if (d.len == 0) {
            form_error(fe, in->file_id, "Den valgte fil er tom.");
            return -1;
        }
        if (d.len > WEB_CERT_FILE_MAX) {
            form_error(fe, in->file_id,
                       "Filen er for stor til at være et certifikat (højst 32 KiB).");
            return -1;
        }
        int rc;
        if (memmem(d.ptr, d.len, PEM_CERT_BEGIN, sizeof PEM_CERT_BEGIN - 1))
            rc = pki_cert_info_from_pem(d, info, &e);
        else if (memmem(d.ptr, d.len, "-----BEGIN", 10)) {
            form_error(fe, in->file_id,
                       "Filen er ikke et certifikat: den indeholder en anden slags PEM-blok "
                       "(måske en nøgle). Vælg systemets certifikatfil.");
            return -1;
        } else
            rc = pki_cert_info_from_der(d.ptr, d.len, info, &e);
        if (rc != 0) {
            form_error(fe, in->file_id,
                       "Filen kunne ikke læses som et X.509-certifikat. Vælg en certifikatfil i "
                       "PEM- eller DER-format (.pem, .crt, .cer eller .der).");
            return -1;
        }
        return 0;
    }
    if (pasted.len == 0) {
        form_error(fe, in->file_id, "Vælg systemets certifikatfil, eller indsæt certifikatet.");
        return -1;
    }
    if (!memmem(pasted.ptr, pasted.len, PEM_CERT_BEGIN, sizeof PEM_CERT_BEGIN - 1) ||
        pki_cert_info_from_pem(pasted, info, &e) != 0) {
        form_error(fe, in->pem_id,
                   "Teksten kunne ikke læses som et certifikat. Indsæt det i PEM-format, fra "
                   "-----BEGIN CERTIFICATE----- til -----END CERTIFICATE-----.");
        return -1;
    }
    *used = in->pem_id;
    return 0;
}

/* See internal.h. */
int web_cert_check(struct web_ctx *cx, const struct pki_cert_info *info, const char *field,
                   const char *supplier_cvr, struct form_errors *fe)
{
    arena_t *a = http_req_arena(cx->req);
    if (info->is_ca) {
        form_error(fe, field,
                   "Certifikatet er et CA-certifikat (en udsteders). Brug systemets eget "
                   "certifikat.");
        return -1;
    }
    if (!info->cvr[0]) {
        form_error(fe, field,
                   "Certifikatet angiver intet CVR-nummer i sit subjekt, så det kan ikke knyttes "
                   "til organisationen.");
        return -1;
    }
    const char *want = supplier_cvr ? supplier_cvr : cx->org.cvr;
    if (strcmp(info->cvr, want) != 0) {
        const char *m =
            arena_printf(a,
                         "Certifikatet er udstedt til CVR-nummer %s, men "
                         "%s CVR-nummer er %s.",
                         info->cvr, supplier_cvr ? "leverandørens" : "organisationens", want);
        form_error(fe, field, m ? m : "Certifikatets CVR-nummer er ikke organisationens.");
        return -1;
    }
    if (info->not_after_ms <= clock_now_ms()) {
        char t[32];
        web_time(info->not_after_ms, t);
        const char *m = arena_printf(a, "Certifikatet er udløbet (gyldigt til %s).", t);
        form_error(fe, field, m ? m : "Certifikatet er udløbet.");
        return -1;
    }
    return 0;
}
