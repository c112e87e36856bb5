/*
 * password.c: argon2id password hashing (libargon2). The parameters are the
 * PASSWORD_ARGON2_* constants in identity.h, where their choice is argued.
 */
#include <argon2.h>
#include <string.h>

#include "core/rand.h"
#include "identity/identity.h"

int identity_password_check_policy(str_t password, err_t *err)
{
    if (password.len < PASSWORD_MIN_LEN)
        return err_param(err, DUPLA_EINVAL, "password", "the password needs at least %d characters",
                         PASSWORD_MIN_LEN);
    if (password.len > PASSWORD_MAX_LEN)
        return err_param(err, DUPLA_EINVAL, "password", "the password is longer than %d bytes",
                         PASSWORD_MAX_LEN);
    for (size_t i = 0; i < password.len; i++)
        if ((unsigned char)password.ptr[i] < 0x20)
            return err_param(err, DUPLA_EINVAL, "password",
                             "the password holds a control character");
    return 0;
}

int identity_password_hash(str_t password, char *encoded, size_t cap, err_t *err)
{
    if (password.len > PASSWORD_MAX_LEN)
        return err_param(err, DUPLA_EINVAL, "password", "the password is too long");
    unsigned char salt[PASSWORD_SALT_BYTES];
    if (rand_bytes(salt, sizeof salt))
        return err_internal(err, DUPLA_EIO, "password: no random bytes for a salt");
    int rc = argon2id_hash_encoded(PASSWORD_ARGON2_T_COST, PASSWORD_ARGON2_M_KIB,
                                   PASSWORD_ARGON2_LANES, password.ptr, password.len, salt,
                                   sizeof salt, PASSWORD_HASH_BYTES, encoded, cap);
    if (rc != ARGON2_OK)
        return err_internal(err, DUPLA_ECRYPTO, "password: argon2id: %s", argon2_error_message(rc));
    return 0;
}

int identity_password_verify(str_t password, const char *encoded)
{
    if (password.len > PASSWORD_MAX_LEN || !encoded || strncmp(encoded, "$argon2id$", 10) != 0)
        return DUPLA_EUNAUTH;
    /* argon2id_verify recomputes with the parameters in the encoded string
     * and compares in constant time. */
    return argon2id_verify(encoded, password.ptr, password.len) == ARGON2_OK ? 0 : DUPLA_EUNAUTH;
}
