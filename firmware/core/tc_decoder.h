/* The meter-side token state machine: a rule-for-rule port of tokencore's Python decoder
 * (tokencore/decoder/machine.py) with the same outcome vocabulary. The caller owns the state; nothing
 * here allocates, reads a clock or does I/O. `now_ms` is the meter's own clock, as in Python.
 *
 * Differences of representation only (the tests compare the two through these mappings):
 * - Python's optional ints (mpl_watts ...) are a value plus a bit in `has`.
 * - The TID memory holds `config.tid_memory_size` (<= TC_TID_MAX) entries in no particular order.
 * - Key bytes are the DecoderKey material (EA07: 8 bytes, the 64-bit key big-endian; EA11: 16 bytes). */
#ifndef TC_DECODER_H
#define TC_DECODER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef TC_TID_MAX
#define TC_TID_MAX 20
#endif
#define TC_REGISTERS   8
#define TC_PENDING_MAX 4

/* Outcomes (tokencore.outcome.Outcome, docs/serial-protocol.md 3.1), in the order of tc_status_name. */
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
    TC_KCT_3RD_PENDING,
    TC_KCT_4TH_PENDING,
    TC_STATUS_COUNT
} tc_status_t;

/* tokencore.blocks.Kind, in the order of tc_kind_name. */
typedef enum {
    TC_KIND_NONE = 0,
    TC_KIND_CREDIT,
    TC_KIND_CURRENCY_CREDIT,
    TC_KIND_TEST,
    TC_KIND_MPL,
    TC_KIND_CLEAR_CREDIT,
    TC_KIND_TARIFF_RATE,
    TC_KIND_KCT_1,
    TC_KIND_KCT_2,
    TC_KIND_CLEAR_TAMPER,
    TC_KIND_MPPUL,
    TC_KIND_WATER_FACTOR,
    TC_KIND_KCT_3,
    TC_KIND_KCT_4,
    TC_KIND_UNDEFINED,
    TC_KIND_COUNT
} tc_kind_t;

typedef enum { TC_EA07 = 7, TC_EA11 = 11 } tc_ea_t;

/* TC_ONLY_EA=7 or 11 builds a decoder with one cipher (each firmware image is one variant: an EA07
 * meter never needs MISTY1, nor an EA11 meter the STA); without it, both are compiled in (host). */
#if defined(TC_ONLY_EA) && TC_ONLY_EA != 7 && TC_ONLY_EA != 11
#error "TC_ONLY_EA must be 7 or 11"
#endif

#define TC_HAS_MPL   0x01u
#define TC_HAS_MPPUL 0x02u
#define TC_HAS_RATE  0x04u
#define TC_HAS_WMF   0x08u

/* tokencore.decoder.MeterConfig */
typedef struct {
    uint32_t kct_timeout_ms;
    uint32_t register_limit;
    uint32_t lockout_base_ms;
    uint32_t lockout_max_ms;
    uint8_t tid_memory_size; /* 1..TC_TID_MAX */
    uint8_t services;        /* bit n: credit subclass n accepted */
    uint8_t lockout_threshold;
} tc_config_t;

/* tokencore.decoder.MeterKey */
typedef struct {
    uint32_t sgc;
    uint8_t key[16];
    uint8_t ea; /* tc_ea_t */
    uint8_t kt;
    uint8_t krn;
    uint8_t ti;
    uint8_t ken;
} tc_key_t;

typedef struct {
    uint64_t received_ms;
    uint8_t block[8]; /* plaintext, CRC checked, least significant byte first */
    uint8_t subclass;
} tc_pending_t;

/* tokencore.decoder.MeterState */
typedef struct {
    uint64_t locked_until_ms;
    uint32_t registers[TC_REGISTERS]; /* 0-3: thousandths of a unit (Wh); 4-7: 1e-5 currency units */
    uint32_t tid_memory[TC_TID_MAX];
    uint32_t mpl_watts;
    uint32_t mppul_watts;
    tc_config_t config;
    tc_key_t key;
    tc_pending_t pending[TC_PENDING_MAX]; /* sorted by subclass */
    uint16_t tariff_rate;
    uint16_t water_factor;
    uint16_t wrong_entries;
    uint16_t mfr_code; /* the PAN's manufacturer code */
    uint8_t has;       /* TC_HAS_* */
    uint8_t tamper;
    uint8_t pending_count;
} tc_state_t;

/* tokencore.decoder.DecodeResult */
typedef struct {
    uint64_t control;
    uint64_t lock_remaining_ms;
    uint32_t amount;
    uint32_t tid;
    uint16_t reg;    /* register filled or cleared (0xFFFF: all) */
    uint8_t outcome; /* tc_status_t */
    uint8_t kind;    /* tc_kind_t; TC_KIND_NONE when no block was read */
    uint8_t token_class;
    uint8_t subclass;
    uint8_t present; /* TC_R_* : which optional fields are set */
    uint8_t changed; /* the state was modified (the host must persist it) */
} tc_result_t;

#define TC_R_BLOCK    0x01u /* kind, token_class, subclass */
#define TC_R_TID      0x02u
#define TC_R_AMOUNT   0x04u
#define TC_R_REGISTER 0x08u
#define TC_R_CONTROL  0x10u

/* The defaults of MeterConfig(). */
void tc_config_default(tc_config_t *config);

/* A fresh meter (new_meter_state): zero registers and TID memory, the given key and configuration.
 * `pan` is the 18-digit PAN (only its manufacturer code is kept). */
void tc_state_init(tc_state_t *state, const char pan[18], const tc_key_t *key, const tc_config_t *config);

/* Processes one entry of `n` characters at meter time `now_ms` (enter_token). */
void tc_enter_token(tc_state_t *state, const char *entry, uint8_t n, uint64_t now_ms, tc_result_t *result);

/* debit(): takes up to `amount` from a register, never below zero; returns what was taken. */
uint32_t tc_debit(tc_state_t *state, uint8_t reg, uint32_t amount);

/* Milliseconds of lockout left at `now_ms`, 0 when token entry is open. */
uint64_t tc_lock_remaining_ms(const tc_state_t *state, uint64_t now_ms);

/* Outcome and kind names (flash pointers on the AVR: read with TC_RD8). */
const char *tc_status_name(uint8_t status);
const char *tc_kind_name(uint8_t kind);

#ifdef __cplusplus
}
#endif

#endif
