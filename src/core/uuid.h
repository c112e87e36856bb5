/*
 * uuid.h: random (version 4) UUIDs, and checking the textual form.
 */
#ifndef DUPLA_CORE_UUID_H
#define DUPLA_CORE_UUID_H

#include <stdbool.h>

#include "core/str.h"

#define UUID_STR_LEN 36

/* Writes a new v4 UUID and a NUL into out (37 bytes). 0 or DUPLA_EIO. */
int uuid_v4(char out[UUID_STR_LEN + 1]);
/* true for the canonical 8-4-4-4-12 hex form (any version, either case). */
bool uuid_valid(str_t s);

#endif
