/* State of the host HAL, set by the test driver. */
#ifndef HAL_HOST_H
#define HAL_HOST_H

#include <setjmp.h>
#include <stdint.h>

typedef struct {
    uint32_t now_ms;
    uint8_t rx[4096];
    uint32_t rx_len;
    uint32_t rx_pos;
    char key;
    uint8_t tamper;
    uint8_t relay;
    char lcd[32];
    uint8_t pzem_ok;
    uint32_t load_w;
    uint32_t energy_wh;
    uint8_t eeprom[1024];
    uint32_t eeprom_writes;
    uint32_t cut_after; /* power fails after this many more EEPROM byte writes (0: never) */
    jmp_buf power_fail; /* where a power cut returns to */
} hal_host_t;

extern hal_host_t g_host;

#endif
