/* The UART line protocol of docs/serial-protocol.md (version 1): framing, requests, replies. */
#include <string.h>

#include "app.h"
#include "tc_pgm.h"

#define LF_TOO_LONG 1u
#define LF_BAD_CHAR 2u

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* Case-insensitive keyword match; returns the argument (spaces skipped) or NULL. */
static const char *keyword(const char *line, const char *kw)
{
    char c;
    while ((c = (char)TC_RD8(kw)) != '\0') {
        if (lower(*line) != c) {
            return NULL;
        }
        line++;
        kw++;
    }
    if (*line != '\0' && *line != ' ') {
        return NULL;
    }
    while (*line == ' ') {
        line++;
    }
    return line;
}

static void send_status_name(uint8_t status)
{
    app_send_p(tc_status_name(status));
}

/* The fields after the outcome word (protocol 3.1), with a leading space each. */
void app_proto_result_fields(const app_outcome_t *r)
{
    char buf[40];
    char *p = buf;
    buf[0] = '\0';
    if (r->outcome == TC_LOCKED) {
        p = app_fmt_pstr(p, APP_P(" seconds="));
        app_fmt_u32(p, r->seconds);
    } else if (r->outcome == TC_ACCEPT) {
        const tc_key_t *k = &g_app.p.meter.key;
        switch (r->kind) {
        case APP_K_CREDIT:
            p = app_fmt_pstr(p, APP_P(" amount="));
            p = app_fmt_fixed(p, r->amount, 1);
            break;
        case APP_K_MPL:
            p = app_fmt_pstr(p, APP_P(" mpl="));
            p = app_fmt_u32(p, r->amount);
            break;
        case APP_K_CLEAR_TAMPER:
            p = app_fmt_pstr(p, APP_P(" tamper=0"));
            break;
        case APP_K_KEY_CHANGE:
            p = app_fmt_pstr(p, APP_P(" krn="));
            p = app_fmt_u32(p, k->krn);
            p = app_fmt_pstr(p, APP_P(" ti="));
            *p++ = (char)('0' + k->ti / 10u);
            *p++ = (char)('0' + k->ti % 10u);
            p = app_fmt_pstr(p, APP_P(" kt="));
            p = app_fmt_u32(p, k->kt);
            p = app_fmt_pstr(p, APP_P(" ken="));
            p = app_fmt_u32(p, k->ken);
            break;
        default:
            break;
        }
        p = app_fmt_pstr(p, APP_P(" credit="));
        app_fmt_fixed(p, app_credit_tenths(), 1);
    } else {
        if (r->fails != 0) {
            p = app_fmt_pstr(p, APP_P(" fails="));
            p = app_fmt_u32(p, r->fails);
        }
        if (r->seconds != 0) {
            p = app_fmt_pstr(p, APP_P(" seconds="));
            app_fmt_u32(p, r->seconds);
        }
    }
    app_send(buf);
}

static void send_result(const app_outcome_t *r, uint8_t how)
{
    if (how != APP_APPLIED) {
        app_send_p(how == APP_NO_KEY ? APP_P("ERROR no_key\n") : APP_P("ERROR storage\n"));
        return;
    }
    app_send_p(APP_P("RESULT "));
    send_status_name(r->outcome);
    app_proto_result_fields(r);
    app_send_p(APP_P("\n"));
}

void app_event_token(const app_outcome_t *r)
{
    app_send_p(APP_P("EVENT token "));
    send_status_name(r->outcome);
    app_proto_result_fields(r);
    app_send_p(APP_P("\n"));
}

static void req_token(const char *arg)
{
    char digits[APP_ENTRY_MAX];
    uint8_t n = 0;
    uint8_t overflow = 0;
    app_outcome_t r;
    uint8_t ok;
    if (*arg == '\0') {
        app_send_p(APP_P("ERROR bad_argument\n"));
        return;
    }
    for (; *arg != '\0'; arg++) {
        if (*arg >= '0' && *arg <= '9') {
            if (n < APP_ENTRY_MAX) {
                digits[n++] = *arg;
            } else {
                overflow = 1;
            }
        } else if (*arg != ' ' && *arg != '-') {
            app_send_p(APP_P("ERROR bad_argument\n"));
            return;
        }
    }
    if (n == 0) {
        app_send_p(APP_P("ERROR bad_argument\n"));
        return;
    }
    g_app.entry_len = 0; /* the keypad entry in progress is discarded */
    ok = app_apply_token(digits, overflow ? (uint8_t)(APP_ENTRY_MAX + 1) : n, &r);
    send_result(&r, ok);
}

static void req_key(const char *arg)
{
    static const char KEYS[] TC_PROGMEM = "0123456789*#ABCD";
    app_outcome_t r;
    uint8_t submitted;
    uint8_t i;
    char k = arg[0];
    uint8_t known = 0;
    for (i = 0; i < 16; i++) {
        if ((char)TC_RD8(&KEYS[i]) == k) {
            known = 1;
        }
    }
    if (k >= 'a' && k <= 'd') {
        k = (char)(k - 32);
        known = 1;
    }
    if (!known || arg[1] != '\0') {
        app_send_p(APP_P("ERROR bad_argument\n"));
        return;
    }
    submitted = app_ui_key(k, &r);
    if (submitted) {
        send_result(&r, submitted == 1 ? APP_APPLIED : submitted == 3 ? APP_NO_KEY : APP_STORAGE_FAILED);
    } else {
        app_send_p(APP_P("OK\n"));
    }
}

/* " provision=needed" (or wrong_variant) while the meter has no usable key; nothing once provisioned. */
static void send_provision_field(void)
{
    if (g_app.prov != APP_PROV_OK) {
        app_send_p(APP_P(" provision="));
        app_send_p(app_provision_word());
    }
}

static void req_status(void)
{
    char buf[24];
    const tc_state_t *m = &g_app.p.meter;
    uint32_t credit = app_credit_tenths();
    app_send_p(APP_P("STATUS credit="));
    app_fmt_fixed(buf, credit, 1);
    app_send(buf);
    app_send_p(g_app.relay_closed ? APP_P(" relay=on power=") : APP_P(" relay=off power="));
    app_fmt_u32(buf, (g_app.pzem.power_dw + 5u) / 10u);
    app_send(buf);
    app_send_p(APP_P(" voltage="));
    app_fmt_fixed(buf, g_app.pzem.voltage_dv, 1);
    app_send(buf);
    app_send_p(APP_P(" current="));
    app_fmt_fixed(buf, g_app.pzem.current_ma, 3);
    app_send(buf);
    app_send_p(APP_P(" energy="));
    app_fmt_fixed(buf, g_app.pzem.energy_wh, 3);
    app_send(buf);
    app_send_p(m->tamper ? APP_P(" tamper=1 locked=") : APP_P(" tamper=0 locked="));
    app_fmt_u32(buf, app_locked_seconds());
    app_send(buf);
    app_send_p(APP_P(" mpl="));
    app_fmt_u32(buf, (m->has & TC_HAS_MPL) ? m->mpl_watts : 0);
    app_send(buf);
    app_send_p(m->registers[0] <= APP_LOW_CREDIT_WH ? APP_P(" low=1 pf=") : APP_P(" low=0 pf="));
    app_fmt_fixed(buf, g_app.pzem.pf_centi, 2);
    app_send(buf);
    send_provision_field();
    app_send_p(APP_P("\n"));
}

static void send_2d(const char *name, uint32_t v, uint8_t width)
{
    char buf[12];
    char *e = app_fmt_u32(buf, v);
    uint8_t n = (uint8_t)(e - buf);
    app_send_p(name);
    while (n++ < width) {
        app_send_p(APP_P("0"));
    }
    app_send(buf);
}

static void req_info(void)
{
    const tc_key_t *k = &g_app.p.meter.key;
    char buf[20];
    uint8_t skip = (memcmp(g_app.p.pan, "0000", 4) == 0) ? 4 : 6;
    if (g_app.prov == APP_PROV_NEEDED) {
        app_send_p(APP_P("INFO provision=needed fw=" APP_FW "\n"));
        return;
    }
    app_send_p(APP_P("INFO pan="));
    memcpy(buf, g_app.p.pan, 18);
    buf[18] = '\0';
    app_send(buf);
    app_send_p(APP_P(" drn="));
    memcpy(buf, g_app.p.pan + skip, (size_t)(17 - skip));
    buf[17 - skip] = '\0';
    app_send(buf);
    send_2d(APP_P(" sgc="), k->sgc, 6);
    send_2d(APP_P(" ti="), k->ti, 2);
    send_2d(APP_P(" krn="), k->krn, 1);
    send_2d(APP_P(" kt="), k->kt, 1);
    send_2d(APP_P(" ken="), k->ken, 1);
    send_2d(APP_P(" ea="), k->ea, 2);
    send_2d(APP_P(" bd="), g_app.p.base_date == 93 ? 1993u : 2000u + g_app.p.base_date, 4);
    app_send_p(APP_P(" fw=" APP_FW));
    send_provision_field();
    app_send_p(APP_P("\n"));
}

static void req_lcd(void)
{
    char l1[17];
    char l2[17];
    app_ui_lcd_lines(l1, l2, hal_millis());
    app_send_p(APP_P("LCD |"));
    app_send(l1);
    app_send_p(APP_P("|"));
    app_send(l2);
    app_send_p(APP_P("|\n"));
}

static void dispatch(char *line)
{
    const char *arg;
    uint8_t n = (uint8_t)strlen(line);
    while (n != 0 && line[n - 1] == ' ') {
        line[--n] = '\0';
    }
    while (*line == ' ') {
        line++;
    }
    if (*line == '\0') {
        return; /* empty lines get no reply (resync rule) */
    }
    if ((arg = keyword(line, APP_P("token"))) != NULL) {
        req_token(arg);
    } else if ((arg = keyword(line, APP_P("key"))) != NULL) {
        req_key(arg);
    } else if ((arg = keyword(line, APP_P("status"))) != NULL) {
        if (*arg) {
            app_send_p(APP_P("ERROR bad_argument\n"));
        } else {
            req_status();
        }
    } else if ((arg = keyword(line, APP_P("info"))) != NULL) {
        if (*arg) {
            app_send_p(APP_P("ERROR bad_argument\n"));
        } else {
            req_info();
        }
    } else if ((arg = keyword(line, APP_P("provision"))) != NULL) {
        app_provision_request(arg);
    } else if ((arg = keyword(line, APP_P("lcd"))) != NULL) {
        if (*arg) {
            app_send_p(APP_P("ERROR bad_argument\n"));
        } else {
            req_lcd();
        }
    } else {
        app_send_p(APP_P("ERROR unknown_command\n"));
    }
}

void app_proto_byte(uint8_t c)
{
    if (c == '\r') {
        return;
    }
    if (c == '\n') {
        uint8_t flags = g_app.line_flags;
        g_app.line[g_app.line_len] = '\0';
        g_app.line_len = 0;
        g_app.line_flags = 0;
        if (flags & LF_TOO_LONG) {
            app_send_p(APP_P("ERROR too_long\n"));
        } else if (flags & LF_BAD_CHAR) {
            app_send_p(APP_P("ERROR bad_char\n"));
        } else {
            dispatch(g_app.line);
        }
        return;
    }
    if (c < 0x20 || c > 0x7E) {
        g_app.line_flags |= LF_BAD_CHAR;
    }
    if (g_app.line_len >= APP_LINE_MAX) {
        g_app.line_flags |= LF_TOO_LONG;
        return;
    }
    g_app.line[g_app.line_len++] = (char)c;
}
