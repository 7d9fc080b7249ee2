/* Keypad entry, short codes and the 16x2 texts of docs/serial-protocol.md sections 4 and 8. */
#include <string.h>

#include "app.h"
#include "tc_pgm.h"

/* Line 1 of each outcome (protocol 8.3), indexed by tc_status_t. */
static const char T_ACCEPT[] TC_PROGMEM = "Accept";
static const char T_CRC[] TC_PROGMEM = "Reject";
static const char T_USED[] TC_PROGMEM = "Used";
static const char T_OLD[] TC_PROGMEM = "Old";
static const char T_EXPIRED[] TC_PROGMEM = "Expired";
static const char T_OVERFLOW[] TC_PROGMEM = "Overflow";
static const char T_FORMAT[] TC_PROGMEM = "Format error";
static const char T_FUNCTION[] TC_PROGMEM = "Function error";
static const char T_RANGE[] TC_PROGMEM = "Range error";
static const char T_KEYTYPE[] TC_PROGMEM = "Key type error";
static const char T_DDTK[] TC_PROGMEM = "DDTK error";
static const char T_MFR[] TC_PROGMEM = "Mfr code error";
static const char T_LOCK[] TC_PROGMEM = "LOCK ";
static const char T_KCT1[] TC_PROGMEM = "PLS 1St";
static const char T_KCT2[] TC_PROGMEM = "PLS 2nd";
static const char T_KCT3[] TC_PROGMEM = "PLS 3rd";
static const char T_KCT4[] TC_PROGMEM = "PLS 4th";
static const char *const OUTCOME_TEXT[TC_STATUS_COUNT] TC_PROGMEM = {
    T_ACCEPT,  T_CRC,  T_USED, T_OLD,  T_EXPIRED, T_OVERFLOW, T_FORMAT, T_FUNCTION, T_RANGE,
    T_KEYTYPE, T_DDTK, T_MFR,  T_LOCK, T_KCT1,    T_KCT2,     T_KCT3,   T_KCT4,
};

static char *fmt_kwh_tenths(char *out, uint32_t tenths)
{
    return app_fmt_fixed(out, tenths, 1);
}

static void show(const char *l1, const char *l2)
{
    strncpy(g_app.msg1, l1, 16);
    g_app.msg1[16] = '\0';
    strncpy(g_app.msg2, l2, 16);
    g_app.msg2[16] = '\0';
    g_app.screen = APP_SCREEN_MSG;
    g_app.screen_until = hal_millis() + APP_SCREEN_MS;
}

void app_ui_show_result(const app_outcome_t *r)
{
    char l1[17];
    char l2[17];
    char *p = app_fmt_pstr(
        l1, TC_RDPTR(&OUTCOME_TEXT[r->outcome < TC_STATUS_COUNT ? r->outcome : TC_FORMAT_ERROR]));
    l2[0] = '\0';
    if (r->outcome == TC_LOCKED) {
        app_fmt_u32(p, r->seconds);
    } else if (r->outcome == TC_ACCEPT) {
        switch (r->kind) {
        case APP_K_CREDIT:
            p = app_fmt_pstr(l2, APP_P("+"));
            p = fmt_kwh_tenths(p, r->amount);
            app_fmt_pstr(p, APP_P(" kWh"));
            break;
        case APP_K_MPL:
            p = app_fmt_pstr(l2, APP_P("Limit "));
            p = app_fmt_u32(p, r->amount);
            app_fmt_pstr(p, APP_P(" W"));
            break;
        case APP_K_CLEAR_CREDIT:
            app_fmt_pstr(l2, APP_P("Credit cleared"));
            break;
        case APP_K_CLEAR_TAMPER:
            app_fmt_pstr(l2, APP_P("Tamper cleared"));
            break;
        case APP_K_KEY_CHANGE:
            app_fmt_pstr(l2, APP_P("Key changed"));
            break;
        default:
            break;
        }
    }
    memcpy(g_app.last_result, l1, sizeof l1);
    show(l1, l2);
}

void app_ui_show_no_key(void)
{
    char l1[17];
    char l2[17];
    app_fmt_pstr(l1, APP_P("NO KEY"));
    app_fmt_pstr(l2, APP_P("Provision meter"));
    memcpy(g_app.last_result, l1, sizeof l1);
    show(l1, l2);
}

static void short_code(uint8_t code)
{
    char l1[17];
    char l2[17];
    char *p;
    const tc_key_t *k = &g_app.p.meter.key;
    l1[0] = '\0';
    l2[0] = '\0';
    if ((code == 4 || code == 5) && g_app.prov == APP_PROV_NEEDED) {
        code = 0xFF; /* no meter number or key yet */
    }
    switch (code) {
    case 1:
        app_fmt_pstr(l1, APP_P("Credit"));
        p = fmt_kwh_tenths(l2, app_credit_tenths());
        app_fmt_pstr(p, APP_P(" kWh"));
        break;
    case 2:
        p = app_fmt_pstr(l1, APP_P("Power "));
        p = app_fmt_u32(p, (g_app.pzem.power_dw + 5u) / 10u);
        app_fmt_pstr(p, APP_P(" W"));
        p = app_fmt_fixed(l2, g_app.pzem.voltage_dv, 1);
        p = app_fmt_pstr(p, APP_P("V "));
        p = app_fmt_fixed(p, g_app.pzem.current_ma, 3);
        app_fmt_pstr(p, APP_P("A"));
        break;
    case 3:
        app_fmt_pstr(l1, APP_P("Last token"));
        if (g_app.last_result[0]) {
            app_fmt_str(l2, g_app.last_result);
        } else {
            app_fmt_pstr(l2, APP_P("None"));
        }
        break;
    case 4: {
        /* The DRN is the PAN without its IIN and final check digit. */
        uint8_t skip = (memcmp(g_app.p.pan, "0000", 4) == 0) ? 4 : 6;
        memcpy(l1, g_app.p.pan + skip, (size_t)(17 - skip));
        l1[17 - skip] = '\0';
        p = app_fmt_pstr(l2, APP_P("SGC "));
        {
            char sgc[8];
            char *e = app_fmt_u32(sgc, k->sgc);
            uint8_t n = (uint8_t)(e - sgc);
            while (n++ < 6) {
                *p++ = '0';
            }
            app_fmt_str(p, sgc);
        }
        break;
    }
    case 5:
        p = app_fmt_pstr(l1, APP_P("KRN "));
        p = app_fmt_u32(p, k->krn);
        p = app_fmt_pstr(p, APP_P(" TI "));
        *p++ = (char)('0' + k->ti / 10u);
        *p++ = (char)('0' + k->ti % 10u);
        *p = '\0';
        p = app_fmt_pstr(l2, APP_P("KEN "));
        p = app_fmt_u32(p, k->ken);
        p = app_fmt_pstr(p, APP_P(" KT "));
        app_fmt_u32(p, k->kt);
        break;
    case 6:
        app_fmt_pstr(l1, APP_P("Energy"));
        p = app_fmt_fixed(l2, g_app.pzem.energy_wh, 3);
        app_fmt_pstr(p, APP_P(" kWh"));
        break;
    case 0xFF:
        app_fmt_pstr(l1, APP_P("NO KEY"));
        app_fmt_pstr(l2, APP_P("Provision meter"));
        break;
    default:
        app_fmt_pstr(l1, APP_P("Unknown code"));
        break;
    }
    show(l1, l2);
}

uint8_t app_ui_key(char key, app_outcome_t *r)
{
    uint32_t now = hal_millis();
    uint8_t submitted = 0;
    if (g_app.entry_len != 0 && (uint32_t)(now - g_app.entry_ms) > APP_ENTRY_TIMEOUT_MS) {
        g_app.entry_len = 0;
    }
    /* Any key ends a result or short-code screen. */
    g_app.screen = APP_SCREEN_IDLE;
    g_app.entry_ms = now;
    if (key >= '0' && key <= '9') {
        if (g_app.entry_len < APP_ENTRY_MAX) {
            g_app.entry[g_app.entry_len++] = key;
        }
    } else if (key == '*') {
        if (g_app.entry_len != 0) {
            g_app.entry_len--;
        }
    } else if (key == '#') {
        uint8_t n = g_app.entry_len;
        g_app.entry_len = 0;
        if (n == 2) {
            short_code((uint8_t)((g_app.entry[0] - '0') * 10 + (g_app.entry[1] - '0')));
        } else if (n != 0) {
            uint8_t how = app_apply_token(g_app.entry, n, r);
            submitted = how == APP_APPLIED ? 1 : how == APP_NO_KEY ? 3 : 2;
        }
    } else if (key == 'A' || key == 'B' || key == 'C') {
        g_app.entry_len = 0;
        short_code((uint8_t)(key - 'A' + 1));
    } else if (key == 'D') {
        g_app.entry_len = 0;
        short_code(g_app.d_toggle ? 5 : 4);
        g_app.d_toggle ^= 1u;
    }
    return submitted;
}

static void idle_lines(char l1[17], char l2[17])
{
    uint32_t credit = app_credit_tenths();
    uint16_t locked = app_locked_seconds();
    char num[12];
    char *e;
    uint8_t n;
    uint8_t i;
    const char *word;
    if (g_app.prov != APP_PROV_OK) {
        app_fmt_pstr(l1, APP_P("NO KEY"));
    } else if (locked != 0) {
        e = app_fmt_pstr(l1, APP_P("LOCK "));
        app_fmt_u32(e, locked);
    } else {
        /* "Cr" + credit right-aligned in 11 + "kWh" */
        e = fmt_kwh_tenths(num, credit);
        n = (uint8_t)(e - num);
        l1[0] = 'C';
        l1[1] = 'r';
        for (i = 0; i < 11; i++) {
            l1[2 + i] = (i + n >= 11) ? num[i + n - 11] : ' ';
        }
        app_fmt_pstr(l1 + 13, APP_P("kWh"));
    }
    if (g_app.relay_closed) {
        word = (g_app.p.meter.registers[0] <= APP_LOW_CREDIT_WH) ? APP_P("LOW CREDIT") : APP_P("Relay ON");
    } else if (g_app.open_reason == APP_OPEN_TAMPER) {
        word = APP_P("OFF Tamper");
    } else if (g_app.open_reason == APP_OPEN_MPL) {
        word = APP_P("OFF Limit");
    } else {
        word = APP_P("OFF NoCred");
    }
    app_fmt_pstr(l2, word);
    app_pad(l2, 16);
    e = app_fmt_u32(num, (g_app.pzem.power_dw + 5u) / 10u);
    n = (uint8_t)(e - num);
    if (n > 5) {
        n = 5;
    }
    memcpy(l2 + 15 - n, num, n);
    l2[15] = 'W';
    l2[16] = '\0';
}

void app_ui_lcd_lines(char l1[17], char l2[17], uint32_t now)
{
    uint8_t i;
    if (g_app.entry_len != 0 && (uint32_t)(now - g_app.entry_ms) > APP_ENTRY_TIMEOUT_MS) {
        g_app.entry_len = 0;
    }
    if (g_app.screen == APP_SCREEN_MSG && (int32_t)(now - g_app.screen_until) >= 0) {
        g_app.screen = APP_SCREEN_IDLE;
    }
    memset(l1, 0, 17);
    memset(l2, 0, 17);
    if (g_app.entry_len != 0) {
        /* "Token" + count right-aligned in 8 + "/20"; line 2: the last 16 digits. */
        char *e = app_fmt_pstr(l1, APP_P("Token        "));
        uint8_t n = g_app.entry_len;
        if (n >= 10) {
            e[-2] = (char)('0' + n / 10u);
        }
        e[-1] = (char)('0' + n % 10u);
        app_fmt_pstr(e, APP_P("/20"));
        i = (n > 16) ? (uint8_t)(n - 16) : 0;
        memcpy(l2, g_app.entry + i, (size_t)(n - i));
    } else if (g_app.screen == APP_SCREEN_MSG) {
        memcpy(l1, g_app.msg1, 17);
        memcpy(l2, g_app.msg2, 17);
    } else {
        idle_lines(l1, l2);
    }
    app_pad(l1, 16);
    app_pad(l2, 16);
    l1[16] = '\0';
    l2[16] = '\0';
}

void app_ui_render(uint32_t now)
{
    static uint32_t last;
    char l1[17];
    char l2[17];
    if ((uint32_t)(now - last) < 50u) {
        return;
    }
    last = now;
    app_ui_lcd_lines(l1, l2, now);
    hal_lcd_show(l1, l2);
}
