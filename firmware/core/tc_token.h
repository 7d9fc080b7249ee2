/* Token-level helpers: 20 decimal digits -> 66 bits, class transposition (IEC 62055-41 6.4.2),
 * CRC-16 (6.3.7) and field extraction.
 *
 * A 64-bit data block is held as 8 bytes, least significant byte first (b[0] = bits 7..0), which
 * is the native order of both the AVR and the x86 host and keeps every operation byte-wise. */
#ifndef TC_TOKEN_H
#define TC_TOKEN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TC_TOKEN_DIGITS 20

/* The 66-bit token value, little-endian; v[8] holds bits 71..64 (only bits 65..64 may be set). */
typedef struct {
    uint8_t v[9];
} tc_u66_t;

/* Parses exactly 20 ASCII digits. Returns 0 on success, -1 if a character is not a digit or the
 * value is 2^66 or more (both are format errors for a meter). */
int8_t tc_digits_to_u66(const char *digits, tc_u66_t *out);

/* Writes the 20 digits (plus a NUL) of a 66-bit value; used by tests and the vending side only. */
void tc_u66_to_digits(const tc_u66_t *in, char out[TC_TOKEN_DIGITS + 1]);

/* Undoes the class transposition: returns the class (0..3) and the 64-bit block as it was before
 * the class bits were inserted at positions 28 and 27. */
uint8_t tc_untranspose(const tc_u66_t *t, uint8_t block[8]);

/* The inverse of tc_untranspose (issuing side; tests). */
void tc_transpose(uint8_t token_class, const uint8_t block[8], tc_u66_t *out);

/* CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF, no final XOR). */
uint16_t tc_crc16(const uint8_t *data, uint16_t len);
/* Continues a CRC-16/MODBUS over more bytes (start from 0xFFFF). */
uint16_t tc_crc16_update(uint16_t crc, const uint8_t *data, uint16_t len);

/* Whether the CRC field (block bits 15..0) matches class || block bits 63..16. */
uint8_t tc_block_crc_ok(uint8_t token_class, const uint8_t block[8]);

/* Field extraction from a plaintext block (LSB-numbered bit ranges of IEC 62055-41 6.3). */
static inline uint8_t tc_block_subclass(const uint8_t b[8])
{
    return (uint8_t)(b[7] >> 4);
}
static inline uint8_t tc_block_rnd(const uint8_t b[8])
{
    return (uint8_t)(b[7] & 0x0F);
}
static inline uint32_t tc_block_tid(const uint8_t b[8])
{
    return ((uint32_t)b[6] << 16) | ((uint32_t)b[5] << 8) | b[4];
}
static inline uint16_t tc_block_amount(const uint8_t b[8])
{
    return (uint16_t)(((uint16_t)b[3] << 8) | b[2]);
}
static inline uint32_t tc_block_word32(const uint8_t b[8])
{
    return ((uint32_t)b[5] << 24) | ((uint32_t)b[4] << 16) | ((uint32_t)b[3] << 8) | b[2];
}

/* The 16-bit Amount / MPL encoding (2-bit exponent, 14-bit mantissa, 6.3.6.2): the value in tenths
 * of a unit (credit) or whole watts (MPL). The largest value, 18 201 624, fits in 32 bits. */
uint32_t tc_amount_decode(uint16_t field);

#ifdef __cplusplus
}
#endif

#endif
