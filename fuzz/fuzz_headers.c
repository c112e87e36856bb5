/*
 * fuzz_headers.c: the protocol headers' readers, each fed one line of the
 * input: X-Request-ID (http/request.c: http_request_id_valid, whether the
 * server echoes a client's id; core/uuid.c: uuid_valid, the data path's
 * requirement), UFST-Adgangsgrundlag (agreement/registry.c:
 * agreement_urn_id) and Authorization (token/routes.c: token_bearer_parse;
 * fuzz_jwt.c verifies what it yields). The checks of X-Transaktions-ID
 * and the header block as a whole live in the data path and the server
 * (exposure/engine.c, http/connection.c) and are tested end to end.
 * Properties: an echoed request id is 1-128 bytes of [A-Za-z0-9._-]; a
 * valid UUID is 8-4-4-4-12 hex digits; an agreement id is the non-empty
 * rest of the trimmed value after the URN prefix; a bearer token is a
 * non-empty part of the value without surrounding white space.
 */
#include <ctype.h>
#include <string.h>

#include "agreement/agreement.h"
#include "core/uuid.h"
#include "fuzz.h"
#include "http/internal.h"
#include "token/routes.h"

static void request_id(str_t s)
{
    if (http_request_id_valid(s)) {
        FUZZ_CHECK(s.len >= 1 && s.len <= HTTP_REQUEST_ID_MAX);
        for (size_t i = 0; i < s.len; i++)
            FUZZ_CHECK(isalnum((unsigned char)s.ptr[i]) || strchr("._-", s.ptr[i]));
    }
    if (uuid_valid(s)) {
        FUZZ_CHECK(s.len == UUID_STR_LEN);
        for (size_t i = 0; i < s.len; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23)
                FUZZ_CHECK(s.ptr[i] == '-');
            else
                FUZZ_CHECK(isxdigit((unsigned char)s.ptr[i]));
        }
        FUZZ_CHECK(http_request_id_valid(s));
    }
}

static void agreement(str_t s)
{
    str_t id;
    if (!agreement_urn_id(s, &id))
        return;
    size_t plen = sizeof AGREEMENT_URN_PREFIX - 1;
    FUZZ_CHECK(id.len > 0);
    FUZZ_CHECK(id.ptr >= s.ptr + plen && id.ptr + id.len <= s.ptr + s.len);
    FUZZ_CHECK(memcmp(id.ptr - plen, AGREEMENT_URN_PREFIX, plen) == 0);
}

static void authorization(str_t s)
{
    str_t tok;
    if (!token_bearer_parse(s, &tok))
        return;
    FUZZ_CHECK(tok.ptr >= s.ptr && tok.ptr + tok.len <= s.ptr + s.len);
    FUZZ_CHECK(tok.len == 0 || (!isspace((unsigned char)tok.ptr[0]) &&
                                !isspace((unsigned char)tok.ptr[tok.len - 1])));
    str_t t = str_trim(s);
    FUZZ_CHECK(t.len >= 7 && strncasecmp(t.ptr, "bearer ", 7) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    str_t in = fuzz_str(data, size);
    str_t rid = fuzz_take(&in, '\n');
    str_t urn = fuzz_take(&in, '\n');
    str_t auth = in;
    request_id(rid);
    agreement(urn);
    authorization(auth);
    /* Each reader sees every line too: a header's value may be anything. */
    request_id(urn);
    agreement(auth);
    authorization(rid);
    return 0;
}
