/* The fault test build: jansson under allocation failure, through
 * core/json.h. For every n, the n-th allocation of a parse (or a dump)
 * fails: the result must be NULL with oom set, or exactly what a parse
 * without a fault gives, never a value jansson changed (jansson 2.14 drops
 * a byte it fails to save, and a key it fails to write). */
#include <criterion/criterion.h>
#include <string.h>

#include "core/fault.h"
#include "core/json.h"

#define TEXT                                                                                       \
    "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"kujf-zySpOmU31_XR5N0DwWIuHoWX8sfkaVqa_SwCIU\","  \
    "\"n\":150000001,\"a\":[1,2,{\"x\":\"æøå\"}]}"

Test(fault_json, a_parse_is_whole_or_nothing)
{
    json_t *want = json_loads(TEXT, 0, NULL);
    cr_assert_not_null(want);
    int fired = 0;
    for (int n = 1; n < 1000; n++) {
        char owner[1];
        char spec[32];
        snprintf(spec, sizeof spec, "alloc:%d", n);
        cr_assert_eq(fault_arm(str_from_cstr(spec), owner), 0);
        bool oom = false;
        json_t *got = json_parse(TEXT, strlen(TEXT), JSON_REJECT_DUPLICATES, NULL, &oom);
        struct fault_report r;
        fault_report(&r);
        fault_disarm(owner);
        if (!r.fired) {
            cr_assert(json_equal(got, want));
            json_decref(got);
            break;
        }
        fired++;
        /* one failure is retried: the value is whole */
        cr_assert_not_null(got, "alloc:%d: a transient failure refused the text", n);
        cr_assert(json_equal(got, want), "alloc:%d: a changed value", n);
        json_decref(got);
    }
    cr_assert_gt(fired, 5);
    json_decref(want);
}

Test(fault_json, a_dump_is_whole_or_nothing)
{
    json_t *v = json_loads(TEXT, 0, NULL);
    char *want = json_text(v, JSON_COMPACT);
    cr_assert_not_null(want);
    int fired = 0;
    for (int n = 1; n < 1000; n++) {
        char owner[1];
        char spec[32];
        snprintf(spec, sizeof spec, "alloc:%d", n);
        cr_assert_eq(fault_arm(str_from_cstr(spec), owner), 0);
        char *got = json_text(v, JSON_COMPACT);
        struct fault_report r;
        fault_report(&r);
        fault_disarm(owner);
        if (!r.fired) {
            cr_assert_str_eq(got, want);
            free(got);
            break;
        }
        fired++;
        if (got)
            cr_assert_str_eq(got, want, "alloc:%d: a damaged text", n);
        free(got);
    }
    cr_assert_gt(fired, 0);
    free(want);
    json_decref(v);
}
