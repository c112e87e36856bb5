/* Unit tests: core/config (the JSON configuration file). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"

Test(config, minimal_file_gets_defaults)
{
    struct dupla_config cfg;
    err_t err;
    int rc = config_load_string("{\"environment\":\"test\"}", "/etc/dupla", &cfg, &err);
    cr_assert_eq(rc, 0, "%s", err.detail);
    cr_assert_eq(cfg.environment, ENV_TEST);
    cr_assert_str_eq(cfg.store_url, "sqlite:/etc/dupla/dupla.db");
    cr_assert_eq(cfg.limits.max_header_bytes, LIMIT_DEFAULT_HEADER_BYTES);
    cr_assert_eq(cfg.n_listeners, 0);
    config_free(&cfg);
}

Test(config, listeners_and_relative_paths)
{
    struct dupla_config cfg;
    err_t err;
    const char *text = "{\"environment\":\"production\",\"listeners\":[{\"name\":\"token\","
                       "\"port\":0,\"cert\":\"pki/server.pem\",\"key\":\"/k.pem\","
                       "\"client_cert\":\"require\",\"trust\":\"pki/ca.pem\"}],"
                       "\"limits\":{\"max_url_bytes\":1000}}";
    int rc = config_load_string(text, "/srv", &cfg, &err);
    cr_assert_eq(rc, 0, "%s", err.detail);
    cr_assert_eq(cfg.environment, ENV_PRODUCTION);
    cr_assert_eq(cfg.n_listeners, 1);
    cr_assert_str_eq(cfg.listeners[0].cert_file, "/srv/pki/server.pem");
    cr_assert_str_eq(cfg.listeners[0].key_file, "/k.pem");
    cr_assert_eq(cfg.listeners[0].client_cert, CLIENT_CERT_REQUIRE);
    cr_assert_eq(cfg.limits.max_url_bytes, 1000);
    config_free(&cfg);
}

static void expect_error(const char *text, const char *needle)
{
    struct dupla_config cfg;
    err_t err;
    err_clear(&err);
    int rc = config_load_string(text, "/srv", &cfg, &err);
    cr_assert_neq(rc, 0, "accepted: %s", text);
    cr_assert(strstr(err.detail, needle) != NULL, "error '%s' lacks '%s'", err.detail, needle);
}

Test(config, errors_name_the_key_and_reason)
{
    expect_error("{", "(string):1:");
    expect_error("{}", "environment");
    expect_error("{\"environment\":\"staging\"}", "environment");
    expect_error("{\"environment\":\"test\",\"store\":\"mysql://x\"}", "store");
    expect_error("{\"environment\":\"test\",\"limits\":{\"max_url_bytes\":\"big\"}}",
                 "limits.max_url_bytes: must be an integer");
    expect_error("{\"environment\":\"test\",\"limits\":{\"max_url_bytes\":10}}",
                 "limits.max_url_bytes: must be between");
    expect_error("{\"environment\":\"test\",\"listeners\":[{\"key\":\"k\"}]}", "cert");
    expect_error("{\"environment\":\"test\",\"listeners\":[{\"cert\":\"c\",\"key\":\"k\","
                 "\"client_cert\":\"require\"}]}",
                 "trust");
    expect_error("{\"environment\":\"test\",\"listeners\":[{\"cert\":\"c\",\"key\":\"k\","
                 "\"prot\":1}]}",
                 "prot: unknown key");
    expect_error("{\"environment\":\"test\",\"environment\":\"test\"}", "duplicate");
}

Test(config, postgresql_stores_are_libpq_strings)
{
    static const char *const ok[] = {
        "postgresql://dupla@db.example:5432/dupla?sslmode=verify-full",
        "postgres://dupla@db/dupla",
        "host=db1,db2 port=5432 dbname=dupla target_session_attrs=read-write",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "{\"environment\":\"test\",\"store\":\"%s\"}", ok[i]);
        struct dupla_config cfg;
        err_t err;
        cr_assert_eq(config_load_string(text, "/etc/dupla", &cfg, &err), 0, "%s: %s", ok[i],
                     err.detail);
        cr_assert_str_eq(cfg.store_url, ok[i]); /* as given: no path resolution */
        config_free(&cfg);
    }
}

Test(config, unknown_keys_are_errors_that_name_the_key)
{
    /* A top-level key that is neither the core's nor a module's section. */
    expect_error("{\"environment\":\"test\",\"stor\":\"sqlite:x.db\"}", "unknown key \"stor\"");
    expect_error("{\"environment\":\"test\",\"limits\":{\"max_urls\":1000}}",
                 "config: unknown key \"max_urls\" in section \"limits\"");
    expect_error("{\"environment\":\"test\",\"listeners\":[{\"cert\":\"c\",\"key\":\"k\","
                 "\"prot\":1}]}",
                 "prot");
    /* A module's section: config_only_keys, as each module's reader calls it. */
    struct dupla_config cfg;
    err_t err;
    err_clear(&err);
    cr_assert_eq(
        config_load_string("{\"environment\":\"test\",\"audit\":{\"stor\":1}}", "/srv", &cfg, &err),
        0, "%s", err.detail);
    static const char *const keys[] = {"queue_max", "signing_key", NULL};
    cr_assert_eq(config_only_keys(config_section(&cfg, "audit"), "audit", keys, &err),
                 DUPLA_EINVAL);
    cr_assert_str_eq(err.detail, "config: unknown key \"stor\" in section \"audit\"");
    cr_assert_str_eq(err.param, "stor");
    cr_assert_eq(config_only_keys(config_section(&cfg, "token"), "token", keys, &err), 0,
                 "an absent section has nothing to refuse");
    config_free(&cfg);
    cr_assert_eq(config_load_string("{\"environment\":\"test\",\"audit\":[1]}", "/srv", &cfg, &err),
                 0);
    cr_assert_eq(config_only_keys(config_section(&cfg, "audit"), "audit", keys, &err), DUPLA_EINVAL,
                 "a section must be an object");
    config_free(&cfg);
}
