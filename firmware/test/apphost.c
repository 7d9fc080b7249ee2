/* Runs the meter application (app/) on the host over hal_host.c, driven like the simavr harness:
 * stdin lines go to the serial input (each followed by LF), lines starting with '!' are commands:
 * !wait MS, !key K, !load W, !energy WH, !pzem on|off, !tamper 0|1, !raw HEX (bytes without LF),
 * !cut N (power cut after N more EEPROM byte writes: prints CUT, then the meter powers up again). The loop
 * runs 1 ms of meter time per iteration; the sensor's energy integrates the load while the relay is closed.
 * Usage: apphost [eeprom.bin] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "hal_host.h"

static double energy_acc;
static volatile int in_request; /* a request line is being processed (its token save, if any) */

static void tick(void)
{
    app_loop();
    g_host.now_ms++;
    if (g_host.relay) {
        energy_acc += (double)g_host.load_w / 3600000.0;
        g_host.energy_wh = (uint32_t)energy_acc;
    }
}

static void run_ms(uint32_t ms)
{
    while (ms-- != 0) {
        tick();
    }
}

static void feed(const uint8_t *bytes, size_t n)
{
    if (g_host.rx_pos >= g_host.rx_len) {
        g_host.rx_pos = g_host.rx_len = 0;
    }
    if (g_host.rx_len + n > sizeof g_host.rx) {
        n = sizeof g_host.rx - g_host.rx_len;
    }
    memcpy(g_host.rx + g_host.rx_len, bytes, n);
    g_host.rx_len += (uint32_t)n;
}

int main(int argc, char **argv)
{
    const char *ee = argc > 1 ? argv[1] : NULL;
    char line[8192];
    FILE *f;
    memset(g_host.eeprom, 0xFF, sizeof g_host.eeprom);
    if (ee && (f = fopen(ee, "rb")) != NULL) {
        if (fread(g_host.eeprom, 1, sizeof g_host.eeprom, f) == 0) {
            memset(g_host.eeprom, 0xFF, sizeof g_host.eeprom);
        }
        fclose(f);
    }
    g_host.pzem_ok = 1;
    if (setjmp(g_host.power_fail) != 0) {
        /* Power cut: RAM is gone, the EEPROM and the sensor's energy register stay. */
        fflush(stdout);
        puts(in_request ? "CUT request" : "CUT");
        in_request = 0;
        memset(&g_app, 0, sizeof g_app);
        g_host.relay = 0;
        g_host.key = 0;
        g_host.rx_len = g_host.rx_pos = 0;
        g_host.now_ms = 0;
    }
    app_setup();
    run_ms(100);
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strcspn(line, "\n");
        line[n] = '\0';
        if (strncmp(line, "!wait ", 6) == 0) {
            run_ms((uint32_t)atol(line + 6));
        } else if (strncmp(line, "!key ", 5) == 0) {
            g_host.key = line[5];
            run_ms(100);
        } else if (strncmp(line, "!load ", 6) == 0) {
            g_host.load_w = (uint32_t)atol(line + 6);
        } else if (strncmp(line, "!energy ", 8) == 0) {
            energy_acc = atof(line + 8);
            g_host.energy_wh = (uint32_t)energy_acc;
        } else if (strncmp(line, "!cut ", 5) == 0) {
            g_host.cut_after = (uint32_t)atol(line + 5);
        } else if (strncmp(line, "!tamper ", 8) == 0) {
            g_host.tamper = (uint8_t)atoi(line + 8);
            run_ms(20);
        } else if (strncmp(line, "!pzem ", 6) == 0) {
            g_host.pzem_ok = strcmp(line + 6, "off") != 0;
        } else if (strncmp(line, "!raw ", 5) == 0) {
            uint8_t bytes[4096];
            size_t k = 0;
            const char *h = line + 5;
            unsigned int v;
            while (k < sizeof bytes && sscanf(h, "%2x", &v) == 1) {
                bytes[k++] = (uint8_t)v;
                h += 2;
            }
            feed(bytes, k);
            run_ms(20);
        } else {
            feed((const uint8_t *)line, n);
            feed((const uint8_t *)"\n", 1);
            in_request = 1;
            run_ms(20);
            in_request = 0;
        }
    }
    run_ms(10);
    fflush(stdout);
    if (ee && (f = fopen(ee, "wb")) != NULL) {
        fwrite(g_host.eeprom, 1, sizeof g_host.eeprom, f);
        fclose(f);
    }
    fprintf(stderr, "#END ms=%lu eeprom_writes=%lu\n", (unsigned long)g_host.now_ms,
            (unsigned long)g_host.eeprom_writes);
    return 0;
}
