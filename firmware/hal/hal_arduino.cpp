/* The Arduino Uno implementation of hal.h: Arduino core 1.8 (Serial, Wire, SoftwareSerial) plus
 * the project's own 4x4 keypad scan, PCF8574/HD44780 LCD driver and PZEM-004T v3 Modbus client. */
#include <Arduino.h>
#include <SoftwareSerial.h>
#include <Wire.h>
#include <avr/eeprom.h>

#include "hal.h"
#include "tc_token.h" /* tc_crc16: Modbus uses the same CRC-16 as STS tokens */

/* The level on D12 that closes the relay. Many relay modules close on LOW: build them with
 * make avr EXTRA_CFLAGS=-DHAL_RELAY_ACTIVE_LOW. */
#ifdef HAL_RELAY_ACTIVE_LOW
#define RELAY_CLOSED LOW
#define RELAY_OPEN   HIGH
#else
#define RELAY_CLOSED HIGH
#define RELAY_OPEN   LOW
#endif

/* ---- keypad: rows are driven low one at a time, columns read with pull-ups ---- */
static const uint8_t KP_ROWS[4] = {9, 8, 7, 6};
static const uint8_t KP_COLS[4] = {5, 4, 3, 2};
static const char KP_MAP[17] = "123A456B789C*0#D";
static char kp_last;     /* key seen on the previous scan */
static char kp_reported; /* key already reported for the current press */

static char keypad_scan_raw(void)
{
    char found = 0;
    for (uint8_t r = 0; r < 4; r++) {
        pinMode(KP_ROWS[r], OUTPUT);
        digitalWrite(KP_ROWS[r], LOW);
        delayMicroseconds(5);
        for (uint8_t c = 0; c < 4; c++) {
            if (digitalRead(KP_COLS[c]) == LOW && !found) {
                found = KP_MAP[r * 4 + c];
            }
        }
        pinMode(KP_ROWS[r], INPUT);
    }
    return found;
}

char hal_keypad_poll(void)
{
    static uint32_t last_scan;
    uint32_t now = millis();
    if ((uint32_t)(now - last_scan) < 10) {
        return 0;
    }
    last_scan = now;
    char k = keypad_scan_raw();
    /* A key counts once it is seen on two scans 10 ms apart (debounce), and once per press. */
    char out = 0;
    if (k != 0 && k == kp_last && k != kp_reported) {
        kp_reported = k;
        out = k;
    }
    if (k == 0) {
        kp_reported = 0;
    }
    kp_last = k;
    return out;
}

/* ---- LCD: HD44780 in 4-bit mode behind a PCF8574 (P0 RS, P1 RW, P2 EN, P3 backlight, P4..7 D4..7) ---- */
#define LCD_ADDR 0x27
#define LCD_RS   0x01
#define LCD_EN   0x04
#define LCD_BL   0x08

static char lcd_shadow[2][16];
static uint8_t lcd_valid;

static void lcd_nibbles(const uint8_t *bytes, uint8_t n, uint8_t rs)
{
    /* Each byte is two nibbles, each latched by an EN pulse: 4 PCF8574 writes per byte. */
    uint8_t i = 0;
    while (i < n) {
        Wire.beginTransmission(LCD_ADDR);
        for (uint8_t k = 0; k < 7 && i < n; k++, i++) {
            uint8_t hi = (uint8_t)((bytes[i] & 0xF0) | rs | LCD_BL);
            uint8_t lo = (uint8_t)(((bytes[i] << 4) & 0xF0) | rs | LCD_BL);
            Wire.write((uint8_t)(hi | LCD_EN));
            Wire.write(hi);
            Wire.write((uint8_t)(lo | LCD_EN));
            Wire.write(lo);
        }
        Wire.endTransmission();
    }
}

static void lcd_command(uint8_t cmd)
{
    lcd_nibbles(&cmd, 1, 0);
    delayMicroseconds(50);
}

static void lcd_init(void)
{
    Wire.begin();
    delay(50);
    /* Power-on reset sequence of the HD44780 datasheet (figure 24): three 0x3 nibbles, then 0x2. */
    static const uint8_t boot[4] = {0x30, 0x30, 0x30, 0x20};
    for (uint8_t i = 0; i < 4; i++) {
        Wire.beginTransmission(LCD_ADDR);
        Wire.write((uint8_t)(boot[i] | LCD_BL | LCD_EN));
        Wire.write((uint8_t)(boot[i] | LCD_BL));
        Wire.endTransmission();
        delayMicroseconds(4500);
    }
    lcd_command(0x28); /* 4-bit, 2 lines, 5x8 */
    lcd_command(0x0C); /* display on, no cursor */
    lcd_command(0x06); /* entry mode: increment */
    lcd_command(0x01); /* clear */
    delay(2);
    lcd_valid = 0;
}

void hal_lcd_show(const char line1[16], const char line2[16])
{
    const char *lines[2] = {line1, line2};
    for (uint8_t l = 0; l < 2; l++) {
        if ((lcd_valid & (1u << l)) && memcmp(lcd_shadow[l], lines[l], 16) == 0) {
            continue;
        }
        memcpy(lcd_shadow[l], lines[l], 16);
        lcd_command((uint8_t)(0x80 | (l ? 0x40 : 0x00)));
        lcd_nibbles((const uint8_t *)lines[l], 16, LCD_RS);
        lcd_valid |= (uint8_t)(1u << l);
    }
}

/* ---- PZEM-004T v3: Modbus-RTU at 9600 8N1, slave 0xF8 (general address) ---- */
static SoftwareSerial pzem_port(HAL_PIN_PZEM_RX, HAL_PIN_PZEM_TX);

static uint32_t reg32(const uint8_t *p)
{
    /* 32-bit values are two registers, low word first, each big-endian. */
    return ((uint32_t)p[2] << 24) | ((uint32_t)p[3] << 16) | ((uint32_t)p[0] << 8) | p[1];
}

uint8_t hal_pzem_read(hal_pzem_t *out)
{
    uint8_t req[8] = {0xF8, 0x04, 0x00, 0x00, 0x00, 0x0A, 0, 0};
    uint8_t resp[25];
    uint16_t crc = tc_crc16(req, 6);
    req[6] = (uint8_t)crc;
    req[7] = (uint8_t)(crc >> 8);
    while (pzem_port.available()) {
        pzem_port.read();
    }
    pzem_port.write(req, sizeof req);
    uint8_t n = 0;
    uint32_t start = millis();
    while (n < sizeof resp && (uint32_t)(millis() - start) < 100) {
        if (pzem_port.available()) {
            resp[n++] = (uint8_t)pzem_port.read();
        }
    }
    if (n != sizeof resp || resp[0] != 0xF8 || resp[1] != 0x04 || resp[2] != 20) {
        return 0;
    }
    crc = tc_crc16(resp, 23);
    if (resp[23] != (uint8_t)crc || resp[24] != (uint8_t)(crc >> 8)) {
        return 0;
    }
    const uint8_t *d = resp + 3;
    out->voltage_dv = (uint16_t)((d[0] << 8) | d[1]);
    out->current_ma = reg32(d + 2);
    out->power_dw = reg32(d + 6);
    out->energy_wh = reg32(d + 10);
    out->pf_centi = (uint16_t)((d[16] << 8) | d[17]);
    return 1;
}

/* ---- tamper switch: active low with the internal pull-up, so a board without one reads "no tamper" ---- */
uint8_t hal_tamper(void)
{
    static uint8_t count;
    /* 5 consecutive low readings (one per main loop pass) before it counts: no trip on a glitch. */
    if (digitalRead(HAL_PIN_TAMPER) == LOW) {
        if (count < 5) {
            count++;
        }
    } else {
        count = 0;
    }
    return (uint8_t)(count >= 5);
}

/* ---- the rest ---- */
void hal_init(void)
{
    Serial.begin(115200);
    digitalWrite(HAL_PIN_RELAY, RELAY_OPEN); /* level set before the pin drives: no glitch */
    pinMode(HAL_PIN_RELAY, OUTPUT);
    pinMode(HAL_PIN_MARKER, OUTPUT);
    pinMode(HAL_PIN_TAMPER, INPUT_PULLUP);
    digitalWrite(HAL_PIN_MARKER, LOW);
    for (uint8_t i = 0; i < 4; i++) {
        pinMode(KP_ROWS[i], INPUT);
        pinMode(KP_COLS[i], INPUT_PULLUP);
    }
    pzem_port.begin(9600);
    lcd_init();
}

uint32_t hal_millis(void)
{
    return millis();
}

void hal_relay(uint8_t closed)
{
    digitalWrite(HAL_PIN_RELAY, closed ? RELAY_CLOSED : RELAY_OPEN);
}

void hal_marker(uint8_t on)
{
    /* Direct port write: one cycle, so the measured interval is the decode alone. */
    if (on) {
        PORTB |= _BV(PB5);
    } else {
        PORTB &= (uint8_t)~_BV(PB5);
    }
}

int16_t hal_serial_read(void)
{
    return (int16_t)Serial.read();
}

void hal_serial_write(const char *s)
{
    Serial.print(s);
}

void hal_eeprom_read(uint16_t addr, void *buf, uint16_t len)
{
    eeprom_read_block(buf, (const void *)(uintptr_t)addr, len);
}

void hal_eeprom_write(uint16_t addr, const void *buf, uint16_t len)
{
    eeprom_update_block(buf, (void *)(uintptr_t)addr, len);
}
