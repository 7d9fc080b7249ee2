/* Rule-for-rule port of tokencore/decoder/machine.py; each function names its Python counterpart. */
#include "tc_decoder.h"

#include "tc_ea07.h"
#include "tc_misty1.h"
#include "tc_pgm.h"
#include "tc_token.h"

/* ---- names ---- */

static const char S_ACCEPT[] TC_PROGMEM = "accept";
static const char S_CRC[] TC_PROGMEM = "crc_error";
static const char S_USED[] TC_PROGMEM = "used";
static const char S_OLD[] TC_PROGMEM = "old";
static const char S_EXPIRED[] TC_PROGMEM = "key_expired";
static const char S_OVERFLOW[] TC_PROGMEM = "overflow";
static const char S_FORMAT[] TC_PROGMEM = "format_error";
static const char S_FUNCTION[] TC_PROGMEM = "function_error";
static const char S_RANGE[] TC_PROGMEM = "range_error";
static const char S_KEYTYPE[] TC_PROGMEM = "key_type_error";
static const char S_DDTK[] TC_PROGMEM = "ddtk_error";
static const char S_MFR[] TC_PROGMEM = "mfr_code_error";
static const char S_LOCKED[] TC_PROGMEM = "locked";
static const char S_KCT1[] TC_PROGMEM = "kct_1st_pending";
static const char S_KCT2[] TC_PROGMEM = "kct_2nd_pending";
static const char S_KCT3[] TC_PROGMEM = "kct_3rd_pending";
static const char S_KCT4[] TC_PROGMEM = "kct_4th_pending";
static const char *const STATUS_NAMES[TC_STATUS_COUNT] TC_PROGMEM = {
    S_ACCEPT,  S_CRC,  S_USED, S_OLD,    S_EXPIRED, S_OVERFLOW, S_FORMAT, S_FUNCTION, S_RANGE,
    S_KEYTYPE, S_DDTK, S_MFR,  S_LOCKED, S_KCT1,    S_KCT2,     S_KCT3,   S_KCT4,
};

static const char K_NONE[] TC_PROGMEM = "";
static const char K_CREDIT[] TC_PROGMEM = "credit";
static const char K_CURRENCY[] TC_PROGMEM = "currency_credit";
static const char K_TEST[] TC_PROGMEM = "test";
static const char K_MPL[] TC_PROGMEM = "mpl";
static const char K_CLEAR_CREDIT[] TC_PROGMEM = "clear_credit";
static const char K_RATE[] TC_PROGMEM = "tariff_rate";
static const char K_KCT1[] TC_PROGMEM = "key_change_1";
static const char K_KCT2[] TC_PROGMEM = "key_change_2";
static const char K_CLEAR_TAMPER[] TC_PROGMEM = "clear_tamper";
static const char K_MPPUL[] TC_PROGMEM = "mppul";
static const char K_WMF[] TC_PROGMEM = "water_factor";
static const char K_KCT3[] TC_PROGMEM = "key_change_3";
static const char K_KCT4[] TC_PROGMEM = "key_change_4";
static const char K_UNDEFINED[] TC_PROGMEM = "undefined";
static const char *const KIND_NAMES[TC_KIND_COUNT] TC_PROGMEM = {
    K_NONE, K_CREDIT,       K_CURRENCY, K_TEST, K_MPL,  K_CLEAR_CREDIT, K_RATE,      K_KCT1,
    K_KCT2, K_CLEAR_TAMPER, K_MPPUL,    K_WMF,  K_KCT3, K_KCT4,         K_UNDEFINED,
};

const char *tc_status_name(uint8_t status)
{
    return status < TC_STATUS_COUNT ? TC_RDPTR(&STATUS_NAMES[status]) : S_FORMAT;
}

const char *tc_kind_name(uint8_t kind)
{
    return kind < TC_KIND_COUNT ? TC_RDPTR(&KIND_NAMES[kind]) : K_NONE;
}

/* ---- state ---- */

void tc_config_default(tc_config_t *c)
{
    c->tid_memory_size = 20;
    c->kct_timeout_ms = 600000ul;
    c->register_limit = 4000000000ul;
    c->services = 0x01u;
    c->lockout_threshold = 3;
    c->lockout_base_ms = 10000ul;
    c->lockout_max_ms = 1280000ul;
}

static void zero(void *p, uint16_t n)
{
    uint8_t *b = (uint8_t *)p;
    while (n-- != 0) {
        *b++ = 0;
    }
}

void tc_state_init(tc_state_t *s, const char pan[18], const tc_key_t *key, const tc_config_t *config)
{
    /* MeterPan.mfr_code: the first 2 digits of an 11-digit DRN (IIN of 6 digits), or the first 4 of a
     * 13-digit DRN (IIN "0000"). */
    uint8_t four = (uint8_t)(pan[0] == '0' && pan[1] == '0' && pan[2] == '0' && pan[3] == '0');
    uint8_t start = four ? 4 : 6;
    uint8_t i;
    zero(s, sizeof *s);
    s->config = *config;
    s->key = *key;
    for (i = 0; i < (four ? 4 : 2); i++) {
        s->mfr_code = (uint16_t)(s->mfr_code * 10u + (uint8_t)(pan[start + i] - '0'));
    }
}

uint32_t tc_debit(tc_state_t *s, uint8_t reg, uint32_t amount)
{
    uint32_t taken = s->registers[reg] < amount ? s->registers[reg] : amount;
    s->registers[reg] -= taken;
    return taken;
}

uint64_t tc_lock_remaining_ms(const tc_state_t *s, uint64_t now_ms)
{
    return now_ms < s->locked_until_ms ? s->locked_until_ms - now_ms : 0;
}

/* ---- helpers ---- */

/* The block fields a result carries (parse_block): every kind but test, key change and undefined has
 * a TID. */
static void result_block(tc_result_t *r, uint8_t cls, uint8_t sub, uint8_t kind, const uint8_t b[8])
{
    r->token_class = cls;
    r->subclass = sub;
    r->kind = kind;
    r->present |= TC_R_BLOCK;
    if (kind != TC_KIND_TEST && kind != TC_KIND_UNDEFINED && kind != TC_KIND_KCT_1 && kind != TC_KIND_KCT_2 &&
        kind != TC_KIND_KCT_3 && kind != TC_KIND_KCT_4) {
        r->tid = tc_block_tid(b);
        r->present |= TC_R_TID;
    }
}

/* kind_of() */
static uint8_t kind_of(uint8_t cls, uint8_t sub)
{
    static const uint8_t MANAGEMENT[10] TC_PROGMEM = {
        TC_KIND_MPL,          TC_KIND_CLEAR_CREDIT, TC_KIND_TARIFF_RATE,  TC_KIND_KCT_1, TC_KIND_KCT_2,
        TC_KIND_CLEAR_TAMPER, TC_KIND_MPPUL,        TC_KIND_WATER_FACTOR, TC_KIND_KCT_3, TC_KIND_KCT_4,
    };
    if (cls == 0) {
        return sub <= 3 ? TC_KIND_CREDIT : sub <= 7 ? TC_KIND_CURRENCY_CREDIT : TC_KIND_UNDEFINED;
    }
    if (cls == 1) {
        return sub <= 1 ? TC_KIND_TEST : TC_KIND_UNDEFINED;
    }
    if (cls == 2 && sub <= 9) {
        return TC_RD8(&MANAGEMENT[sub]);
    }
    return TC_KIND_UNDEFINED;
}

/* crc_matches() with CRC_C for currency credit (one byte 0x01 appended). */
static uint8_t crc_ok(uint8_t cls, const uint8_t b[8], uint8_t currency)
{
    uint8_t msg[8];
    uint8_t j;
    uint16_t crc;
    msg[0] = cls;
    for (j = 0; j < 6; j++) {
        msg[1 + j] = b[7 - j];
    }
    msg[7] = 0x01;
    crc = tc_crc16(msg, currency ? 8 : 7);
    return (uint8_t)(b[1] == (uint8_t)(crc & 0xFFu) && b[0] == (uint8_t)(crc >> 8));
}

/* _expire_pending(): sections older than the window (or from the future) are forgotten. */
static void expire_pending(tc_state_t *s, uint64_t now_ms, tc_result_t *r)
{
    uint8_t i;
    uint8_t kept = 0;
    for (i = 0; i < s->pending_count; i++) {
        const tc_pending_t *p = &s->pending[i];
        if (now_ms >= p->received_ms && now_ms - p->received_ms <= s->config.kct_timeout_ms) {
            s->pending[kept++] = *p;
        }
    }
    if (kept != s->pending_count) {
        s->pending_count = kept;
        r->changed = 1;
    }
}

/* _wrong_entry(): counts towards the lockout; the lock doubles from base up to max. */
static void wrong_entry(tc_state_t *s, uint64_t now_ms, tc_result_t *r, uint8_t outcome)
{
    const tc_config_t *c = &s->config;
    if (s->wrong_entries != 0xFFFFu) {
        s->wrong_entries++;
    }
    if (s->wrong_entries >= c->lockout_threshold) {
        uint64_t lock = c->lockout_base_ms;
        uint16_t k;
        for (k = c->lockout_threshold; k < s->wrong_entries && lock < c->lockout_max_ms; k++) {
            lock <<= 1;
        }
        if (lock > c->lockout_max_ms) {
            lock = c->lockout_max_ms;
        }
        s->locked_until_ms = now_ms + lock;
    }
    r->changed = 1;
    r->outcome = outcome;
    r->lock_remaining_ms = tc_lock_remaining_ms(s, now_ms);
}

/* _accepted(): an accepted meter-specific token resets the lockout. */
static void accepted(tc_state_t *s, tc_result_t *r)
{
    if (s->wrong_entries != 0 || s->locked_until_ms != 0) {
        s->wrong_entries = 0;
        s->locked_until_ms = 0;
        r->changed = 1;
    }
}

/* _parse_entry(): exactly 20 ASCII digits whose value is below 2^66. */
static uint8_t parse_entry(const char *entry, uint8_t n, tc_u66_t *t)
{
    char buf[TC_TOKEN_DIGITS + 1];
    uint8_t i;
    if (n != TC_TOKEN_DIGITS) {
        return 0;
    }
    for (i = 0; i < TC_TOKEN_DIGITS; i++) {
        buf[i] = entry[i];
    }
    buf[TC_TOKEN_DIGITS] = '\0';
    return (uint8_t)(tc_digits_to_u66(buf, t) == 0);
}

#if !defined(TC_ONLY_EA)
#define TC_WITH_EA07 1
#define TC_WITH_EA11 1
#else
#define TC_WITH_EA07 (TC_ONLY_EA == 7)
#define TC_WITH_EA11 (TC_ONLY_EA == 11)
#endif

/* A one-cipher build decrypts every key with its cipher; the application never loads a key of the
 * other algorithm into it (its provisioning refuses one). */
static void decrypt(const tc_key_t *k, uint8_t b[8])
{
    uint8_t j;
    if (TC_WITH_EA11 && (!TC_WITH_EA07 || k->ea == TC_EA11)) {
        tc_misty1_ks_t ks;
        uint8_t be[8];
        for (j = 0; j < 8; j++) {
            be[j] = b[7 - j];
        }
        tc_misty1_schedule(&ks, k->key);
        tc_misty1_decrypt(&ks, be);
        for (j = 0; j < 8; j++) {
            b[j] = be[7 - j];
        }
    } else if (TC_WITH_EA07) {
        uint8_t le[8];
        for (j = 0; j < 8; j++) {
            le[j] = k->key[7 - j];
        }
        tc_ea07_decrypt(b, le);
    }
}

/* ---- Class 1 ---- */

/* _test_token(): not encrypted, no TID, never recorded; processed even while locked. */
static void test_token(tc_state_t *s, uint64_t now_ms, const uint8_t b[8], tc_result_t *r)
{
    uint8_t sub = tc_block_subclass(b);
    uint16_t mfr;
    if (!crc_ok(1, b, 0)) {
        wrong_entry(s, now_ms, r, TC_CRC_ERROR);
        return;
    }
    result_block(r, 1, sub, kind_of(1, sub), b);
    if (r->kind != TC_KIND_TEST) {
        r->outcome = TC_FUNCTION_ERROR;
        return;
    }
    if (sub == 0) {
        mfr = b[2];
        r->control = ((uint64_t)(b[7] & 0x0Fu) << 32) | ((uint32_t)b[6] << 24) | ((uint32_t)b[5] << 16) |
                     ((uint16_t)b[4] << 8) | b[3];
    } else {
        mfr = tc_block_amount(b);
        r->control = ((uint32_t)(b[7] & 0x0Fu) << 24) | ((uint32_t)b[6] << 16) | ((uint16_t)b[5] << 8) | b[4];
    }
    if (mfr != s->mfr_code) {
        r->outcome = TC_MFR_CODE_ERROR;
        return;
    }
    r->present |= TC_R_CONTROL;
    r->outcome = TC_ACCEPT;
}

/* ---- TID tokens ---- */

/* decode_currency(): m * 10^e + sum_{i=1..e} 2^14 10^(i-1). Returns 0 when the value does not fit in
 * 32 bits: every register limit is below that, so such a token is an overflow, as in Python. */
static uint8_t currency_amount(uint8_t e, uint16_t m, uint32_t *out)
{
    uint32_t value = m;
    uint32_t step = 16384u; /* 2^14 10^(i-1) */
    uint32_t offset = 0;
    uint8_t i;
    for (i = 0; i < e; i++) {
        if (value > 429496729ul || offset > 0xFFFFFFFFul - step) {
            return 0;
        }
        value *= 10u;
        offset += step;
        if (i + 1u < e) {
            if (step > 429496729ul) {
                return 0;
            }
            step *= 10u;
        }
    }
    if (value > 0xFFFFFFFFul - offset) {
        return 0;
    }
    *out = value + offset;
    return 1;
}

static uint8_t tid_in_memory(const tc_state_t *s, uint32_t tid)
{
    uint8_t i;
    for (i = 0; i < s->config.tid_memory_size; i++) {
        if (s->tid_memory[i] == tid) {
            return 1;
        }
    }
    return 0;
}

/* Index of the first smallest remembered TID (min() and memory.index(min(memory)) in Python). */
static uint8_t tid_min_index(const tc_state_t *s)
{
    uint8_t i;
    uint8_t best = 0;
    for (i = 1; i < s->config.tid_memory_size; i++) {
        if (s->tid_memory[i] < s->tid_memory[best]) {
            best = i;
        }
    }
    return best;
}

/* Checks and applies a credit token (class 0); returns the outcome. */
static uint8_t apply_credit(tc_state_t *s, const uint8_t b[8], tc_result_t *r)
{
    uint8_t reg = r->subclass;
    uint32_t amount;
    uint32_t have = s->registers[reg];
    uint32_t limit = s->config.register_limit;
    if (s->key.kt == 1) {
        return TC_DDTK_ERROR;
    }
    if (r->kind == TC_KIND_CURRENCY_CREDIT) {
        uint16_t low16 = tc_block_amount(b);
        if (!currency_amount((uint8_t)(((b[7] & 7u) << 2) | (low16 >> 14)), (uint16_t)(low16 & 0x3FFFu),
                             &amount)) {
            return TC_OVERFLOW;
        }
    } else {
        amount = tc_amount_decode(tc_block_amount(b)) * 100u; /* at most 1,820,162,400 */
    }
    /* registers[reg] + amount > limit, without leaving 32 bits. */
    if (have > limit || amount > limit - have) {
        return TC_OVERFLOW;
    }
    s->registers[reg] = have + amount;
    r->amount = amount;
    r->reg = reg;
    r->present |= TC_R_AMOUNT | TC_R_REGISTER;
    return TC_ACCEPT;
}

static void apply_management(tc_state_t *s, const uint8_t b[8], tc_result_t *r)
{
    uint16_t payload = tc_block_amount(b);
    uint8_t i;
    switch (r->kind) {
    case TC_KIND_MPL:
    case TC_KIND_MPPUL:
        r->amount = tc_amount_decode(payload);
        r->present |= TC_R_AMOUNT;
        if (r->kind == TC_KIND_MPL) {
            s->mpl_watts = r->amount;
            s->has |= TC_HAS_MPL;
        } else {
            s->mppul_watts = r->amount;
            s->has |= TC_HAS_MPPUL;
        }
        break;
    case TC_KIND_CLEAR_CREDIT:
        r->reg = payload;
        r->present |= TC_R_REGISTER;
        for (i = 0; i < TC_REGISTERS; i++) {
            if (payload == 0xFFFFu || payload == i) {
                s->registers[i] = 0;
            }
        }
        break;
    case TC_KIND_TARIFF_RATE:
        s->tariff_rate = payload;
        s->has |= TC_HAS_RATE;
        break;
    case TC_KIND_CLEAR_TAMPER:
        s->tamper = 0;
        break;
    case TC_KIND_WATER_FACTOR:
        s->water_factor = payload;
        s->has |= TC_HAS_WMF;
        break;
    default:
        break;
    }
}

/* _tid_token() */
static void tid_token(tc_state_t *s, const uint8_t b[8], tc_result_t *r)
{
    uint32_t tid = tc_block_tid(b);
    uint16_t payload = tc_block_amount(b);
    if ((uint8_t)(tid >> 16) > s->key.ken) {
        r->outcome = TC_KEY_EXPIRED;
        return;
    }
    if (tid_in_memory(s, tid)) {
        r->outcome = TC_USED;
        return;
    }
    if (tid < s->tid_memory[tid_min_index(s)]) {
        r->outcome = TC_OLD;
        return;
    }
    if (r->kind == TC_KIND_CLEAR_CREDIT && payload >= TC_REGISTERS && payload != 0xFFFFu) {
        r->outcome = TC_RANGE_ERROR;
        return;
    }
    if (r->token_class == 0) {
        uint8_t outcome = apply_credit(s, b, r);
        if (outcome != TC_ACCEPT) {
            r->outcome = outcome;
            return;
        }
    } else {
        apply_management(s, b, r);
    }
    s->tid_memory[tid_min_index(s)] = tid;
    r->changed = 1;
    accepted(s, r);
    r->outcome = TC_ACCEPT;
}

/* ---- key change ---- */

static uint32_t kct_word(const uint8_t b[8])
{
    return tc_block_word32(b);
}

/* Key-type rules, checked once the whole set is present: to DITK only from DITK; never DCTK. */
static uint8_t key_type_allowed(uint8_t current_kt, uint8_t new_kt)
{
    return (uint8_t)(!(new_kt == 0 && current_kt != 0) && new_kt != 3);
}

static const tc_pending_t *held(const tc_state_t *s, uint8_t sub)
{
    uint8_t i;
    for (i = 0; i < s->pending_count; i++) {
        if (s->pending[i].subclass == sub) {
            return &s->pending[i];
        }
    }
    return 0;
}

static void put_word(uint8_t *out, uint32_t w)
{
    out[0] = (uint8_t)(w >> 24);
    out[1] = (uint8_t)(w >> 16);
    out[2] = (uint8_t)(w >> 8);
    out[3] = (uint8_t)w;
}

/* _apply_key_change() */
static void apply_key_change(tc_state_t *s)
{
    const uint8_t *first = held(s, 3)->block;
    const uint8_t *second = held(s, 4)->block;
    tc_key_t k = s->key;
    uint8_t i;
    put_word(k.key, kct_word(first));
    if (s->key.ea == TC_EA11) {
        const uint8_t *third = held(s, 8)->block;
        const uint8_t *fourth = held(s, 9)->block;
        put_word(k.key + 4, kct_word(third));
        put_word(k.key + 8, kct_word(fourth));
        put_word(k.key + 12, kct_word(second));
        k.sgc = ((uint32_t)(((uint16_t)(fourth[7] & 0x0Fu) << 8) | fourth[6]) << 12) |
                (((uint16_t)(third[7] & 0x0Fu) << 8) | third[6]);
    } else {
        put_word(k.key + 4, kct_word(second));
    }
    k.kt = (uint8_t)(first[6] & 3u);
    k.krn = (uint8_t)(first[6] >> 4);
    k.ti = second[6];
    k.ken = (uint8_t)(((first[7] & 0x0Fu) << 4) | (second[7] & 0x0Fu));
    if (first[6] & 0x08u) { /* RO: the TID memory starts again */
        for (i = 0; i < TC_TID_MAX; i++) {
            s->tid_memory[i] = 0;
        }
    }
    s->key = k;
}

/* _key_change_section(): sections are held in any order until the set is complete. */
static void key_change_section(tc_state_t *s, uint64_t now_ms, const uint8_t b[8], tc_result_t *r)
{
    uint8_t sub = r->subclass;
    uint8_t need = (s->key.ea == TC_EA11) ? 4 : 2;
    uint8_t i;
    uint8_t j;
    tc_pending_t add;
    /* Replace a held section of the same subclass, keep the list sorted by subclass. */
    for (i = 0; i < s->pending_count && s->pending[i].subclass != sub; i++) {
    }
    if (i < s->pending_count) {
        for (j = i; j + 1 < s->pending_count; j++) {
            s->pending[j] = s->pending[j + 1];
        }
        s->pending_count--;
    }
    add.subclass = sub;
    add.received_ms = now_ms;
    for (j = 0; j < 8; j++) {
        add.block[j] = b[j];
    }
    for (i = s->pending_count; i > 0 && s->pending[i - 1].subclass > sub; i--) {
        s->pending[i] = s->pending[i - 1];
    }
    s->pending[i] = add;
    s->pending_count++;
    r->changed = 1;
    if (s->pending_count < need) {
        /* The prompt names the first section still missing (1st, 2nd, then on EA11 3rd, 4th). */
        r->outcome = !held(s, 3)   ? TC_KCT_1ST_PENDING
                     : !held(s, 4) ? TC_KCT_2ND_PENDING
                     : !held(s, 8) ? TC_KCT_3RD_PENDING
                                   : TC_KCT_4TH_PENDING;
        accepted(s, r);
        return;
    }
    if (!key_type_allowed(s->key.kt, (uint8_t)(held(s, 3)->block[6] & 3u))) {
        s->pending_count = 0;
        r->outcome = TC_KEY_TYPE_ERROR;
        return;
    }
    apply_key_change(s);
    s->pending_count = 0;
    accepted(s, r);
    r->outcome = TC_ACCEPT;
}

/* ---- entry ---- */

/* _supported() */
static uint8_t supported(const tc_state_t *s, const tc_result_t *r)
{
    if (r->kind == TC_KIND_UNDEFINED) {
        return 0;
    }
    if (r->token_class == 0) {
        return (uint8_t)((s->config.services >> r->subclass) & 1u);
    }
    if (r->kind == TC_KIND_KCT_3 || r->kind == TC_KIND_KCT_4) {
        return (uint8_t)(s->key.ea == TC_EA11);
    }
    return 1;
}

void tc_enter_token(tc_state_t *s, const char *entry, uint8_t n, uint64_t now_ms, tc_result_t *r)
{
    tc_u66_t t;
    uint8_t b[8];
    uint8_t valid;
    uint8_t cls;
    uint8_t sub;
    zero(r, sizeof *r);
    expire_pending(s, now_ms, r);
    valid = parse_entry(entry, n, &t);
    cls = (uint8_t)((t.v[3] >> 3) & 3u);
    if (now_ms < s->locked_until_ms && !(valid && cls == 1)) {
        r->outcome = TC_LOCKED;
        r->lock_remaining_ms = s->locked_until_ms - now_ms;
        return;
    }
    if (!valid) {
        wrong_entry(s, now_ms, r, TC_FORMAT_ERROR);
        return;
    }
    cls = tc_untranspose(&t, b);
    if (cls == 1) {
        test_token(s, now_ms, b, r);
        return;
    }
    decrypt(&s->key, b);
    sub = tc_block_subclass(b);
    if (!crc_ok(cls, b, (uint8_t)(cls == 0 && sub >= 4 && sub <= 7))) {
        wrong_entry(s, now_ms, r, TC_CRC_ERROR);
        return;
    }
    result_block(r, cls, sub, kind_of(cls, sub), b);
    if (!supported(s, r)) {
        r->outcome = TC_FUNCTION_ERROR;
        return;
    }
    if (r->kind == TC_KIND_KCT_1 || r->kind == TC_KIND_KCT_2 || r->kind == TC_KIND_KCT_3 ||
        r->kind == TC_KIND_KCT_4) {
        key_change_section(s, now_ms, b, r);
        return;
    }
    tid_token(s, b, r);
}

#ifndef __AVR__
/* Lets the host tests check that their ctypes mirrors have the layout of these structs. */
uint32_t tc_test_state_size(void);
uint32_t tc_test_result_size(void);
uint32_t tc_test_state_size(void)
{
    return (uint32_t)sizeof(tc_state_t);
}
uint32_t tc_test_result_size(void)
{
    return (uint32_t)sizeof(tc_result_t);
}
#endif
