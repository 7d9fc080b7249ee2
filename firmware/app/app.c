/* The meter main loop: the meter clock, sensor polling and the credit countdown, relay rules,
 * tokens, persistence. */
#include <string.h>

#include "app.h"

app_t g_app;

/* The meter clock: milliseconds of powered time, continued across power cuts from the last save
 * (as the emulator's meter clock). It runs the lockout and the key change window. */
uint64_t app_clock(void)
{
    uint32_t m = hal_millis();
    if (m < g_app.last_millis) {
        g_app.millis_wraps++;
    }
    g_app.last_millis = m;
    return g_app.clock_base + (((uint64_t)g_app.millis_wraps << 32) | m);
}

uint32_t app_credit_tenths(void)
{
    return g_app.p.meter.registers[0] / APP_WH_PER_TENTH;
}

/* Milliseconds to whole seconds, rounded up (the lockout is at most minutes: clamped to 32 bits). */
static uint16_t ceil_seconds(uint64_t ms)
{
    uint32_t ms32 = ms > 0xFFFF0000ull ? 0xFFFF0000ul : (uint32_t)ms;
    uint32_t s = (ms32 + 999u) / 1000u;
    return (uint16_t)(s > 0xFFFFu ? 0xFFFFu : s);
}

uint16_t app_locked_seconds(void)
{
    return ceil_seconds(tc_lock_remaining_ms(&g_app.p.meter, app_clock()));
}

/* Writes the state as the next EEPROM generation. Nothing is ever written while the meter is not
 * provisioned: a record is what makes a meter provisioned. */
uint8_t app_save_now(void)
{
    if (g_app.prov != APP_PROV_OK) {
        return 0;
    }
    g_app.p.clock_ms = app_clock();
    if (!app_store_save(&g_app.p)) {
        return 0;
    }
    g_app.saved_credit = g_app.p.meter.registers[0];
    return 1;
}

/* Credit = credit at the reference point minus the energy the sensor counted since, debited 0.1 kWh
 * at a time. The sensor's energy register survives power cuts, so the pair (credit, energy
 * reference) in EEPROM stays exact however rarely it is written: consumption is never lost between
 * saves, and the EEPROM is written once per kWh at most (wear). */
static void account_energy(void)
{
    app_persist_t *p = &g_app.p;
    uint32_t e = g_app.pzem.energy_wh;
    uint32_t tenths;
    if (!p->energy_ref_valid || e < p->energy_ref_wh) {
        p->energy_ref_wh = e; /* first reading, or the sensor was reset or replaced */
        p->energy_ref_valid = 1;
        app_save_now();
        return;
    }
    tenths = (e - p->energy_ref_wh) / APP_WH_PER_TENTH;
    if (tenths == 0) {
        return;
    }
    p->energy_ref_wh += tenths * APP_WH_PER_TENTH;
    tc_debit(&p->meter, 0, tenths * APP_WH_PER_TENTH);
    if (g_app.saved_credit - p->meter.registers[0] >= APP_SAVE_EVERY_WH ||
        (p->meter.registers[0] == 0 && g_app.saved_credit != 0)) {
        app_save_now();
    }
}

static void poll_sensor(uint32_t now)
{
    const tc_state_t *m = &g_app.p.meter;
    g_app.pzem_last_ms = now;
    if (!hal_pzem_read(&g_app.pzem)) {
        g_app.pzem_ok = 0;
        return;
    }
    g_app.pzem_ok = 1;
    account_energy();
    if (g_app.relay_closed && (m->has & TC_HAS_MPL) && m->mpl_watts != 0 &&
        g_app.pzem.power_dw > m->mpl_watts * 10u) {
        g_app.mpl_tripped = 1;
        g_app.mpl_trip_ms = now;
    }
}

void app_update_relay(uint32_t now)
{
    const tc_state_t *m = &g_app.p.meter;
    uint32_t credit = app_credit_tenths();
    uint8_t reason = APP_OPEN_NONE;
    uint8_t closed;
    char buf[16];
    if (g_app.mpl_tripped && (uint32_t)(now - g_app.mpl_trip_ms) >= APP_MPL_RETRY_MS) {
        g_app.mpl_tripped = 0; /* retry: close, and trip again if the power is still too high */
    }
    if (m->tamper) {
        reason = APP_OPEN_TAMPER;
    } else if (m->registers[0] == 0) {
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
            app_send_p(reason == APP_OPEN_TAMPER ? APP_P("tamper\n")
                       : reason == APP_OPEN_MPL  ? APP_P("mpl\n")
                                                 : APP_P("credit\n"));
        }
    }
    if (m->registers[0] <= APP_LOW_CREDIT_WH) {
        if (!g_app.low_reported) {
            g_app.low_reported = 1;
            app_send_p(APP_P("EVENT low_credit credit="));
            app_fmt_fixed(buf, credit, 1);
            app_send(buf);
            app_send_p(APP_P("\n"));
        }
    } else {
        g_app.low_reported = 0;
    }
}

static uint8_t outcome_kind(uint8_t kind)
{
    switch (kind) {
    case TC_KIND_CREDIT:
    case TC_KIND_CURRENCY_CREDIT:
        return APP_K_CREDIT;
    case TC_KIND_MPL:
        return APP_K_MPL;
    case TC_KIND_CLEAR_CREDIT:
        return APP_K_CLEAR_CREDIT;
    case TC_KIND_CLEAR_TAMPER:
        return APP_K_CLEAR_TAMPER;
    case TC_KIND_KCT_1:
    case TC_KIND_KCT_2:
    case TC_KIND_KCT_3:
    case TC_KIND_KCT_4:
        return APP_K_KEY_CHANGE;
    case TC_KIND_NONE:
        return APP_K_NONE;
    default:
        return APP_K_OTHER;
    }
}

uint8_t app_apply_token(const char *digits, uint8_t n, app_outcome_t *out)
{
    tc_result_t r;
    uint32_t now = hal_millis();
    uint64_t clock = app_clock();
    if (g_app.prov != APP_PROV_OK && !app_is_class1(digits, n)) {
        app_ui_show_no_key();
        return APP_NO_KEY;
    }
    hal_marker(1);
    tc_enter_token(&g_app.p.meter, digits, n, clock, &r);
    hal_marker(0);
    if ((r.changed || r.outcome == TC_ACCEPT) && g_app.prov == APP_PROV_OK) {
        /* The new state is on EEPROM before anything is shown or replied. If that fails, the last
         * saved state comes back: nothing was applied. */
        if (!app_save_now()) {
            app_store_load(&g_app.p);
            return APP_STORAGE_FAILED;
        }
    }
    out->outcome = r.outcome;
    out->kind = outcome_kind(r.kind);
    out->amount = (out->kind == APP_K_CREDIT) ? r.amount / APP_WH_PER_TENTH : r.amount;
    out->seconds = ceil_seconds(r.lock_remaining_ms);
    out->fails =
        (r.outcome == TC_CRC_ERROR || r.outcome == TC_FORMAT_ERROR) ? g_app.p.meter.wrong_entries : 0;
    if (r.outcome == TC_ACCEPT && r.kind == TC_KIND_MPL) {
        g_app.mpl_tripped = 0;
    }
    app_ui_show_result(out);
    app_update_relay(now);
    return APP_APPLIED;
}

void app_setup(void)
{
    uint32_t now;
    hal_init();
    if (!app_store_load(&g_app.p)) {
        app_provision_blank(&g_app.p);
        g_app.prov = APP_PROV_NEEDED;
    } else if (g_app.p.meter.key.ea != APP_EA) {
        g_app.prov = APP_PROV_WRONG_EA; /* a record for the other variant's image: its key is unusable */
    }
    g_app.clock_base = g_app.p.clock_ms;
    g_app.saved_credit = g_app.p.meter.registers[0];
    /* Power-up: the relay takes its state silently (events report changes only). */
    g_app.relay_closed = (uint8_t)(!g_app.p.meter.tamper && g_app.p.meter.registers[0] != 0);
    g_app.low_reported = (uint8_t)(g_app.p.meter.registers[0] <= APP_LOW_CREDIT_WH);
    hal_relay(g_app.relay_closed);
    app_send_p(APP_P("EVENT boot fw=" APP_FW));
    if (g_app.prov != APP_PROV_OK) {
        app_send_p(APP_P(" provision="));
        app_send_p(app_provision_word());
    }
    app_send_p(APP_P("\n"));
    now = hal_millis();
    poll_sensor(now);
    app_update_relay(now);
}

/* The tamper switch sets the tamper flag (kept in EEPROM); only a clear-tamper token clears it. */
static void check_tamper(void)
{
    if (hal_tamper() && !g_app.p.meter.tamper) {
        g_app.p.meter.tamper = 1;
        app_save_now();
    }
}

void app_loop(void)
{
    int16_t c;
    char key;
    app_outcome_t r;
    uint32_t now;
    while ((c = hal_serial_read()) >= 0) {
        app_proto_byte((uint8_t)c);
    }
    key = hal_keypad_poll();
    if (key != 0 && app_ui_key(key, &r) == 1) {
        app_event_token(&r);
    }
    check_tamper();
    now = hal_millis();
    if ((uint32_t)(now - g_app.pzem_last_ms) >= APP_PZEM_PERIOD_MS) {
        poll_sensor(now);
    }
    app_update_relay(now);
    app_ui_render(now);
}
