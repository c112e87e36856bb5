/*
 * internal.h: private to src/expiry/.
 */
#ifndef DUPLA_EXPIRY_INTERNAL_H
#define DUPLA_EXPIRY_INTERNAL_H

#include "expiry/expiry.h"

#endif
