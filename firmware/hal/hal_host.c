/* The host implementation of hal.h, for running the meter application on a PC under test (and under
 * ASan/UBSan): time, keys, sensor readings and serial input come from the test driver
 * (test/apphost.c); serial output goes to stdout, relay and LCD changes to stderr. */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include "hal.h"
#include "hal_host.h"

hal_host_t g_host;

void hal_init(void) {}

uint32_t hal_millis(void)
{
    return g_host.now_ms;
}

void hal_relay(uint8_t closed)
{
    if (closed != g_host.relay) {
        fprintf(stderr, "#RELAY %u @%lu ms\n", closed, (unsigned long)g_host.now_ms);
    }
    g_host.relay = closed;
}

void hal_marker(uint8_t on)
{
    (void)on;
}

char hal_keypad_poll(void)
{
    char k = g_host.key;
    g_host.key = 0;
    return k;
}

void hal_lcd_show(const char line1[16], const char line2[16])
{
    if (memcmp(g_host.lcd, line1, 16) != 0 || memcmp(g_host.lcd + 16, line2, 16) != 0) {
        memcpy(g_host.lcd, line1, 16);
        memcpy(g_host.lcd + 16, line2, 16);
        fprintf(stderr, "#LCD |%.16s|%.16s|\n", line1, line2);
    }
}

int16_t hal_serial_read(void)
{
    if (g_host.rx_pos >= g_host.rx_len) {
        return -1;
    }
    return g_host.rx[g_host.rx_pos++];
}

void hal_serial_write(const char *s)
{
    fputs(s, stdout);
}

uint8_t hal_pzem_read(hal_pzem_t *out)
{
    if (!g_host.pzem_ok) {
        return 0;
    }
    out->voltage_dv = 2300;
    out->power_dw = g_host.relay ? g_host.load_w * 10u : 0;
    out->current_ma = g_host.relay ? (g_host.load_w * 1000u) / 230u : 0;
    out->energy_wh = g_host.energy_wh;
    out->pf_centi = 100;
    return 1;
}

void hal_eeprom_read(uint16_t addr, void *buf, uint16_t len)
{
    if ((uint32_t)addr + len <= sizeof g_host.eeprom) {
        memcpy(buf, g_host.eeprom + addr, len);
    }
}

/* Byte by byte, like the chip; with a power cut armed (cut_after bytes left), power fails right after
 * the last byte the EEPROM got: control goes back to the driver, which powers the meter up again. */
void hal_eeprom_write(uint16_t addr, const void *buf, uint16_t len)
{
    const uint8_t *b = (const uint8_t *)buf;
    uint16_t i;
    if ((uint32_t)addr + len > sizeof g_host.eeprom) {
        return;
    }
    for (i = 0; i < len; i++) {
        if (g_host.eeprom[addr + i] == b[i]) {
            continue; /* eeprom_update_block skips unchanged bytes */
        }
        g_host.eeprom[addr + i] = b[i];
        g_host.eeprom_writes++;
        if (g_host.cut_after != 0 && --g_host.cut_after == 0) {
            longjmp(g_host.power_fail, 1);
        }
    }
}

uint8_t hal_tamper(void)
{
    return g_host.tamper;
}
