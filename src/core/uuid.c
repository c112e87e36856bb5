/*
 * uuid.c: v4 UUIDs from the kernel CSPRNG.
 */
#include "core/uuid.h"

#include <stdio.h>

#include "core/encode.h"
#include "core/rand.h"

int uuid_v4(char out[UUID_STR_LEN + 1])
{
    unsigned char b[16];
    int rc = rand_bytes(b, sizeof b);
    if (rc)
        return rc;
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    snprintf(out, UUID_STR_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}

bool uuid_valid(str_t s)
{
    if (s.len != UUID_STR_LEN)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (hex_digit(c) < 0) {
            return false;
        }
    }
    return true;
}
