/*
 * json_body.c: reading a JSON request body and its members, the same way
 * for every module's API (a 400 that names the parameter and what is wrong).
 */
#include <string.h>

#include "core/json.h"
#include "http/http.h"

int http_req_json_object(const http_request_t *req, bool empty_ok, json_t **out, err_t *err)
{
    *out = NULL;
    str_t b = http_req_body(req);
    if (empty_ok && str_trim(b).len == 0) {
        *out = json_object();
        return *out ? 0 : err_set(err, DUPLA_ENOMEM, "out of memory");
    }
    json_error_t je;
    bool oom;
    json_t *j = json_parse(b.ptr, b.len, JSON_REJECT_DUPLICATES, &je, &oom);
    if (!j && oom)
        return err_set(err, DUPLA_ENOMEM, "out of memory reading the body");
    if (!j)
        return err_param(err, DUPLA_EINVAL, "body",
                         "the body must be a JSON object: %s (line %d, column %d)", je.text,
                         je.line, je.column);
    if (!json_is_object(j)) {
        json_decref(j);
        return err_param(err, DUPLA_EINVAL, "body", "the body must be a JSON object");
    }
    *out = j;
    return 0;
}

int http_json_string(const json_t *obj, const char *key, bool required, const char **out,
                     err_t *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return required ? err_param(err, DUPLA_EINVAL, key, "%s is required", key) : 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return err_param(err, DUPLA_EINVAL, key, "%s must be a string", key);
    *out = json_string_value(v);
    return 0;
}

int http_req_json_params(const http_request_t *req, bool empty_ok, const struct http_param *params,
                         json_t **out, err_t *err)
{
    int rc = http_req_json_object(req, empty_ok, out, err);
    if (rc == 0 && (rc = http_json_check(*out, params, err)) != 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}
