/*
 * rand.c: getrandom(2) in a loop, and explicit_bzero for wiping.
 */
#include "core/rand.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "core/encode.h"
#include "core/error.h"

int rand_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return DUPLA_EIO;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

int rand_hex(char *out, size_t n)
{
    unsigned char tmp[64];
    if (n > sizeof tmp)
        return DUPLA_EINVAL;
    int rc = rand_bytes(tmp, n);
    if (rc == 0)
        hex_encode(tmp, n, out);
    secret_wipe(tmp, sizeof tmp);
    return rc;
}

void secret_wipe(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}
