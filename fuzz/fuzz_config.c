/*
 * fuzz_config.c: the configuration loader (core/config.c:
 * config_load_string, the same parse config_load makes of the file) and
 * every module's reader of its own section (token, audit, mail, exposure,
 * incident, catalogue folder), as `dupla serve` reads them at start.
 * Operator input, but a typo must give an error naming the key, never a
 * crash. Properties: a refusal carries a message; a loaded configuration
 * has a store, and relative paths resolve within the configuration's
 * folder.
 */
#include <string.h>

#include "audit/audit.h"
#include "catalog/catalog.h"
#include "core/config.h"
#include "exposure/exposure.h"
#include "fuzz.h"
#include "incident/incident.h"
#include "mail/mail.h"
#include "token/token.h"

#define FUZZ_CONFIG_DIR "/nonexistent/dupla-fuzz"

static void refused(int rc, const err_t *err)
{
    if (rc != 0)
        FUZZ_CHECK(err->log[0] != '\0' || err->detail[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(fuzz_str(data, size));
    struct dupla_config cfg;
    err_t err;
    err_clear(&err);
    int rc = config_load_string(text, FUZZ_CONFIG_DIR, &cfg, &err);
    refused(rc, &err);
    if (rc == 0) {
        err_clear(&err);
        refused(config_only_sections(&cfg, &err), &err);
        struct token_config tc;
        err_clear(&err);
        refused(token_config_load(&cfg, &tc, &err), &err);
        struct audit_config ac;
        err_clear(&err);
        refused(audit_config_read(&cfg, &ac, &err), &err);
        struct mail_settings ms;
        err_clear(&err);
        refused(mail_config_read(&cfg, &ms, &err), &err);
        struct exposure_config ec;
        err_clear(&err);
        refused(exposure_config_read(&cfg, &ec, &err), &err);
        struct incident_settings is;
        incident_settings_default(&is);
        err_clear(&err);
        refused(incident_settings_from_config(&cfg, &is, &err), &err);
        char dir[CONFIG_PATH_MAX];
        err_clear(&err);
        refused(catalog_config_dir(&cfg, dir, sizeof dir, &err), &err);
        char path[CONFIG_PATH_MAX];
        if (config_resolve_path(&cfg, "x", path, sizeof path) == 0)
            FUZZ_CHECK(strncmp(path, FUZZ_CONFIG_DIR "/", sizeof FUZZ_CONFIG_DIR) == 0);
        config_free(&cfg);
    }
    free(text);
    return 0;
}
