#include "app.h"
#include "tc_pgm.h"

char *app_fmt_u32(char *out, uint32_t v)
{
    char tmp[10];
    uint8_t n = 0;
    do {
        tmp[n++] = (char)('0' + (uint8_t)(v % 10u));
        v /= 10u;
    } while (v != 0);
    while (n != 0) {
        *out++ = tmp[--n];
    }
    *out = '\0';
    return out;
}

/* v in units of 10^-decimals, printed with exactly `decimals` digits after the point. */
char *app_fmt_fixed(char *out, uint32_t v, uint8_t decimals)
{
    uint32_t scale = 1;
    uint8_t i;
    for (i = 0; i < decimals; i++) {
        scale *= 10u;
    }
    out = app_fmt_u32(out, v / scale);
    if (decimals != 0) {
        uint32_t frac = v % scale;
        *out++ = '.';
        for (i = decimals; i != 0; i--) {
            scale /= 10u;
            *out++ = (char)('0' + (uint8_t)(frac / scale));
            frac %= scale;
        }
        *out = '\0';
    }
    return out;
}

char *app_fmt_str(char *out, const char *s)
{
    while (*s != '\0') {
        *out++ = *s++;
    }
    *out = '\0';
    return out;
}

char *app_fmt_pstr(char *out, const char *flash_s)
{
    char c;
    while ((c = (char)TC_RD8(flash_s)) != '\0') {
        *out++ = c;
        flash_s++;
    }
    *out = '\0';
    return out;
}

/* Pads a NUL-terminated text with spaces to `len` characters (no terminator added past len). */
void app_pad(char *line, uint8_t len)
{
    uint8_t i = 0;
    while (i < len && line[i] != '\0') {
        i++;
    }
    while (i < len) {
        line[i++] = ' ';
    }
}

void app_send(const char *s)
{
    hal_serial_write(s);
}

void app_send_p(const char *flash_s)
{
    char buf[24];
    char c;
    uint8_t n = 0;
    while ((c = (char)TC_RD8(flash_s)) != '\0') {
        buf[n++] = c;
        flash_s++;
        if (n == sizeof buf - 1) {
            buf[n] = '\0';
            hal_serial_write(buf);
            n = 0;
        }
    }
    buf[n] = '\0';
    hal_serial_write(buf);
}
