#include "tc_ea07.h"

#include "tc_pgm.h"

/* Nibble substitution tables (S1/S2 encrypt, S1^-1/S2^-1 decrypt), packed as 16-entry arrays. */
static const uint8_t EA07_S1[16] TC_PROGMEM = {14, 10, 7, 9, 12, 3, 2, 5, 13, 0, 15, 1, 4, 8, 6, 11};
static const uint8_t EA07_S2[16] TC_PROGMEM = {12, 8, 2, 13, 7, 6, 1, 3, 11, 5, 9, 15, 0, 4, 10, 14};
static const uint8_t EA07_S1I[16] TC_PROGMEM = {9, 11, 6, 5, 12, 7, 14, 2, 13, 3, 1, 15, 4, 8, 0, 10};
static const uint8_t EA07_S2I[16] TC_PROGMEM = {12, 6, 2, 7, 13, 9, 5, 4, 1, 10, 14, 8, 0, 3, 15, 11};

/* Permutation: encryption moves input bit i to output bit EA07_P[i]. */
static const uint8_t EA07_P[64] TC_PROGMEM = {
    55, 42, 10, 18, 24, 21, 44, 35, 2,  22, 56, 43, 27, 58, 9,  50, 6,  36, 12, 61, 37, 38,
    53, 16, 62, 3,  7,  4,  32, 20, 63, 25, 51, 52, 54, 33, 49, 19, 46, 29, 48, 31, 23, 30,
    41, 28, 13, 5,  40, 60, 39, 11, 15, 17, 1,  0,  57, 34, 59, 8,  47, 14, 45, 26,
};

static const uint8_t EA07_BIT[8] = {1, 2, 4, 8, 16, 32, 64, 128};

static void rotr1(uint8_t k[8])
{
    uint8_t carry = (uint8_t)(k[0] & 1u);
    int8_t j;
    for (j = 7; j >= 0; j--) {
        uint8_t low = (uint8_t)(k[j] & 1u);
        k[j] = (uint8_t)((k[j] >> 1) | (uint8_t)(carry << 7));
        carry = low;
    }
}

static void rotl1(uint8_t k[8])
{
    uint8_t carry = (uint8_t)(k[7] >> 7);
    uint8_t j;
    for (j = 0; j < 8; j++) {
        uint8_t high = (uint8_t)(k[j] >> 7);
        k[j] = (uint8_t)((uint8_t)(k[j] << 1) | carry);
        carry = high;
    }
}

/* Decryption's inverse permutation, output bit i <- input bit P[i], precomputed as (source byte,
 * source mask) pairs in output bit order: two flash reads and no variable shift per bit, which is what
 * an 8-bit CPU needs (this loop is most of a decode). */
static const uint8_t EA07_PI_SRC[128] TC_PROGMEM = {
    0x06, 0x80, 0x05, 0x04, 0x01, 0x04, 0x02, 0x04, 0x03, 0x01, 0x02, 0x20, 0x05, 0x10, 0x04, 0x08,
    0x00, 0x04, 0x02, 0x40, 0x07, 0x01, 0x05, 0x08, 0x03, 0x08, 0x07, 0x04, 0x01, 0x02, 0x06, 0x04,
    0x00, 0x40, 0x04, 0x10, 0x01, 0x10, 0x07, 0x20, 0x04, 0x20, 0x04, 0x40, 0x06, 0x20, 0x02, 0x01,
    0x07, 0x40, 0x00, 0x08, 0x00, 0x80, 0x00, 0x10, 0x04, 0x01, 0x02, 0x10, 0x07, 0x80, 0x03, 0x02,
    0x06, 0x08, 0x06, 0x10, 0x06, 0x40, 0x04, 0x02, 0x06, 0x02, 0x02, 0x08, 0x05, 0x40, 0x03, 0x20,
    0x06, 0x01, 0x03, 0x80, 0x02, 0x80, 0x03, 0x40, 0x05, 0x02, 0x03, 0x10, 0x01, 0x20, 0x00, 0x20,
    0x05, 0x01, 0x07, 0x10, 0x04, 0x80, 0x01, 0x08, 0x01, 0x80, 0x02, 0x02, 0x00, 0x02, 0x00, 0x01,
    0x07, 0x02, 0x04, 0x04, 0x07, 0x08, 0x01, 0x01, 0x05, 0x80, 0x01, 0x40, 0x05, 0x20, 0x03, 0x04,
};

static void permute_inverse(uint8_t b[8])
{
    uint8_t in[8];
    const uint8_t *t = EA07_PI_SRC;
    uint8_t j;
    uint8_t k;
    for (j = 0; j < 8; j++) {
        in[j] = b[j];
    }
    for (j = 0; j < 8; j++) {
        uint8_t o = 0;
        for (k = 0; k < 8; k++) {
            uint8_t src = TC_RD8(t);
            uint8_t mask = TC_RD8(t + 1);
            t += 2;
            o = (uint8_t)(o >> 1);
            if (in[src] & mask) {
                o |= 0x80u;
            }
        }
        b[j] = o;
    }
}

/* Input bit i goes to output bit P[i] (encryption). */
static void permute_forward(uint8_t b[8])
{
    uint8_t in[8];
    uint8_t i;
    uint8_t j;
    for (j = 0; j < 8; j++) {
        in[j] = b[j];
        b[j] = 0;
    }
    for (i = 0; i < 64; i++) {
        if (in[i >> 3] & EA07_BIT[i & 7u]) {
            uint8_t p = TC_RD8(&EA07_P[i]);
            b[p >> 3] |= EA07_BIT[p & 7u];
        }
    }
}

void tc_ea07_decrypt(uint8_t block[8], const uint8_t key[8])
{
    uint8_t k[8];
    uint8_t round;
    uint8_t j;
    for (j = 0; j < 8; j++) {
        k[j] = key[j];
    }
    for (round = 0; round < 16; round++) {
        permute_inverse(block);
        /* Nibble n picks its table with bit 4n of the key: 0 -> S2^-1, 1 -> S1^-1. */
        for (j = 0; j < 8; j++) {
            uint8_t v = block[j];
            const uint8_t *lo_t = (k[j] & 0x01u) ? EA07_S1I : EA07_S2I;
            const uint8_t *hi_t = (k[j] & 0x10u) ? EA07_S1I : EA07_S2I;
            block[j] = (uint8_t)(TC_RD8(&lo_t[v & 0x0Fu]) | (uint8_t)(TC_RD8(&hi_t[v >> 4]) << 4));
        }
        rotr1(k);
    }
}

void tc_ea07_encrypt(uint8_t block[8], const uint8_t key[8])
{
    uint8_t k[8];
    uint8_t round;
    uint8_t j;
    /* K' = ROTR64(NOT K, 12): a byte-and-a-half shift of the complement. */
    for (j = 0; j < 8; j++) {
        uint8_t lo = (uint8_t)~key[(j + 1u) & 7u];
        uint8_t hi = (uint8_t)~key[(j + 2u) & 7u];
        k[j] = (uint8_t)((lo >> 4) | (uint8_t)(hi << 4));
    }
    for (round = 0; round < 16; round++) {
        /* Nibble n picks its table with bit 4n+3 of the key: 0 -> S1, 1 -> S2. */
        for (j = 0; j < 8; j++) {
            uint8_t v = block[j];
            const uint8_t *lo_t = (k[j] & 0x08u) ? EA07_S2 : EA07_S1;
            const uint8_t *hi_t = (k[j] & 0x80u) ? EA07_S2 : EA07_S1;
            block[j] = (uint8_t)(TC_RD8(&lo_t[v & 0x0Fu]) | (uint8_t)(TC_RD8(&hi_t[v >> 4]) << 4));
        }
        permute_forward(block);
        rotl1(k);
    }
}
