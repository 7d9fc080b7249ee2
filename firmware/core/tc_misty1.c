#include "tc_misty1.h"

#include "tc_pgm.h"

/* The S7 and S9 substitution boxes of RFC 2994 section 2.3, in decimal. */
static const uint8_t MISTY1_S7[128] TC_PROGMEM = {
    27,  50,  51, 90,  59,  16,  23, 84,  91,  26,  114, 115, 107, 44,  102, 73, 31, 36,  19,  108, 55, 46,
    63,  74,  93, 15,  64,  86,  37, 81,  28,  4,   11,  70,  32,  13,  123, 53, 68, 66,  43,  30,  65, 20,
    75,  121, 21, 111, 14,  85,  9,  54,  116, 12,  103, 83,  40,  10,  126, 56, 2,  7,   96,  41,  25, 18,
    101, 47,  48, 57,  8,   104, 95, 120, 42,  76,  100, 69,  117, 61,  89,  72, 3,  87,  124, 79,  98, 60,
    29,  33,  94, 39,  106, 112, 77, 58,  1,   109, 110, 99,  24,  119, 35,  5,  38, 118, 0,   49,  45, 122,
    127, 97,  80, 34,  17,  6,   71, 22,  82,  78,  113, 62,  105, 67,  52,  92, 88, 125,
};

static const uint16_t MISTY1_S9[512] TC_PROGMEM = {
    451, 203, 339, 415, 483, 233, 251, 53,  385, 185, 279, 491, 307, 9,   45,  211, 199, 330, 55,  126, 235,
    356, 403, 472, 163, 286, 85,  44,  29,  418, 355, 280, 331, 338, 466, 15,  43,  48,  314, 229, 273, 312,
    398, 99,  227, 200, 500, 27,  1,   157, 248, 416, 365, 499, 28,  326, 125, 209, 130, 490, 387, 301, 244,
    414, 467, 221, 482, 296, 480, 236, 89,  145, 17,  303, 38,  220, 176, 396, 271, 503, 231, 364, 182, 249,
    216, 337, 257, 332, 259, 184, 340, 299, 430, 23,  113, 12,  71,  88,  127, 420, 308, 297, 132, 349, 413,
    434, 419, 72,  124, 81,  458, 35,  317, 423, 357, 59,  66,  218, 402, 206, 193, 107, 159, 497, 300, 388,
    250, 406, 481, 361, 381, 49,  384, 266, 148, 474, 390, 318, 284, 96,  373, 463, 103, 281, 101, 104, 153,
    336, 8,   7,   380, 183, 36,  25,  222, 295, 219, 228, 425, 82,  265, 144, 412, 449, 40,  435, 309, 362,
    374, 223, 485, 392, 197, 366, 478, 433, 195, 479, 54,  238, 494, 240, 147, 73,  154, 438, 105, 129, 293,
    11,  94,  180, 329, 455, 372, 62,  315, 439, 142, 454, 174, 16,  149, 495, 78,  242, 509, 133, 253, 246,
    160, 367, 131, 138, 342, 155, 316, 263, 359, 152, 464, 489, 3,   510, 189, 290, 137, 210, 399, 18,  51,
    106, 322, 237, 368, 283, 226, 335, 344, 305, 327, 93,  275, 461, 121, 353, 421, 377, 158, 436, 204, 34,
    306, 26,  232, 4,   391, 493, 407, 57,  447, 471, 39,  395, 198, 156, 208, 334, 108, 52,  498, 110, 202,
    37,  186, 401, 254, 19,  262, 47,  429, 370, 475, 192, 267, 470, 245, 492, 269, 118, 276, 427, 117, 268,
    484, 345, 84,  287, 75,  196, 446, 247, 41,  164, 14,  496, 119, 77,  378, 134, 139, 179, 369, 191, 270,
    260, 151, 347, 352, 360, 215, 187, 102, 462, 252, 146, 453, 111, 22,  74,  161, 313, 175, 241, 400, 10,
    426, 323, 379, 86,  397, 358, 212, 507, 333, 404, 410, 135, 504, 291, 167, 440, 321, 60,  505, 320, 42,
    341, 282, 417, 408, 213, 294, 431, 97,  302, 343, 476, 114, 394, 170, 150, 277, 239, 69,  123, 141, 325,
    83,  95,  376, 178, 46,  32,  469, 63,  457, 487, 428, 68,  56,  20,  177, 363, 171, 181, 90,  386, 456,
    468, 24,  375, 100, 207, 109, 256, 409, 304, 346, 5,   288, 443, 445, 224, 79,  214, 319, 452, 298, 21,
    6,   255, 411, 166, 67,  136, 80,  351, 488, 289, 115, 382, 188, 194, 201, 371, 393, 501, 116, 460, 486,
    424, 405, 31,  65,  13,  442, 50,  61,  465, 128, 168, 87,  441, 354, 328, 217, 261, 98,  122, 33,  511,
    274, 264, 448, 169, 285, 432, 422, 205, 243, 92,  258, 91,  473, 324, 502, 173, 165, 58,  459, 310, 383,
    70,  225, 30,  477, 230, 311, 506, 389, 140, 143, 64,  437, 190, 120, 0,   172, 272, 350, 292, 2,   444,
    162, 234, 112, 508, 278, 348, 76,  450,
};

static uint16_t fi(uint16_t in, uint16_t key)
{
    uint16_t d9 = (uint16_t)(in >> 7);
    uint16_t d7 = (uint16_t)(in & 0x7Fu);
    d9 = (uint16_t)(TC_RD16(&MISTY1_S9[d9]) ^ d7);
    d7 = (uint16_t)(TC_RD8(&MISTY1_S7[d7]) ^ (d9 & 0x7Fu));
    d7 = (uint16_t)(d7 ^ (key >> 9));
    d9 = (uint16_t)(d9 ^ (key & 0x1FFu));
    d9 = (uint16_t)(TC_RD16(&MISTY1_S9[d9]) ^ d7);
    return (uint16_t)((d7 << 9) | d9);
}

void tc_misty1_schedule(tc_misty1_ks_t *ks, const uint8_t key[16])
{
    uint8_t i;
    for (i = 0; i < 8; i++) {
        ks->ek[i] = (uint16_t)(((uint16_t)key[2u * i] << 8) | key[2u * i + 1u]);
    }
    for (i = 0; i < 8; i++) {
        ks->ek[i + 8u] = fi(ks->ek[i], ks->ek[(i + 1u) & 7u]);
    }
}

/* The 32-bit halves are kept as two 16-bit words (hi, lo) to stay cheap on an 8-bit CPU. */
typedef struct {
    uint16_t hi;
    uint16_t lo;
} half_t;

static half_t fo(const tc_misty1_ks_t *ks, half_t in, uint8_t k)
{
    const uint16_t *ek = ks->ek;
    uint16_t t0 = in.hi;
    uint16_t t1 = in.lo;
    half_t out;
    t0 = (uint16_t)(fi((uint16_t)(t0 ^ ek[k]), ek[((k + 5u) & 7u) + 8u]) ^ t1);
    t1 = (uint16_t)(fi((uint16_t)(t1 ^ ek[(k + 2u) & 7u]), ek[((k + 1u) & 7u) + 8u]) ^ t0);
    t0 = (uint16_t)(fi((uint16_t)(t0 ^ ek[(k + 7u) & 7u]), ek[((k + 3u) & 7u) + 8u]) ^ t1);
    t1 = (uint16_t)(t1 ^ ek[(k + 4u) & 7u]);
    out.hi = t1;
    out.lo = t0;
    return out;
}

static half_t fl(const tc_misty1_ks_t *ks, half_t in, uint8_t k)
{
    const uint16_t *ek = ks->ek;
    uint16_t d0 = in.hi;
    uint16_t d1 = in.lo;
    uint8_t h = (uint8_t)(k >> 1);
    if ((k & 1u) == 0) {
        d1 = (uint16_t)(d1 ^ (d0 & ek[h]));
        d0 = (uint16_t)(d0 ^ (d1 | ek[((h + 6u) & 7u) + 8u]));
    } else {
        d1 = (uint16_t)(d1 ^ (d0 & ek[((h + 2u) & 7u) + 8u]));
        d0 = (uint16_t)(d0 ^ (d1 | ek[(h + 4u) & 7u]));
    }
    in.hi = d0;
    in.lo = d1;
    return in;
}

static half_t flinv(const tc_misty1_ks_t *ks, half_t in, uint8_t k)
{
    const uint16_t *ek = ks->ek;
    uint16_t d0 = in.hi;
    uint16_t d1 = in.lo;
    uint8_t h = (uint8_t)(k >> 1);
    if ((k & 1u) == 0) {
        d0 = (uint16_t)(d0 ^ (d1 | ek[((h + 6u) & 7u) + 8u]));
        d1 = (uint16_t)(d1 ^ (d0 & ek[h]));
    } else {
        d0 = (uint16_t)(d0 ^ (d1 | ek[(h + 4u) & 7u]));
        d1 = (uint16_t)(d1 ^ (d0 & ek[((h + 2u) & 7u) + 8u]));
    }
    in.hi = d0;
    in.lo = d1;
    return in;
}

static half_t load(const uint8_t *p)
{
    half_t h;
    h.hi = (uint16_t)(((uint16_t)p[0] << 8) | p[1]);
    h.lo = (uint16_t)(((uint16_t)p[2] << 8) | p[3]);
    return h;
}

static void store(uint8_t *p, half_t h)
{
    p[0] = (uint8_t)(h.hi >> 8);
    p[1] = (uint8_t)h.hi;
    p[2] = (uint8_t)(h.lo >> 8);
    p[3] = (uint8_t)h.lo;
}

static half_t xor_half(half_t a, half_t b)
{
    a.hi ^= b.hi;
    a.lo ^= b.lo;
    return a;
}

void tc_misty1_encrypt(const tc_misty1_ks_t *ks, uint8_t block[8])
{
    half_t d0 = load(block);
    half_t d1 = load(block + 4);
    uint8_t r;
    /* An FL layer precedes every pair of Feistel rounds (RFC 2994 section 2.1). */
    for (r = 0; r < 8; r += 2) {
        d0 = fl(ks, d0, r);
        d1 = fl(ks, d1, (uint8_t)(r + 1u));
        d1 = xor_half(d1, fo(ks, d0, r));
        d0 = xor_half(d0, fo(ks, d1, (uint8_t)(r + 1u)));
    }
    d0 = fl(ks, d0, 8);
    d1 = fl(ks, d1, 9);
    store(block, d1);
    store(block + 4, d0);
}

void tc_misty1_decrypt(const tc_misty1_ks_t *ks, uint8_t block[8])
{
    half_t d1 = load(block);
    half_t d0 = load(block + 4);
    int8_t r;
    d0 = flinv(ks, d0, 8);
    d1 = flinv(ks, d1, 9);
    for (r = 6; r >= 0; r -= 2) {
        d0 = xor_half(d0, fo(ks, d1, (uint8_t)(r + 1)));
        d1 = xor_half(d1, fo(ks, d0, (uint8_t)r));
        d0 = flinv(ks, d0, (uint8_t)r);
        d1 = flinv(ks, d1, (uint8_t)(r + 1));
    }
    store(block, d0);
    store(block + 4, d1);
}
