/* The meter-side token state machine: the same rules and outcome vocabulary as tokencore's Python
 * decoder (tokencore/decoder.py). The caller owns the state; nothing here allocates or does I/O.
 * Time is the meter's millisecond clock (uint32_t, wrap-safe differences). */
#ifndef TC_DECODER_H
#define TC_DECODER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TC_TID_SLOTS 20
#define TC_SERVICES 4

/* Outcomes: the project's one vocabulary (docs/serial-protocol.md 3.1). Keep the order of
 * TC_STATUS_NAMES in tc_decoder.c in step. */
typedef enum {
    TC_ACCEPT = 0,
    TC_CRC_ERROR,
    TC_USED,
    TC_OLD,
    TC_KEY_EXPIRED,
    TC_OVERFLOW,
    TC_FORMAT_ERROR,
    TC_FUNCTION_ERROR,
    TC_RANGE_ERROR,
    TC_KEY_TYPE_ERROR,
    TC_DDTK_ERROR,
    TC_MFR_CODE_ERROR,
    TC_LOCKED,
    TC_KCT_1ST_PENDING,
    TC_KCT_2ND_PENDING,
    TC_STATUS_COUNT
} tc_status_t;

/* What an accepted token did (selects the reply fields and the LCD text). */
typedef enum {
    TC_KIND_NONE = 0,
    TC_KIND_CREDIT,
    TC_KIND_MPL,
    TC_KIND_CLEAR_CREDIT,
    TC_KIND_CLEAR_TAMPER,
    TC_KIND_KEY_CHANGE,
    TC_KIND_OTHER
} tc_kind_t;

typedef enum { TC_EA07 = 7, TC_EA11 = 11 } tc_ea_t;

typedef struct {
    uint8_t key[16]; /* EA07: key[0..7] little-endian 64-bit integer; EA11: 16 bytes in MISTY1 order */
    uint8_t ea;      /* tc_ea_t */
    uint8_t kt;
    uint8_t krn;
    uint8_t ti;
    uint8_t ken;
    uint8_t base_date; /* 93, 14 or 35 */
    uint32_t sgc;
} tc_key_t;

/* The persistent part of a meter: written to EEPROM on every change. */
typedef struct {
    uint32_t credit[TC_SERVICES]; /* tenths of a unit, per service (electricity, water, gas, time) */
    uint32_t tids[TC_TID_SLOTS];  /* TID memory; unused slots hold 0 */
    uint32_t mpl_w;               /* maximum power limit, 0 = none */
    tc_key_t key;
    uint16_t mfr_code;
    uint8_t mfr_digits; /* 2 or 4 */
    uint8_t tamper;
} tc_meter_t;

/* Volatile decoder context: key-change sections held while the set is incomplete, and the keypad
 * lockout. Lost at power-off, as on CLOU and Xili meters. */
typedef struct {
    uint32_t kct_words[4]; /* NKHO/NK word of sections 1..4 */
    uint16_t kct_fields[4];
    uint8_t kct_have; /* bit n = section n+1 held */
    uint32_t kct_since_ms;
    uint8_t fails;
    uint32_t locked_until_ms;
    uint8_t locked;
} tc_session_t;

typedef struct {
    uint8_t status; /* tc_status_t */
    uint8_t kind;   /* tc_kind_t, for TC_ACCEPT */
    uint8_t service;
    uint32_t value; /* credit: tenths added; MPL: watts */
    uint16_t seconds;
    uint8_t fails;
} tc_result_t;

const char *tc_status_name(uint8_t status);

/* Enters one token. `digits` holds `n` ASCII digits (n != 20 is a format error). The meter is
 * updated in place only for an accepted token or a state change the rules require. */
void tc_enter_token(tc_meter_t *meter, tc_session_t *session, const char *digits, uint8_t n, uint32_t now_ms,
                    tc_result_t *result);

/* Sets the manufacturer code (for Class 1 tokens) from the 18-digit PAN. */
void tc_meter_identity(tc_meter_t *meter, const char pan[18]);

/* Seconds of lockout left (rounded up), 0 when token entry is open. */
uint16_t tc_locked_seconds(const tc_session_t *session, uint32_t now_ms);

#ifdef __cplusplus
}
#endif

#endif
