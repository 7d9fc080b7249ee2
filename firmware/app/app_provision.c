/* Provisioning: a meter's identity and decoder key are never compiled in. A meter whose EEPROM holds no
 * valid record boots unprovisioned; it refuses every token but the Class 1 test tokens (ERROR no_key,
 * LCD "NO KEY") until a record is written, either as an EEPROM image (`nguvu meter eeprom`) or over the
 * serial line with two requests, accepted only while no record exists (docs/serial-protocol.md 3.6):
 *
 *   PROVISION ID <pan> <sgc> <ti> <krn> <kt> <ken> <ea> <bd>    held in RAM, nothing written, reply OK
 *   PROVISION KEY <hex>                                        the whole record in one generation, OK
 *
 * The record is written by app_store_save like any other generation, CRC last, into an EEPROM with no
 * valid record: a power cut during the write leaves no valid record (still unprovisioned) or the
 * whole one. Afterwards the key changes only through STS key change tokens. */
#include <string.h>

#include "app.h"
#include "tc_pgm.h"
#include "tc_token.h"

void app_provision_blank(app_persist_t *p)
{
    tc_key_t k;
    tc_config_t config;
    memset(p, 0, sizeof *p);
    memset(&k, 0, sizeof k);
    k.ea = APP_EA;
    tc_config_default(&config);
    memset(p->pan, '0', sizeof p->pan);
    tc_state_init(&p->meter, p->pan, &k, &config);
    p->meter.mfr_code = APP_MFR_CODE;
}

uint8_t app_is_class1(const char *digits, uint8_t n)
{
    char buf[TC_TOKEN_DIGITS + 1];
    tc_u66_t t;
    uint8_t block[8];
    if (n != TC_TOKEN_DIGITS) {
        return 0;
    }
    memcpy(buf, digits, TC_TOKEN_DIGITS);
    buf[TC_TOKEN_DIGITS] = '\0';
    return (uint8_t)(tc_digits_to_u66(buf, &t) == 0 && tc_untranspose(&t, block) == 1);
}

const char *app_provision_word(void)
{
    if (g_app.prov == APP_PROV_NEEDED) {
        return APP_P("needed");
    }
    return g_app.prov == APP_PROV_WRONG_EA ? APP_P("wrong_variant") : NULL;
}

/* Reads up to `max` decimal digits (at least one), then one space or the end; NULL when malformed. */
static const char *number(const char *s, uint8_t max, uint32_t *out, uint8_t *count)
{
    uint8_t n = 0;
    *out = 0;
    while (*s >= '0' && *s <= '9') {
        if (++n > max) {
            return NULL;
        }
        *out = *out * 10u + (uint32_t)(*s++ - '0');
    }
    if (n == 0 || (*s != ' ' && *s != '\0')) {
        return NULL;
    }
    *count = n;
    return *s == ' ' ? s + 1 : s;
}

/* Whether the last of `n` digits is the Luhn check digit of the others (tokencore's parse_pan checks
 * the PAN's and the DRN's this way). */
static uint8_t luhn_ok(const char *digits, uint8_t n)
{
    uint16_t sum = 0;
    uint8_t i;
    for (i = 0; i + 1u < n; i++) {
        uint8_t d = (uint8_t)(digits[n - 2u - i] - '0');
        if ((i & 1u) == 0) {
            d = (uint8_t)(d * 2u);
            if (d > 9) {
                d = (uint8_t)(d - 9u);
            }
        }
        sum = (uint16_t)(sum + d);
    }
    return (uint8_t)((10u - sum % 10u) % 10u == (uint8_t)(digits[n - 1u] - '0'));
}

/* PROVISION ID: every field checked before anything is kept. */
static uint8_t provision_id(const char *s)
{
    char pan[18];
    uint32_t v[7];
    uint8_t width[7];
    static const uint8_t MAX[7] TC_PROGMEM = {6, 2, 1, 1, 3, 2, 4};
    uint8_t i;
    uint8_t n = 0;
    uint8_t skip;
    tc_key_t *k = &g_app.p.meter.key;
    for (i = 0; i < 18; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        pan[i] = s[i];
    }
    skip = (memcmp(pan, "0000", 4) == 0) ? 4 : 6; /* the IIN; the DRN follows, then the PAN check digit */
    if (s[18] != ' ' || !luhn_ok(pan, 18) || !luhn_ok(pan + skip, (uint8_t)(17u - skip))) {
        return 0;
    }
    s += 19;
    for (i = 0; i < 7; i++) {
        s = s ? number(s, TC_RD8(&MAX[i]), &v[i], &n) : NULL;
        width[i] = n;
    }
    if (s == NULL || *s != '\0' || width[0] != 6 || width[1] != 2 || v[2] < 1 || v[3] > 3 || v[4] > 255 ||
        v[5] != APP_EA || width[5] != 2 || width[6] != 4 || (v[6] != 1993 && v[6] != 2014 && v[6] != 2035)) {
        return 0;
    }
    memcpy(g_app.p.pan, pan, sizeof pan);
    k->sgc = v[0];
    k->ti = (uint8_t)v[1];
    k->krn = (uint8_t)v[2];
    k->kt = (uint8_t)v[3];
    k->ken = (uint8_t)v[4];
    g_app.p.base_date = (uint8_t)(v[6] % 100u);
    return 1;
}

static int8_t hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return (int8_t)(c - '0');
    }
    c = (char)(c | 0x20);
    return (c >= 'a' && c <= 'f') ? (int8_t)(c - 'a' + 10) : -1;
}

/* PROVISION KEY: the decoder key in hex (16 digits for EA07, 32 for EA11); writes the record. */
static uint8_t provision_key(const char *s, tc_key_t *k)
{
    uint8_t len = (APP_EA == 11) ? 16 : 8;
    uint8_t i;
    memset(k->key, 0, sizeof k->key);
    for (i = 0; i < 2u * len; i++) {
        int8_t d = hex_digit(s[i]);
        if (d < 0) {
            return 0;
        }
        k->key[i / 2u] = (uint8_t)((k->key[i / 2u] << 4) | (uint8_t)d);
    }
    return (uint8_t)(s[2u * len] == '\0');
}

/* Case-insensitive match of "ID" or "KEY" (a flash string in lower case) followed by spaces; the rest
 * of the line or NULL. */
static const char *part(const char *s, const char *lower_word)
{
    char c;
    while ((c = (char)TC_RD8(lower_word)) != '\0') {
        if ((char)(*s | 0x20) != c) {
            return NULL;
        }
        s++;
        lower_word++;
    }
    if (*s != ' ') {
        return NULL;
    }
    while (*s == ' ') {
        s++;
    }
    return s;
}

void app_provision_request(const char *arg)
{
    const char *rest;
    tc_key_t k;
    tc_config_t config;
    if (g_app.prov != APP_PROV_NEEDED) {
        app_send_p(APP_P("ERROR provisioned\n"));
        return;
    }
    if ((rest = part(arg, APP_P("id"))) != NULL) {
        app_provision_blank(&g_app.p); /* a second ID replaces the first */
        g_app.prov_id = provision_id(rest);
        if (!g_app.prov_id) {
            app_provision_blank(&g_app.p);
        }
        app_send_p(g_app.prov_id ? APP_P("OK\n") : APP_P("ERROR bad_argument\n"));
        return;
    }
    if ((rest = part(arg, APP_P("key"))) == NULL) {
        app_send_p(APP_P("ERROR bad_argument\n"));
        return;
    }
    if (!g_app.prov_id) {
        app_send_p(APP_P("ERROR no_id\n"));
        return;
    }
    k = g_app.p.meter.key;
    k.ea = APP_EA;
    if (!provision_key(rest, &k)) {
        app_send_p(APP_P("ERROR bad_argument\n"));
        return;
    }
    tc_config_default(&config);
    tc_state_init(&g_app.p.meter, g_app.p.pan, &k, &config);
    /* The credit counts down from the sensor's energy as last read (at most a second ago). */
    g_app.p.energy_ref_wh = g_app.pzem.energy_wh;
    g_app.p.energy_ref_valid = g_app.pzem_ok;
    g_app.prov = APP_PROV_OK;
    g_app.prov_id = 0;
    if (!app_save_now()) {
        g_app.prov = APP_PROV_NEEDED;
        app_provision_blank(&g_app.p);
        app_send_p(APP_P("ERROR storage\n"));
        return;
    }
    g_app.saved_credit = 0;
    app_send_p(APP_P("OK\n"));
}
