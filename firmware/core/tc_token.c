#include "tc_token.h"

int8_t tc_digits_to_u66(const char *digits, tc_u66_t *out)
{
    uint8_t i;
    uint8_t j;
    for (j = 0; j < 9; j++) {
        out->v[j] = 0;
    }
    for (i = 0; i < TC_TOKEN_DIGITS; i++) {
        uint8_t d = (uint8_t)(digits[i] - '0');
        uint16_t carry;
        if (d > 9) {
            return -1;
        }
        /* acc = acc * 10 + d, one byte at a time: no 64-bit multiply on the AVR. */
        carry = d;
        for (j = 0; j < 9; j++) {
            uint16_t x = (uint16_t)((uint16_t)out->v[j] * 10u + carry);
            out->v[j] = (uint8_t)x;
            carry = (uint16_t)(x >> 8);
        }
        if (carry != 0) {
            return -1;
        }
    }
    if (digits[TC_TOKEN_DIGITS] != '\0') {
        return -1;
    }
    return (out->v[8] > 3) ? -1 : 0;
}

void tc_u66_to_digits(const tc_u66_t *in, char out[TC_TOKEN_DIGITS + 1])
{
    uint8_t work[9];
    int8_t i;
    int8_t j;
    for (j = 0; j < 9; j++) {
        work[j] = in->v[j];
    }
    for (i = TC_TOKEN_DIGITS - 1; i >= 0; i--) {
        uint16_t rem = 0;
        for (j = 8; j >= 0; j--) {
            uint16_t x = (uint16_t)((rem << 8) | work[j]);
            work[j] = (uint8_t)(x / 10u);
            rem = (uint16_t)(x % 10u);
        }
        out[i] = (char)('0' + rem);
    }
    out[TC_TOKEN_DIGITS] = '\0';
}

/* Bits 27 and 28 of a block are bits 3 and 4 of byte 3. */
#define TC_B27 0x08u
#define TC_B28 0x10u

uint8_t tc_untranspose(const tc_u66_t *t, uint8_t block[8])
{
    uint8_t j;
    uint8_t cls = (uint8_t)((t->v[3] >> 3) & 3u);
    uint8_t hi = t->v[8];
    for (j = 0; j < 8; j++) {
        block[j] = t->v[j];
    }
    block[3] = (uint8_t)(block[3] & (uint8_t) ~(TC_B27 | TC_B28));
    if (hi & 1u) {
        block[3] |= TC_B27;
    }
    if (hi & 2u) {
        block[3] |= TC_B28;
    }
    return cls;
}

void tc_transpose(uint8_t token_class, const uint8_t block[8], tc_u66_t *out)
{
    uint8_t j;
    for (j = 0; j < 8; j++) {
        out->v[j] = block[j];
    }
    out->v[8] = (uint8_t)(((block[3] & TC_B27) ? 1u : 0u) | ((block[3] & TC_B28) ? 2u : 0u));
    out->v[3] = (uint8_t)((out->v[3] & (uint8_t) ~(TC_B27 | TC_B28)) | (uint8_t)((token_class & 3u) << 3));
}

uint16_t tc_crc16(const uint8_t *data, uint16_t len)
{
    return tc_crc16_update(0xFFFFu, data, len);
}

uint16_t tc_crc16_update(uint16_t crc, const uint8_t *data, uint16_t len)
{
    uint16_t i;
    uint8_t k;
    for (i = 0; i < len; i++) {
        crc ^= data[i];
        for (k = 0; k < 8; k++) {
            crc = (crc & 1u) ? (uint16_t)((crc >> 1) ^ 0xA001u) : (uint16_t)(crc >> 1);
        }
    }
    return crc;
}

uint8_t tc_block_crc_ok(uint8_t token_class, const uint8_t block[8])
{
    uint8_t msg[7];
    uint8_t j;
    uint16_t crc;
    msg[0] = (uint8_t)(token_class & 3u);
    for (j = 0; j < 6; j++) {
        msg[1 + j] = block[7 - j];
    }
    crc = tc_crc16(msg, 7);
    /* The field is the MODBUS register byte-swapped: its high byte (b[1]) is the CRC's low byte. */
    return (uint8_t)(block[1] == (uint8_t)(crc & 0xFFu) && block[0] == (uint8_t)(crc >> 8));
}

uint32_t tc_amount_decode(uint16_t field)
{
    uint8_t e = (uint8_t)(field >> 14);
    uint32_t value = field & 0x3FFFu;
    uint32_t offset = 0;
    uint32_t step = 16384u;
    uint8_t i;
    for (i = 0; i < e; i++) {
        value *= 10u;
        offset += step;
        step *= 10u;
    }
    return value + offset;
}
