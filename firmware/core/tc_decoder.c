#include "tc_decoder.h"

#include "tc_ea07.h"
#include "tc_misty1.h"
#include "tc_pgm.h"
#include "tc_token.h"

static const char TC_S_ACCEPT[] TC_PROGMEM = "accept";
static const char TC_S_CRC[] TC_PROGMEM = "crc_error";
static const char TC_S_USED[] TC_PROGMEM = "used";
static const char TC_S_OLD[] TC_PROGMEM = "old";
static const char TC_S_EXPIRED[] TC_PROGMEM = "key_expired";
static const char TC_S_OVERFLOW[] TC_PROGMEM = "overflow";
static const char TC_S_FORMAT[] TC_PROGMEM = "format_error";
static const char TC_S_FUNCTION[] TC_PROGMEM = "function_error";
static const char TC_S_RANGE[] TC_PROGMEM = "range_error";
static const char TC_S_KEYTYPE[] TC_PROGMEM = "key_type_error";
static const char TC_S_DDTK[] TC_PROGMEM = "ddtk_error";
static const char TC_S_MFR[] TC_PROGMEM = "mfr_code_error";
static const char TC_S_LOCKED[] TC_PROGMEM = "locked";
static const char TC_S_KCT1[] TC_PROGMEM = "kct_1st_pending";
static const char TC_S_KCT2[] TC_PROGMEM = "kct_2nd_pending";

static const char *const TC_STATUS_NAMES[TC_STATUS_COUNT] TC_PROGMEM = {
    TC_S_ACCEPT, TC_S_CRC,   TC_S_USED,    TC_S_OLD, TC_S_EXPIRED, TC_S_OVERFLOW, TC_S_FORMAT, TC_S_FUNCTION,
    TC_S_RANGE,  TC_S_KEYTYPE, TC_S_DDTK, TC_S_MFR, TC_S_LOCKED,  TC_S_KCT1,     TC_S_KCT2,
};

/* Returns a pointer into flash on the AVR (read it with pgm_read_byte / strcpy_P). */
const char *tc_status_name(uint8_t status)
{
    return status < TC_STATUS_COUNT ? TC_RDPTR(&TC_STATUS_NAMES[status]) : TC_S_FORMAT;
}

/* ---- provisional rules (sts-notes section 3); to be aligned rule for rule with tokencore ---- */

#define TC_LOCK_AFTER 3u
#define TC_LOCK_BASE_S 10u
#define TC_LOCK_MAX_S 1280u
#define TC_KCT_TIMEOUT_MS 600000ul

void tc_meter_identity(tc_meter_t *meter, const char pan[18])
{
    uint8_t i;
    uint8_t four = (uint8_t)(pan[0] == '0' && pan[1] == '0' && pan[2] == '0' && pan[3] == '0');
    uint8_t start = four ? 4 : 6;
    uint8_t n = four ? 4 : 2;
    meter->mfr_code = 0;
    for (i = 0; i < n; i++) {
        meter->mfr_code = (uint16_t)(meter->mfr_code * 10u + (uint8_t)(pan[start + i] - '0'));
    }
    meter->mfr_digits = n;
}

uint16_t tc_locked_seconds(const tc_session_t *s, uint32_t now_ms)
{
    int32_t left;
    if (!s->locked) {
        return 0;
    }
    left = (int32_t)(s->locked_until_ms - now_ms);
    if (left <= 0) {
        return 0;
    }
    return (uint16_t)(((uint32_t)left + 999u) / 1000u);
}

static void fail(tc_session_t *s, uint32_t now_ms, tc_result_t *r, uint8_t status)
{
    r->status = status;
    if (s->fails < 255u) {
        s->fails++;
    }
    r->fails = s->fails;
    if (s->fails >= TC_LOCK_AFTER) {
        uint32_t secs = TC_LOCK_BASE_S;
        uint8_t k;
        for (k = TC_LOCK_AFTER; k < s->fails && secs < TC_LOCK_MAX_S; k++) {
            secs *= 2u;
        }
        if (secs > TC_LOCK_MAX_S) {
            secs = TC_LOCK_MAX_S;
        }
        s->locked = 1;
        s->locked_until_ms = now_ms + secs * 1000u;
        r->seconds = (uint16_t)secs;
    }
}

static uint8_t tid_check(const tc_meter_t *m, uint32_t tid)
{
    uint8_t i;
    uint32_t oldest = 0xFFFFFFFFul;
    uint8_t any = 0;
    if ((uint8_t)(tid >> 16) > m->key.ken) {
        return TC_KEY_EXPIRED;
    }
    for (i = 0; i < TC_TID_SLOTS; i++) {
        if (m->tids[i] == 0) {
            continue;
        }
        any = 1;
        if (m->tids[i] == tid) {
            return TC_USED;
        }
        if (m->tids[i] < oldest) {
            oldest = m->tids[i];
        }
    }
    if (any && tid < oldest) {
        return TC_OLD;
    }
    return TC_ACCEPT;
}

static void tid_record(tc_meter_t *m, uint32_t tid)
{
    uint8_t i;
    uint8_t slot = 0;
    for (i = 0; i < TC_TID_SLOTS; i++) {
        if (m->tids[i] < m->tids[slot]) {
            slot = i;
        }
    }
    m->tids[slot] = tid;
}

static void decrypt(const tc_meter_t *m, uint8_t block[8])
{
    if (m->key.ea == TC_EA11) {
        tc_misty1_ks_t ks;
        uint8_t be[8];
        uint8_t j;
        for (j = 0; j < 8; j++) {
            be[j] = block[7 - j];
        }
        tc_misty1_schedule(&ks, m->key.key);
        tc_misty1_decrypt(&ks, be);
        for (j = 0; j < 8; j++) {
            block[j] = be[7 - j];
        }
    } else {
        tc_ea07_decrypt(block, m->key.key);
    }
}

static void apply_class0(tc_meter_t *m, const uint8_t b[8], tc_result_t *r)
{
    uint8_t sub = tc_block_subclass(b);
    uint32_t amount;
    if (sub > 3) {
        r->status = TC_FUNCTION_ERROR;
        return;
    }
    if (m->key.kt == 1) {
        r->status = TC_DDTK_ERROR;
        return;
    }
    amount = tc_amount_decode(tc_block_amount(b));
    if (m->credit[sub] + amount < m->credit[sub] || m->credit[sub] + amount > 18201624ul * 100ul) {
        r->status = TC_OVERFLOW;
        return;
    }
    m->credit[sub] += amount;
    r->kind = TC_KIND_CREDIT;
    r->service = sub;
    r->value = amount;
    r->status = TC_ACCEPT;
}

static void apply_class2(tc_meter_t *m, const uint8_t b[8], tc_result_t *r)
{
    uint8_t sub = tc_block_subclass(b);
    uint16_t field = tc_block_amount(b);
    r->status = TC_ACCEPT;
    switch (sub) {
    case 0:
        m->mpl_w = tc_amount_decode(field);
        r->kind = TC_KIND_MPL;
        r->value = m->mpl_w;
        break;
    case 1:
        if (field == 0xFFFFu) {
            uint8_t i;
            for (i = 0; i < TC_SERVICES; i++) {
                m->credit[i] = 0;
            }
        } else if (field < TC_SERVICES) {
            m->credit[field] = 0;
        } else {
            r->status = TC_RANGE_ERROR;
            return;
        }
        r->kind = TC_KIND_CLEAR_CREDIT;
        break;
    case 5:
        m->tamper = 0;
        r->kind = TC_KIND_CLEAR_TAMPER;
        break;
    default:
        r->status = TC_FUNCTION_ERROR;
        break;
    }
}

static void key_change(tc_meter_t *m, tc_session_t *s, const uint8_t b[8], uint32_t now_ms, tc_result_t *r)
{
    uint8_t sub = tc_block_subclass(b);
    uint8_t idx = (sub == 3) ? 0 : (sub == 4) ? 1 : (sub == 8) ? 2 : 3;
    uint8_t need = (m->key.ea == TC_EA11) ? 0x0Fu : 0x03u;
    if (s->kct_have != 0 && (uint32_t)(now_ms - s->kct_since_ms) > TC_KCT_TIMEOUT_MS) {
        s->kct_have = 0;
    }
    if (idx >= 2 && m->key.ea != TC_EA11) {
        r->status = TC_FUNCTION_ERROR;
        return;
    }
    if (s->kct_have == 0) {
        s->kct_since_ms = now_ms;
    }
    s->kct_words[idx] = tc_block_word32(b);
    s->kct_fields[idx] = (uint16_t)(((uint16_t)b[7] << 8) | b[6]);
    s->kct_have |= (uint8_t)(1u << idx);
    if ((s->kct_have & need) != need) {
        r->status = (s->kct_have & 1u) ? TC_KCT_2ND_PENDING : TC_KCT_1ST_PENDING;
        return;
    }
    {
        uint16_t f1 = s->kct_fields[0];
        uint16_t f2 = s->kct_fields[1];
        uint8_t kt = (uint8_t)(f1 & 3u);
        uint8_t ro = (uint8_t)((f1 >> 3) & 1u);
        uint32_t w;
        s->kct_have = 0;
        if (kt == 0 && m->key.kt != 0) {
            r->status = TC_KEY_TYPE_ERROR;
            return;
        }
        if (m->key.ea == TC_EA11) {
            uint8_t i;
            const uint8_t order[4] = {0, 2, 3, 1};
            for (i = 0; i < 4; i++) {
                w = s->kct_words[order[i]];
                m->key.key[4 * i] = (uint8_t)(w >> 24);
                m->key.key[4 * i + 1] = (uint8_t)(w >> 16);
                m->key.key[4 * i + 2] = (uint8_t)(w >> 8);
                m->key.key[4 * i + 3] = (uint8_t)w;
            }
            m->key.sgc = ((uint32_t)(s->kct_fields[3] & 0x0FFFu) << 12) | (s->kct_fields[2] & 0x0FFFu);
        } else {
            uint8_t i;
            for (i = 0; i < 4; i++) {
                m->key.key[i] = (uint8_t)(s->kct_words[1] >> (8 * i));
                m->key.key[4 + i] = (uint8_t)(s->kct_words[0] >> (8 * i));
            }
        }
        m->key.kt = kt;
        m->key.krn = (uint8_t)((f1 >> 4) & 0x0Fu);
        m->key.ken = (uint8_t)(((f1 >> 8) & 0x0Fu) << 4 | ((f2 >> 8) & 0x0Fu));
        m->key.ti = (uint8_t)f2;
        if (ro) {
            uint8_t i;
            for (i = 0; i < TC_TID_SLOTS; i++) {
                m->tids[i] = 0;
            }
        }
        r->status = TC_ACCEPT;
        r->kind = TC_KIND_KEY_CHANGE;
    }
}

void tc_enter_token(tc_meter_t *m, tc_session_t *s, const char *digits, uint8_t n, uint32_t now_ms,
                    tc_result_t *r)
{
    tc_u66_t t;
    uint8_t b[8];
    uint8_t cls;
    r->status = TC_FORMAT_ERROR;
    r->kind = TC_KIND_NONE;
    r->service = 0;
    r->value = 0;
    r->seconds = 0;
    r->fails = 0;
    if (n != TC_TOKEN_DIGITS) {
        fail(s, now_ms, r, TC_FORMAT_ERROR);
        return;
    }
    {
        char buf[TC_TOKEN_DIGITS + 1];
        uint8_t i;
        for (i = 0; i < TC_TOKEN_DIGITS; i++) {
            buf[i] = digits[i];
        }
        buf[TC_TOKEN_DIGITS] = '\0';
        if (tc_digits_to_u66(buf, &t) != 0) {
            fail(s, now_ms, r, TC_FORMAT_ERROR);
            return;
        }
    }
    cls = tc_untranspose(&t, b);
    if (cls != 1 && tc_locked_seconds(s, now_ms) != 0) {
        r->status = TC_LOCKED;
        r->seconds = tc_locked_seconds(s, now_ms);
        return;
    }
    if (cls == 1) {
        uint8_t sub = tc_block_subclass(b);
        uint16_t code;
        if (!tc_block_crc_ok(cls, b)) {
            fail(s, now_ms, r, TC_CRC_ERROR);
            return;
        }
        code = (sub == 0) ? b[2] : tc_block_amount(b);
        if (sub > 1) {
            r->status = TC_FUNCTION_ERROR;
        } else if ((sub == 0) != (m->mfr_digits == 2) || code != m->mfr_code) {
            r->status = TC_MFR_CODE_ERROR;
        } else {
            r->status = TC_ACCEPT;
            r->kind = TC_KIND_OTHER;
        }
        return;
    }
    decrypt(m, b);
    if (cls == 3 || !tc_block_crc_ok(cls, b)) {
        fail(s, now_ms, r, TC_CRC_ERROR);
        return;
    }
    {
        uint8_t sub = tc_block_subclass(b);
        if (cls == 2 && (sub == 3 || sub == 4 || sub == 8 || sub == 9)) {
            key_change(m, s, b, now_ms, r);
        } else {
            uint32_t tid = tc_block_tid(b);
            r->status = tid_check(m, tid);
            if (r->status != TC_ACCEPT) {
                return;
            }
            if (cls == 0) {
                apply_class0(m, b, r);
            } else {
                apply_class2(m, b, r);
            }
            if (r->status == TC_ACCEPT) {
                tid_record(m, tid);
            }
        }
    }
    if (r->status == TC_ACCEPT) {
        s->fails = 0;
        s->locked = 0;
    }
}
