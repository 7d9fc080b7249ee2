/* The hardware the meter application needs, as a handful of C functions. The application and the
 * token core never touch a register; hal_arduino.cpp is the one implementation (Arduino Uno). */
#ifndef HAL_H
#define HAL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Pin map of the Uno build (docs/firmware.md has the wiring table). */
#define HAL_PIN_RELAY   12
#define HAL_PIN_MARKER  13 /* PB5, the on-board LED: raised around a token decode for cycle counts */
#define HAL_PIN_PZEM_RX 10
#define HAL_PIN_PZEM_TX 11
#define HAL_PIN_TAMPER  14 /* A0 (PC0): cover switch to GND, closed when the cover is opened */

typedef struct {
    uint16_t voltage_dv; /* 0.1 V */
    uint32_t current_ma; /* 0.001 A */
    uint32_t power_dw;   /* 0.1 W */
    uint32_t energy_wh;  /* 1 Wh, the sensor's cumulative (non-volatile) counter */
    uint16_t pf_centi;   /* 0.01 */
} hal_pzem_t;

void hal_init(void);
uint32_t hal_millis(void);

/* Relay: 1 = closed (load supplied), 0 = open. */
void hal_relay(uint8_t closed);
void hal_marker(uint8_t on);

/* 1 while the tamper switch (cover) reports an opening, debounced; 0 when closed or not fitted. */
uint8_t hal_tamper(void);

/* One keypad scan; returns the key character of a new, debounced press, or 0. */
char hal_keypad_poll(void);

/* Writes both 16-character lines (the driver skips lines that did not change). */
void hal_lcd_show(const char line1[16], const char line2[16]);

/* UART0: one received byte or -1; writing a NUL-terminated string (no newline added). */
int16_t hal_serial_read(void);
void hal_serial_write(const char *s);

/* One Modbus-RTU "read input registers" exchange with the PZEM-004T v3; 1 = fresh, CRC-checked
 * reading in *out, 0 = timeout or bad frame (then *out is unchanged). Blocks at most ~120 ms. */
uint8_t hal_pzem_read(hal_pzem_t *out);

void hal_eeprom_read(uint16_t addr, void *buf, uint16_t len);
/* Writes only the bytes that differ (wear). */
void hal_eeprom_write(uint16_t addr, const void *buf, uint16_t len);

#ifdef __cplusplus
}
#endif

#endif
