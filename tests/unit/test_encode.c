/* Unit tests: core/encode (hex, base64url) and core/uuid. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/encode.h"
#include "core/uuid.h"

Test(encode, base64url_vectors)
{
    /* RFC 4648 test vectors, in the URL alphabet without padding. */
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char enc[32];
        base64url_encode(in[i], strlen(in[i]), enc);
        cr_assert_str_eq(enc, out[i]);
        char dec[32];
        long n = base64url_decode(str_from_cstr(out[i]), dec, sizeof dec);
        cr_assert_eq(n, (long)strlen(in[i]));
        cr_assert(memcmp(dec, in[i], (size_t)n) == 0);
    }
    char dec[8];
    cr_assert_eq(base64url_decode(STR("Zm9v="), dec, sizeof dec), -1); /* padding */
    cr_assert_eq(base64url_decode(STR("Zm+v"), dec, sizeof dec), -1);  /* + is not url */
    cr_assert_eq(base64url_decode(STR("Zh"), dec, sizeof dec), -1);    /* non-canonical */
    cr_assert_eq(base64url_decode(STR("Zm9vYmFy"), dec, 5), -1);       /* too small */
}

Test(encode, hex_round_trip)
{
    unsigned char b[] = {0x00, 0xab, 0xff};
    char h[7];
    hex_encode(b, 3, h);
    cr_assert_str_eq(h, "00abff");
    unsigned char o[3];
    cr_assert_eq(hex_decode(STR("00ABff"), o, 3), 3);
    cr_assert(memcmp(o, b, 3) == 0);
    cr_assert_eq(hex_decode(STR("0g"), o, 3), -1);
}

Test(uuid, v4_is_valid_and_random)
{
    char a[37], b[37];
    cr_assert_eq(uuid_v4(a), 0);
    cr_assert_eq(uuid_v4(b), 0);
    cr_assert(uuid_valid(str_from_cstr(a)));
    cr_assert_eq(a[14], '4');
    cr_assert_str_neq(a, b);
    cr_assert_not(uuid_valid(STR("not-a-uuid")));
    cr_assert_not(uuid_valid(STR("123e4567-e89b-12d3-a456-42661417400")));
    cr_assert(uuid_valid(STR("123E4567-E89B-12D3-A456-426614174000")));
}
