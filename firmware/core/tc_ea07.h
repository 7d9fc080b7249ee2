/* EA07: the STS Standard Transfer Algorithm (IEC 62055-41 Annex, "real" STSA tables), a 16-round
 * substitution-permutation network on a 64-bit block with a 64-bit key. Blocks and keys are 8 bytes,
 * least significant byte first (see tc_token.h). */
#ifndef TC_EA07_H
#define TC_EA07_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Decrypts block in place with the 64-bit decoder key. */
void tc_ea07_decrypt(uint8_t block[8], const uint8_t key[8]);

/* Encrypts block in place (issuing side; used by the tests to cross-check the meter side). */
void tc_ea07_encrypt(uint8_t block[8], const uint8_t key[8]);

#ifdef __cplusplus
}
#endif

#endif
