/* Published known-answer vectors for the portable core, run on the host (also under ASan/UBSan).
 * Sources: RFC 2994 section B (MISTY1), /work/shared/docs/sts-notes.md section 4 (STS). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tc_ea07.h"
#include "tc_misty1.h"
#include "tc_token.h"

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        failures++;
        printf("FAIL %s\n", what);
    }
}

static void le_from_u64(uint8_t out[8], uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++) {
        out[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t u64_from_le(const uint8_t in[8])
{
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--) {
        v = (v << 8) | in[i];
    }
    return v;
}

static void hex_to_bytes(const char *hex, uint8_t *out, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned int x;
        sscanf(hex + 2 * i, "%2x", &x);
        out[i] = (uint8_t)x;
    }
}

struct ea07_case {
    uint64_t key, plain, cipher;
    const char *token;
    uint8_t cls;
};

static const struct ea07_case EA07_CASES[] = {
    {0x0ABC12DEF3456789ull, 0x0B19EB230100C207ull, 0x9335C6C96B7352DCull, "29054347139309851356", 0},
    {0xE653341F9D5BF36Full, 0x05599863000119E6ull, 0x492083C0AE7CE455ull, "23716100501183194197", 0},
    {0xE94023262E9993C2ull, 0x0559986800016824ull, 0xA4AC0EE51A85A744ull, "67206107716095682372", 0},
    {0xE653341F9D5BF36Full, 0x055A2F1D03E8F8F4ull, 0xC267DB18153BDCB4ull, "50901894209860263092", 2},
    {0xE653341F9D5BF36Full, 0x3F12060B8643D717ull, 0xCCA0882E572FDBADull, "51638423060042734509", 2},
    {0xE653341F9D5BF36Full, 0x4F02C59A27F189A8ull, 0xD530672AA6C65C22ull, "15361891762113502242", 2},
    {0xAA4BAA8749C10D27ull, 0x05806A600001C68Dull, 0xD9D81F87A079E8C5ull, "15697331168573253829", 0},
};

static void test_ea07(void)
{
    size_t i;
    for (i = 0; i < sizeof EA07_CASES / sizeof EA07_CASES[0]; i++) {
        const struct ea07_case *c = &EA07_CASES[i];
        uint8_t key[8], block[8];
        tc_u66_t t;
        char digits[21];
        uint8_t cls = c->cls;
        le_from_u64(key, c->key);
        le_from_u64(block, c->plain);
        tc_ea07_encrypt(block, key);
        check(u64_from_le(block) == c->cipher, "ea07 encrypt");
        tc_ea07_decrypt(block, key);
        check(u64_from_le(block) == c->plain, "ea07 decrypt");
        check(tc_block_crc_ok(cls, block), "crc of published block");
        check(tc_digits_to_u66(c->token, &t) == 0, "token parses");
        check(tc_untranspose(&t, block) == cls, "class");
        check(u64_from_le(block) == c->cipher, "untransposed block");
        tc_transpose(cls, block, &t);
        tc_u66_to_digits(&t, digits);
        check(strcmp(digits, c->token) == 0, "digits round trip");
    }
}

static void test_misty1(void)
{
    static const char *cases[][3] = {
        {"00112233445566778899aabbccddeeff", "0123456789abcdef", "8b1da5f56ab3d07c"},
        {"00112233445566778899aabbccddeeff", "fedcba9876543210", "04b68240b13be95d"},
        {"F94B6ED353C3BFDB113E2D3A7EA3C41D", "0559982C00012831", "38269A8E59319817"},
    };
    size_t i;
    for (i = 0; i < 3; i++) {
        uint8_t key[16], plain[8], cipher[8], block[8];
        tc_misty1_ks_t ks;
        hex_to_bytes(cases[i][0], key, 16);
        hex_to_bytes(cases[i][1], plain, 8);
        hex_to_bytes(cases[i][2], cipher, 8);
        tc_misty1_schedule(&ks, key);
        memcpy(block, plain, 8);
        tc_misty1_encrypt(&ks, block);
        check(memcmp(block, cipher, 8) == 0, "misty1 encrypt");
        tc_misty1_decrypt(&ks, block);
        check(memcmp(block, plain, 8) == 0, "misty1 decrypt");
    }
}

static void test_misc(void)
{
    static const uint8_t check_str[] = "123456789";
    tc_u66_t t;
    check(tc_crc16(check_str, 9) == 0x4B37, "crc16 modbus check value");
    check(tc_digits_to_u66("73786976294838206463", &t) == 0, "2^66-1 parses");
    check(tc_digits_to_u66("73786976294838206464", &t) == -1, "2^66 is a format error");
    check(tc_digits_to_u66("99999999999999999999", &t) == -1, "20 nines is a format error");
    check(tc_digits_to_u66("1234567890123456789x", &t) == -1, "non-digit");
    check(tc_amount_decode(0x8000) == 180224u, "amount 0x8000");
    check(tc_amount_decode(0xFFFF) == 18201624u, "amount max");
    check(tc_amount_decode(0x0001) == 1u, "amount 1");
}

int main(void)
{
    test_ea07();
    test_misty1();
    test_misc();
    printf("%s (%d failures)\n", failures ? "FAILED" : "ok", failures);
    return failures ? 1 : 0;
}
