/*
 * internal.h: what the key process's two sides share (keys.h is the
 * module's contract).
 */
#ifndef DUPLA_KEYS_INTERNAL_H
#define DUPLA_KEYS_INTERNAL_H

#include <stddef.h>

#include "keys/keys.h"

#define KEYS_OK      0
#define KEYS_REFUSED 1

/* n bytes from fd: 0, 1 at EOF before the first byte, -1 on an error or
 * EOF after it. */
int keys_read_full(int fd, void *buf, size_t n);
/* n bytes to fd (no SIGPIPE): 0 or -1. */
int keys_write_full(int fd, const void *buf, size_t n);
/* Overwrites n bytes at p so that the compiler cannot leave them out. */
void keys_wipe(void *p, size_t n);

#endif
