/* The meter application: everything between the token core (core/tc_*) and the hardware (hal/).
 * Portable C: it talks to the board only through hal.h. */
#ifndef APP_H
#define APP_H

#include <stdint.h>

#include "hal.h"
#include "tc_decoder.h"
#include "tc_pgm.h"

/* Constant texts stay in flash on the AVR: APP_P("...") with the *_p / *_pstr functions. */
#ifdef __AVR__
#define APP_P(s) PSTR(s)
#else
#define APP_P(s) (s)
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define APP_FW               "nguvu-uno/0.1"
#define APP_ENTRY_MAX        20
#define APP_LINE_MAX         64
#define APP_SCREEN_MS        5000u
#define APP_ENTRY_TIMEOUT_MS 20000u
#define APP_MPL_RETRY_MS     60000u
#define APP_LOW_CREDIT_WH    2000u /* 2.0 kWh, compared with the Wh register as the emulator does */
#define APP_WH_PER_TENTH     100u
#define APP_PZEM_PERIOD_MS   1000u
#define APP_SAVE_EVERY_WH    1000u /* consumption alone is written back once per 1.0 kWh */

/* The image's variant: the encryption algorithm it decrypts (the Makefile sets TC_ONLY_EA). */
#ifdef TC_ONLY_EA
#define APP_EA TC_ONLY_EA
#else
#define APP_EA 7
#endif
/* The manufacturer code an unprovisioned meter checks Class 1 test tokens against (once provisioned,
 * the PAN's code is used, as tokencore does). */
#ifndef APP_MFR_CODE
#define APP_MFR_CODE 0
#endif

/* Provisioning state: a meter with no valid EEPROM record has no key and refuses every token but the
 * Class 1 test tokens until its identity and key are written (docs/firmware.md). */
enum { APP_PROV_OK = 0, APP_PROV_NEEDED, APP_PROV_WRONG_EA };

/* Relay-open reasons, in priority order. */
enum { APP_OPEN_NONE = 0, APP_OPEN_CREDIT, APP_OPEN_MPL, APP_OPEN_TAMPER };

/* Everything kept in EEPROM (one generation). */
typedef struct {
    tc_state_t meter;       /* the decoder state (credit in Wh, TID memory, key, lockout, pending KCT) */
    uint64_t clock_ms;      /* meter clock at the save: it continues from here after a power cut */
    uint32_t energy_ref_wh; /* sensor energy at which the credit register was exact */
    char pan[18];           /* identity, set by provisioning; a key change never alters it */
    uint8_t base_date;      /* 93, 14 or 35 (INFO bd=) */
    uint8_t energy_ref_valid;
} app_persist_t;

/* What a token did, as the display and the protocol report it (meter_emulator.decoding.TokenOutcome). */
enum {
    APP_K_NONE = 0,
    APP_K_CREDIT,
    APP_K_MPL,
    APP_K_CLEAR_CREDIT,
    APP_K_CLEAR_TAMPER,
    APP_K_KEY_CHANGE,
    APP_K_OTHER
};
typedef struct {
    uint32_t amount; /* credit: tenths of a kWh; MPL: watts */
    uint16_t seconds;
    uint16_t fails;
    uint8_t outcome; /* tc_status_t */
    uint8_t kind;    /* APP_K_* */
} app_outcome_t;

typedef struct {
    app_persist_t p;
    uint64_t clock_base; /* meter clock at power-up */
    uint32_t last_millis;
    uint16_t millis_wraps;
    /* sensor */
    hal_pzem_t pzem;
    uint8_t pzem_ok;
    uint32_t pzem_last_ms;
    /* relay */
    uint8_t relay_closed;
    uint8_t open_reason;
    uint32_t mpl_trip_ms;
    uint8_t mpl_tripped;
    uint8_t low_reported;
    uint32_t saved_credit; /* credit register (Wh) at the last EEPROM write */
    /* keypad entry and screens */
    char entry[APP_ENTRY_MAX];
    uint8_t entry_len;
    uint32_t entry_ms;
    uint8_t screen;        /* APP_SCREEN_* */
    uint32_t screen_until; /* for result and short-code screens */
    char msg1[17];
    char msg2[17];
    char last_result[17]; /* line 1 of the last token result, for short code 03 */
    uint8_t d_toggle;
    /* serial line */
    char line[APP_LINE_MAX + 1];
    uint8_t line_len;
    uint8_t line_flags;
    /* provisioning */
    uint8_t prov;    /* APP_PROV_* */
    uint8_t prov_id; /* PROVISION ID received: identity held in p, waiting for PROVISION KEY */
} app_t;

enum { APP_SCREEN_IDLE = 0, APP_SCREEN_ENTRY, APP_SCREEN_MSG };

extern app_t g_app;

void app_setup(void);
void app_loop(void);

/* app.c */
/* Decodes a token, saves the new state, shows the result. Returns APP_APPLIED, APP_STORAGE_FAILED
 * (nothing applied) or APP_NO_KEY (unprovisioned meter, not a Class 1 token: nothing decoded). */
enum { APP_STORAGE_FAILED = 0, APP_APPLIED = 1, APP_NO_KEY = 2 };
uint8_t app_apply_token(const char *digits, uint8_t n, app_outcome_t *r);
uint8_t app_save_now(void);
uint64_t app_clock(void);
uint16_t app_locked_seconds(void);
uint32_t app_credit_tenths(void);
void app_update_relay(uint32_t now);

/* app_store.c: two generations with a CRC; returns 1 when a stored record was found. */
uint8_t app_store_load(app_persist_t *p);
uint8_t app_store_save(const app_persist_t *p);

/* app_provision.c */
void app_provision_blank(app_persist_t *p);
uint8_t app_is_class1(const char *digits, uint8_t n);
void app_provision_request(const char *arg);
const char *app_provision_word(void); /* "needed" / "wrong_variant" (flash), NULL when provisioned */

/* app_ui.c */
/* One key press: 0 = no token submitted, 1 = a token was decoded into *r, 2 = storage failed,
 * 3 = refused: no key. */
uint8_t app_ui_key(char key, app_outcome_t *r);
void app_ui_show_result(const app_outcome_t *r);
void app_ui_show_no_key(void);
void app_ui_render(uint32_t now);
void app_ui_lcd_lines(char l1[17], char l2[17], uint32_t now);

/* app_proto.c */
void app_proto_byte(uint8_t c);
void app_proto_result_fields(const app_outcome_t *r);
void app_event_token(const app_outcome_t *r);

/* app_fmt.c: small number formatters (no printf on the AVR). Each returns the end of the text. */
char *app_fmt_u32(char *out, uint32_t v);
char *app_fmt_fixed(char *out, uint32_t v, uint8_t decimals);
char *app_fmt_str(char *out, const char *s);
char *app_fmt_pstr(char *out, const char *flash_s);
void app_pad(char *line, uint8_t len);
void app_send(const char *s);
void app_send_p(const char *flash_s);

#ifdef __cplusplus
}
#endif

#endif
