/*
 * rand.h: cryptographically secure random bytes and secret wiping.
 */
#ifndef DUPLA_CORE_RAND_H
#define DUPLA_CORE_RAND_H

#include <stddef.h>

/* Fills buf with n bytes from the kernel's CSPRNG (getrandom). 0 or DUPLA_EIO. */
int rand_bytes(void *buf, size_t n);
/* n random bytes as 2n lowercase hex digits plus NUL in out (2n+1 bytes). */
int rand_hex(char *out, size_t n);
/* Overwrites a secret in a way the compiler does not remove. */
void secret_wipe(void *p, size_t n);

#endif
