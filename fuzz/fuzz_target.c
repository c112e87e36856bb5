/*
 * fuzz_target.c: the request target as a client sends it: the path and the
 * query string (http/request.c: http_request_parse_target, the same call
 * the server makes), then the query checked against a declared parameter
 * table of every type (http/params.c: http_query_check). Properties: a
 * decoded path starts with '/' and has no "." or ".." segment; every name
 * and value a handler could see is valid UTF-8 without control bytes; the
 * count never passes the limit.
 */
#include <string.h>

#include "core/arena.h"
#include "core/config.h"
#include "fuzz.h"
#include "http/internal.h"

#define FUZZ_TARGET_ARENA (4u << 20)
#define FUZZ_TARGET_MAX_Q 64

static const char *const kinds[] = {"person", "virksomhed", NULL};
static const struct http_param params[] = {
    {.name = "cpr", .type = HTTP_PARAM_STRING, .repeat = true, .min = 10, .max = 10},
    {.name = "fields", .type = HTTP_PARAM_STRING},
    {.name = "limit", .type = HTTP_PARAM_INT, .min = 1, .max = 1000},
    {.name = "after", .type = HTTP_PARAM_INT, .min = 0},
    {.name = "synthetic", .type = HTTP_PARAM_BOOL},
    {.name = "kind", .type = HTTP_PARAM_ENUM, .values = kinds},
    {.name = "from", .type = HTTP_PARAM_TIME},
    {.name = "q", .type = HTTP_PARAM_STRING, .required = true},
    {0},
};

static void check_text(str_t s)
{
    FUZZ_CHECK(fuzz_utf8_valid(s));
    for (size_t i = 0; i < s.len; i++)
        FUZZ_CHECK((unsigned char)s.ptr[i] >= 0x20 && s.ptr[i] != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct limits_config lim = {.max_query_params = FUZZ_TARGET_MAX_Q};
    http_request_t req;
    memset(&req, 0, sizeof req);
    req.arena = arena_new(FUZZ_TARGET_ARENA);
    if (!req.arena)
        abort();
    req.raw_target = fuzz_str(data, size);
    http_request_parse_target(&req, &lim);
    if (req.path_ok) {
        check_text(req.path);
        FUZZ_CHECK(req.path.len >= 1 && req.path.ptr[0] == '/');
        str_t rest = req.path, seg;
        while (rest.len) {
            seg = fuzz_take(&rest, '/');
            FUZZ_CHECK(!str_eq(seg, STR(".")) && !str_eq(seg, STR("..")));
        }
    }
    if (!req.target_bad) {
        FUZZ_CHECK(req.path_ok);
        FUZZ_CHECK(req.n_query <= FUZZ_TARGET_MAX_Q);
        for (size_t i = 0; i < http_req_query_count(&req); i++) {
            str_t k, v;
            http_req_query_at(&req, i, &k, &v);
            check_text(k);
            check_text(v);
        }
        err_t err;
        err_clear(&err);
        if (http_query_check(&req, params, &err) != 0)
            FUZZ_CHECK(err.code != 0 && err.detail[0] != '\0');
        str_t v;
        (void)http_req_query(&req, "q", &v);
    } else {
        FUZZ_CHECK(req.target_err.code != 0);
    }
    arena_free(req.arena);
    return 0;
}
