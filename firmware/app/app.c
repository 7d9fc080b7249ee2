/* The meter main loop: sensor polling and the credit countdown, relay rules, tokens, persistence. */
#include <string.h>

#include "app.h"
#include "provision.h"

app_t g_app;

static void provision_defaults(app_persist_t *p)
{
    static const uint8_t key[16] TC_PROGMEM = PROVISION_KEY;
    static const char pan[19] TC_PROGMEM = PROVISION_PAN;
    uint8_t i;
    memset(p, 0, sizeof *p);
    for (i = 0; i < 16; i++) {
        p->meter.key.key[i] = TC_RD8(&key[i]);
    }
    for (i = 0; i < 18; i++) {
        p->id.pan[i] = (char)TC_RD8(&pan[i]);
    }
    p->meter.key.ea = PROVISION_EA;
    p->meter.key.kt = PROVISION_KT;
    p->meter.key.krn = PROVISION_KRN;
    p->meter.key.ti = PROVISION_TI;
    p->meter.key.ken = PROVISION_KEN;
    p->meter.key.base_date = PROVISION_BD;
    p->meter.key.sgc = PROVISION_SGC;
    tc_meter_identity(&p->meter, p->id.pan);
}

static void save_now(void)
{
    if (app_store_save(&g_app.p)) {
        g_app.saved_credit = g_app.p.meter.credit[0];
    }
}

/* Credit = credit at the reference point minus the energy the sensor counted since. The sensor's
 * energy register survives power cuts, so the pair (credit, energy reference) in EEPROM is exact
 * however rarely it is written: nothing is lost between saves. */
static void account_energy(void)
{
    app_persist_t *p = &g_app.p;
    uint32_t e = g_app.pzem.energy_wh;
    uint32_t tenths;
    if (!p->energy_ref_valid || e < p->energy_ref_wh) {
        p->energy_ref_wh = e; /* first reading, or the sensor was reset/replaced */
        p->energy_ref_valid = 1;
        save_now();
        return;
    }
    tenths = (e - p->energy_ref_wh) / 100u;
    if (tenths == 0) {
        return;
    }
    p->energy_ref_wh += tenths * 100u;
    p->meter.credit[0] = (p->meter.credit[0] > tenths) ? p->meter.credit[0] - tenths : 0;
    if (g_app.saved_credit - p->meter.credit[0] >= APP_SAVE_EVERY_TENTHS ||
        (p->meter.credit[0] == 0 && g_app.saved_credit != 0)) {
        save_now();
    }
}

static void poll_sensor(uint32_t now)
{
    g_app.pzem_last_ms = now;
    if (!hal_pzem_read(&g_app.pzem)) {
        g_app.pzem_ok = 0;
        return;
    }
    g_app.pzem_ok = 1;
    account_energy();
    if (g_app.relay_closed && g_app.p.meter.mpl_w != 0 &&
        g_app.pzem.power_dw > g_app.p.meter.mpl_w * 10u) {
        g_app.mpl_tripped = 1;
        g_app.mpl_trip_ms = now;
    }
}

void app_update_relay(uint32_t now)
{
    const tc_meter_t *m = &g_app.p.meter;
    uint8_t reason = APP_OPEN_NONE;
    uint8_t closed;
    char buf[16];
    if (g_app.mpl_tripped && (uint32_t)(now - g_app.mpl_trip_ms) >= APP_MPL_RETRY_MS) {
        g_app.mpl_tripped = 0; /* retry: close, and trip again if the power is still too high */
    }
    if (m->tamper) {
        reason = APP_OPEN_TAMPER;
    } else if (m->credit[0] == 0) {
        reason = APP_OPEN_CREDIT;
    } else if (g_app.mpl_tripped) {
        reason = APP_OPEN_MPL;
    }
    closed = (uint8_t)(reason == APP_OPEN_NONE);
    g_app.open_reason = reason;
    if (closed != g_app.relay_closed) {
        g_app.relay_closed = closed;
        hal_relay(closed);
        if (closed) {
            app_send_p(APP_P("EVENT relay state=on\n"));
        } else {
            app_send_p(APP_P("EVENT relay state=off reason="));
            app_send_p(reason == APP_OPEN_TAMPER ? APP_P("tamper\n") : reason == APP_OPEN_MPL ? APP_P("mpl\n") : APP_P("credit\n"));
        }
    }
    if (m->credit[0] <= APP_LOW_CREDIT_TENTHS) {
        if (!g_app.low_reported) {
            g_app.low_reported = 1;
            app_send_p(APP_P("EVENT low_credit credit="));
            app_fmt_fixed(buf, m->credit[0], 1);
            app_send(buf);
            app_send_p(APP_P("\n"));
        }
    } else {
        g_app.low_reported = 0;
    }
}

uint8_t app_apply_token(const char *digits, uint8_t n, tc_result_t *r)
{
    tc_meter_t before = g_app.p.meter;
    uint32_t now = hal_millis();
    hal_marker(1);
    tc_enter_token(&g_app.p.meter, &g_app.session, digits, n, now, r);
    hal_marker(0);
    if (memcmp(&before, &g_app.p.meter, sizeof before) != 0) {
        /* The new state is on EEPROM before anything is shown or replied. */
        if (!app_store_save(&g_app.p)) {
            g_app.p.meter = before;
            return 0;
        }
        g_app.saved_credit = g_app.p.meter.credit[0];
    }
    if (r->status == TC_ACCEPT && r->kind == TC_KIND_MPL) {
        g_app.mpl_tripped = 0;
    }
    app_ui_show_result(r);
    app_update_relay(now);
    return 1;
}

void app_setup(void)
{
    uint32_t now;
    hal_init();
    if (!app_store_load(&g_app.p)) {
        provision_defaults(&g_app.p);
        app_store_save(&g_app.p);
    }
    g_app.saved_credit = g_app.p.meter.credit[0];
    /* Power-up: the relay takes its state silently (events report changes only). */
    g_app.relay_closed = (uint8_t)(!g_app.p.meter.tamper && g_app.p.meter.credit[0] != 0);
    g_app.low_reported = (uint8_t)(g_app.p.meter.credit[0] <= APP_LOW_CREDIT_TENTHS);
    hal_relay(g_app.relay_closed);
    app_send_p(APP_P("EVENT boot fw=" APP_FW "\n"));
    now = hal_millis();
    poll_sensor(now);
    app_update_relay(now);
}

void app_loop(void)
{
    int16_t c;
    char key;
    tc_result_t r;
    uint32_t now;
    while ((c = hal_serial_read()) >= 0) {
        app_proto_byte((uint8_t)c);
    }
    key = hal_keypad_poll();
    if (key != 0) {
        uint8_t submitted = app_ui_key(key, &r);
        if (submitted == 1) {
            app_event_token(&r);
        }
    }
    now = hal_millis();
    if ((uint32_t)(now - g_app.pzem_last_ms) >= APP_PZEM_PERIOD_MS) {
        poll_sensor(now);
    }
    app_update_relay(now);
    app_ui_render(now);
}
