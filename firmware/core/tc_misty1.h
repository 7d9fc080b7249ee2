/* EA11: MISTY1 (RFC 2994), 64-bit block, 128-bit key. Blocks are 8 bytes in MISTY1 (big-endian)
 * order: the STS data block is fed with bits 63..56 first (sts-notes 2.3). */
#ifndef TC_MISTY1_H
#define TC_MISTY1_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The expanded key: EK[0..7] = K_i, EK[8..15] = K'_i of RFC 2994 section 2.2. */
typedef struct {
    uint16_t ek[16];
} tc_misty1_ks_t;

void tc_misty1_schedule(tc_misty1_ks_t *ks, const uint8_t key[16]);
void tc_misty1_encrypt(const tc_misty1_ks_t *ks, uint8_t block[8]);
void tc_misty1_decrypt(const tc_misty1_ks_t *ks, uint8_t block[8]);

#ifdef __cplusplus
}
#endif

#endif
