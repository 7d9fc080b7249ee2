/* simharness: runs the meter firmware ELF in simavr with the board around it.
 *
 *   UART0            stdin lines -> RX (each request waits for its reply line); TX bytes -> stdout
 *   keypad 4x4       rows D9 D8 D7 D6, columns D5 D4 D3 D2 (!press K, !release, !key K)
 *   LCD              PCF8574 at 0x27 + HD44780 in 4-bit mode, decoded; "#LCD |line1|line2|" on change
 *   relay / marker   D12 (PB4) / D13 (PB5) level changes: "#PIN B4=1 @<cycle> <ms> ms"
 *   PZEM-004T v3     Modbus-RTU fake on SoftwareSerial D11 (AVR TX) / D10 (AVR RX), 9600 8N1; the load
 *                    draws power only while the relay is closed and the energy register integrates it
 *   EEPROM           -e FILE: loaded at start, saved at exit; !cut N: power cut after N more byte writes;
 *                    -i IMAGE.eep: start from this Intel HEX EEPROM image instead (what avrdude's
 *                    -U eeprom:w:IMAGE.eep:i writes on a board; bytes it does not set read 0xFF)
 *   -E WH            the sensor's energy register at power-up (it survives power cuts on a real PZEM)
 *
 * -p LINK          UART0 on a pseudo-terminal (LINK is a symlink to it, e.g. /tmp/ttyNGUVU0) that pyserial
 *                  or a terminal opens like /dev/ttyACM0; the simulation then runs in real time until
 *                  SIGINT/SIGTERM, and stdin only takes '!' commands
 *
 *   tamper switch    PC0 (A0), pulled up; !pin C0 0 = cover opened
 *
 * Commands (stdin lines starting with '!'): !wait MS, !press K, !release, !key K, !load W [V] [PF], !pin C0
 * 0|1, !energy WH, !pzem on|off, !lcd, !cycles, !cut N, !quit. Events go to stderr, prefixed with '#'.
 * Written for simavr 1.6 (see /work/shared/docs/firmware-toolchain.md for the pitfalls handled). */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 600
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/time.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <avr_eeprom.h>
#include <avr_ioport.h>
#include <avr_twi.h>
#include <avr_uart.h>
#include <sim_avr.h>
#include <sim_elf.h>
#include <sim_hex.h>
#include <sim_io.h>
#include <sim_time.h>

#define F_CPU   16000000ull
#define EE_SIZE 1024
#define MS(c)   ((double)(c) * 1000.0 / (double)F_CPU)

static avr_t *avr;
static FILE *uart_out;
static volatile sig_atomic_t stop_requested;

/* ---------------------------------------------------------------- UART0 */
static int pty_fd = -1; /* -p: the master side of the pseudo-terminal */
static char rxq[512];
static size_t rxq_len, rxq_pos;
static int uart_xon = 1;
static char txline[256];
static size_t txline_len;
static int reply_seen;

static void uart_tx_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    fputc((int)value, uart_out);
    fflush(uart_out);
    if (pty_fd >= 0) {
        uint8_t b = (uint8_t)value;
        if (write(pty_fd, &b, 1) < 0 && errno != EAGAIN) {
            /* nobody has the port open: the byte is lost, as on a real UART */
        }
    }
    if (value == '\n') {
        txline[txline_len] = '\0';
        if (strncmp(txline, "EVENT ", 6) != 0) {
            reply_seen = 1;
        }
        txline_len = 0;
    } else if (txline_len < sizeof txline - 1) {
        txline[txline_len++] = (char)value;
    }
}

static void uart_xon_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    (void)param;
    uart_xon = 1;
}

static void uart_xoff_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    (void)param;
    uart_xon = 0;
}

static void uart_feed(void)
{
    /* Bytes raised before the firmware enables the receiver (UCSR0B.RXEN0) are dropped. */
    if (rxq_pos < rxq_len && uart_xon && (avr->data[0xC1] & 0x10)) {
        avr_raise_irq(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT),
                      (uint8_t)rxq[rxq_pos++]);
    }
}

/* ---------------------------------------------------------------- pins */
static void pin_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    const char *name = param;
    fprintf(stderr, "#PIN %s=%u @%llu %.3f ms\n", name, value, (unsigned long long)avr->cycle,
            MS(avr->cycle));
}

/* ---------------------------------------------------------------- keypad */
static const char *keymap = "123A456B789C*0#D";
static const struct {
    char port;
    uint8_t bit;
} KP_ROW[4] = {{'B', 1}, {'B', 0}, {'D', 7}, {'D', 6}}, KP_COL[4] = {{'D', 5}, {'D', 4}, {'D', 3}, {'D', 2}};
static int kp_row = -1, kp_col = -1;

/* Inputs driven from outside. simavr re-raises the "external" pull value of every input pin of a port
 * on each write to that port's PORT register, so the value is kept in the external state too. */
static uint8_t ext_value[3] = {0x04, 0x3C,
                               0x01}; /* B: PB2 (PZEM TX line); D: keypad columns; C: PC0 tamper */
static const uint8_t ext_mask[3] = {0x04, 0x3C, 0x01};

static void set_input(char port, uint8_t bit, uint8_t level)
{
    int i = port == 'B' ? 0 : port == 'D' ? 1 : 2;
    uint8_t v = level ? (uint8_t)(ext_value[i] | (1u << bit)) : (uint8_t)(ext_value[i] & ~(1u << bit));
    if (v != ext_value[i]) {
        ext_value[i] = v;
        avr_ioport_external_t e = {.name = (unsigned long)port, .mask = ext_mask[i], .value = v};
        avr_ioctl(avr, AVR_IOCTL_IOPORT_SET_EXTERNAL(port), &e);
    }
    avr_raise_irq(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(port), bit), level);
}

/* A pressed key connects its row to its column: the column reads low while the firmware drives that
 * row low (DDR bit set, PORT bit clear). The registers are read directly and the columns re-evaluated
 * every few instructions while a key is down: port/DDR IRQ hooks fire before the registers change. */
static void keypad_eval(void)
{
    for (int c = 0; c < 4; c++) {
        uint8_t level = 1;
        if (kp_col == c && kp_row >= 0) {
            int b = KP_ROW[kp_row].port == 'B';
            uint8_t ddr = avr->data[b ? 0x24 : 0x2A];
            uint8_t port = avr->data[b ? 0x25 : 0x2B];
            uint8_t m = (uint8_t)(1u << KP_ROW[kp_row].bit);
            if ((ddr & m) && !(port & m)) {
                level = 0;
            }
        }
        set_input(KP_COL[c].port, KP_COL[c].bit, level);
    }
}

static int key_press(char k)
{
    const char *p = strchr(keymap, k);
    if (k == 0 || p == NULL) {
        return -1;
    }
    kp_row = (int)(p - keymap) / 4;
    kp_col = (int)(p - keymap) % 4;
    fprintf(stderr, "#PRESS %c @%.3f ms\n", k, MS(avr->cycle));
    keypad_eval();
    return 0;
}

static void key_release(void)
{
    kp_row = kp_col = -1;
    keypad_eval();
}

/* ---------------------------------------------------------------- LCD (PCF8574 + HD44780) */
#define LCD_ADDR8 (0x27 << 1)
static avr_irq_t *twi_irqs;
static int twi_selected;
static uint8_t pcf_last;
static int lcd_4bit, lcd_have_high;
static uint8_t lcd_high;
static uint8_t lcd_addr;
static char lcd_ddram[0x80];
static char lcd_printed[2][17];

static void lcd_byte(int rs, uint8_t b)
{
    if (rs) {
        lcd_ddram[lcd_addr & 0x7F] = (char)b;
        lcd_addr = (uint8_t)((lcd_addr + 1) & 0x7F);
    } else if (b == 0x01) {
        memset(lcd_ddram, ' ', sizeof lcd_ddram);
        lcd_addr = 0;
    } else if (b & 0x80) {
        lcd_addr = b & 0x7F;
    }
}

static void lcd_nibble(int rs, uint8_t nib)
{
    if (!lcd_4bit) {
        /* 8-bit mode after reset: one nibble is a whole command; 0x2 switches to 4-bit. */
        if (nib == 0x2) {
            lcd_4bit = 1;
            lcd_have_high = 0;
        }
        return;
    }
    if (!lcd_have_high) {
        lcd_high = nib;
        lcd_have_high = 1;
        return;
    }
    lcd_have_high = 0;
    lcd_byte(rs, (uint8_t)((lcd_high << 4) | nib));
}

static void lcd_line(int l, char out[17])
{
    memcpy(out, lcd_ddram + (l ? 0x40 : 0x00), 16);
    out[16] = '\0';
    for (int i = 0; i < 16; i++) {
        if (out[i] < 0x20 || out[i] > 0x7E) {
            out[i] = ' ';
        }
    }
}

static void lcd_report(int force)
{
    char l[2][17];
    lcd_line(0, l[0]);
    lcd_line(1, l[1]);
    if (force || memcmp(l, lcd_printed, sizeof l) != 0) {
        memcpy(lcd_printed, l, sizeof l);
        fprintf(stderr, "#LCD |%s|%s| @%.3f ms\n", l[0], l[1], MS(avr->cycle));
    }
}

static void pcf_write(uint8_t v)
{
    /* HD44780 latches on the falling edge of EN (P2); RS is P0, D4..D7 are P4..P7. */
    if ((pcf_last & 0x04) && !(v & 0x04)) {
        lcd_nibble(pcf_last & 0x01, (uint8_t)(pcf_last >> 4));
    }
    pcf_last = v;
}

static void twi_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    avr_twi_msg_irq_t v;
    v.u.v = value;
    if (v.u.twi.msg & TWI_COND_STOP) {
        if (twi_selected) {
            lcd_report(0);
        }
        twi_selected = 0;
    }
    if (v.u.twi.msg & TWI_COND_START) {
        twi_selected = ((v.u.twi.addr & 0xFE) == LCD_ADDR8);
        if (twi_selected) {
            avr_raise_irq(twi_irqs + TWI_IRQ_INPUT, avr_twi_irq_msg(TWI_COND_ACK, v.u.twi.addr, 1));
        }
    }
    if (twi_selected && (v.u.twi.msg & TWI_COND_WRITE)) {
        avr_raise_irq(twi_irqs + TWI_IRQ_INPUT, avr_twi_irq_msg(TWI_COND_ACK, v.u.twi.addr, 1));
        pcf_write(v.u.twi.data);
    }
}

/* ---------------------------------------------------------------- PZEM-004T v3 fake */
#define BIT_CYC (F_CPU / 9600.0)
static double load_w, load_v = 230.0, load_pf = 1.0, energy_wh;
static int pzem_enabled = 1;
static int relay_closed;
static avr_cycle_count_t energy_at;
static uint8_t soft_rx[32];
static int soft_rx_len;
static int soft_tx_shift, soft_tx_bit = -1;
static uint8_t pzem_out[32];
static int pzem_out_len, pzem_out_pos, pzem_bit;

static uint16_t modbus_crc(const uint8_t *d, int n)
{
    uint16_t crc = 0xFFFF;
    for (int i = 0; i < n; i++) {
        crc ^= d[i];
        for (int k = 0; k < 8; k++) {
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
        }
    }
    return crc;
}

static void energy_update(void)
{
    if (relay_closed) {
        energy_wh += load_w * (double)(avr->cycle - energy_at) / (double)F_CPU / 3600.0;
    }
    energy_at = avr->cycle;
}

static void relay_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
    energy_update();
    relay_closed = (int)value;
    pin_hook(irq, value, param);
}

static avr_cycle_count_t pzem_send_bit(struct avr_t *a, avr_cycle_count_t when, void *param)
{
    (void)a;
    (void)param;
    /* 10 bit slots per byte: start (0), 8 data bits LSB first, stop (1). */
    int slot = pzem_bit % 10;
    uint8_t byte = pzem_out[pzem_out_pos];
    int level = slot == 0 ? 0 : slot == 9 ? 1 : (byte >> (slot - 1)) & 1;
    set_input('B', 2, (uint8_t)level);
    pzem_bit++;
    if (slot == 9) {
        pzem_out_pos++;
        if (pzem_out_pos >= pzem_out_len) {
            return 0;
        }
    }
    return when + (avr_cycle_count_t)BIT_CYC;
}

static void put32(uint8_t *p, uint32_t v)
{
    /* Low 16-bit register first, each register big-endian. */
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    p[2] = (uint8_t)(v >> 24);
    p[3] = (uint8_t)(v >> 16);
}

static void pzem_request(void)
{
    uint16_t crc = modbus_crc(soft_rx, 6);
    if (soft_rx[0] != 0xF8 || soft_rx[1] != 0x04 || soft_rx[6] != (crc & 0xFF) || soft_rx[7] != (crc >> 8)) {
        fprintf(stderr, "#PZEM bad request\n");
        return;
    }
    if (!pzem_enabled) {
        return;
    }
    energy_update();
    double p = relay_closed ? load_w : 0.0;
    double v = load_v;
    double i = (v > 0 && p > 0) ? p / (v * load_pf) : 0.0;
    uint8_t *d = pzem_out + 3;
    pzem_out[0] = 0xF8;
    pzem_out[1] = 0x04;
    pzem_out[2] = 20;
    memset(d, 0, 20);
    d[0] = (uint8_t)((unsigned)(v * 10 + 0.5) >> 8);
    d[1] = (uint8_t)(unsigned)(v * 10 + 0.5);
    put32(d + 2, (uint32_t)(i * 1000 + 0.5));
    put32(d + 6, (uint32_t)(p * 10 + 0.5));
    put32(d + 10, (uint32_t)energy_wh);
    d[14] = (uint8_t)(500 >> 8);
    d[15] = (uint8_t)(500 & 0xFF);
    d[16] = 0;
    d[17] = (uint8_t)(load_pf * 100 + 0.5);
    crc = modbus_crc(pzem_out, 23);
    pzem_out[23] = (uint8_t)crc;
    pzem_out[24] = (uint8_t)(crc >> 8);
    pzem_out_len = 25;
    pzem_out_pos = 0;
    pzem_bit = 0;
    /* The sensor answers a couple of milliseconds after the request. */
    avr_cycle_timer_register(avr, (avr_cycle_count_t)(F_CPU / 500), pzem_send_bit, NULL);
}

static avr_cycle_count_t soft_sample(struct avr_t *a, avr_cycle_count_t when, void *param)
{
    (void)param;
    int level = (a->data[0x23] >> 3) & 1; /* PINB bit 3 */
    if (soft_tx_bit < 8) {
        soft_tx_shift |= level << soft_tx_bit;
        soft_tx_bit++;
        return when + (avr_cycle_count_t)BIT_CYC;
    }
    /* stop bit */
    if (soft_rx_len < (int)sizeof soft_rx) {
        soft_rx[soft_rx_len++] = (uint8_t)soft_tx_shift;
    }
    soft_tx_bit = -1;
    if (soft_rx_len == 8) {
        pzem_request();
        soft_rx_len = 0;
    }
    return 0;
}

static void soft_tx_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (value == 0 && soft_tx_bit < 0) {
        /* Start bit: sample the middle of data bit 0, 1.5 bits later. */
        soft_tx_bit = 0;
        soft_tx_shift = 0;
        avr_cycle_timer_register(avr, (avr_cycle_count_t)(BIT_CYC * 1.5), soft_sample, NULL);
    }
}

/* ---------------------------------------------------------------- EEPROM and power cuts */
static const char *ee_path;
static long cut_after = -1;
static unsigned long ee_writes;
static int cut_done;

static void ee_load(void)
{
    uint8_t buf[EE_SIZE];
    FILE *f = ee_path ? fopen(ee_path, "rb") : NULL;
    if (!f) {
        return;
    }
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    avr_eeprom_desc_t d = {.ee = buf, .offset = 0, .size = (uint32_t)n};
    avr_ioctl(avr, AVR_IOCTL_EEPROM_SET, &d); /* returns -1 even on success */
}

/* -i: the EEPROM as a fresh chip flashed with this image (erased 0xFF where the image sets nothing). */
static const char *ee_image;
static void ee_load_image(void)
{
    uint8_t buf[EE_SIZE];
    ihex_chunk_p chunks = NULL;
    int i;
    int n = read_ihex_chunks(ee_image, &chunks);
    if (n < 0) {
        fprintf(stderr, "cannot read the EEPROM image %s\n", ee_image);
        exit(2);
    }
    memset(buf, 0xFF, sizeof buf);
    for (i = 0; i < n; i++) {
        if (chunks[i].baseaddr + chunks[i].size > EE_SIZE) {
            fprintf(stderr, "%s: data beyond the %d-byte EEPROM\n", ee_image, EE_SIZE);
            exit(2);
        }
        memcpy(buf + chunks[i].baseaddr, chunks[i].data, chunks[i].size);
    }
    free_ihex_chunks(chunks);
    avr_eeprom_desc_t d = {.ee = buf, .offset = 0, .size = EE_SIZE};
    avr_ioctl(avr, AVR_IOCTL_EEPROM_SET, &d);
}

static void ee_save(void)
{
    uint8_t buf[EE_SIZE];
    if (!ee_path) {
        return;
    }
    avr_eeprom_desc_t d = {.ee = buf, .offset = 0, .size = EE_SIZE};
    avr_ioctl(avr, AVR_IOCTL_EEPROM_GET, &d);
    FILE *f = fopen(ee_path, "wb");
    if (f) {
        fwrite(buf, 1, sizeof buf, f);
        fclose(f);
    }
}

static void eecr_hook(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (!(value & 0x02)) {
        return;
    }
    ee_writes++; /* EEPE: one byte written */
    if (cut_after > 0) {
        if (--cut_after == 0) {
            cut_done = 1;
            fprintf(stderr, "#CUT power removed @%llu %.3f ms\n", (unsigned long long)avr->cycle,
                    MS(avr->cycle));
        }
    }
}

/* ---------------------------------------------------------------- stack high-water mark */
#define PAINT     0xA5
#define RAM_START 0x100
#define RAM_END   0x8FF

/* SRAM is painted before reset; the startup code initialises .data/.bss, the stack grows down from
 * RAMEND. The deepest stack is where the painted gap between .bss and the stack begins. */
static void stack_report(void)
{
    int top = RAM_END;
    while (top >= RAM_START + 16) {
        int run = 0;
        while (run < 16 && avr->data[top - run] == PAINT) {
            run++;
        }
        if (run == 16) {
            break;
        }
        top--;
    }
    int gap = 0;
    while (top - gap >= RAM_START && avr->data[top - gap] == PAINT) {
        gap++;
    }
    fprintf(stderr, "#STACK used=%d untouched=%d\n", RAM_END - top, gap);
}

/* ---------------------------------------------------------------- main loop */
static void quiet_logger(avr_t *a, const int level, const char *fmt, va_list ap)
{
    (void)a;
    if (level <= LOG_ERROR) {
        vfprintf(stderr, fmt, ap);
    }
}

static void no_sleep(avr_t *a, avr_cycle_count_t how_long)
{
    (void)a;
    (void)how_long;
}

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static avr_cycle_count_t ms_cycles(double ms)
{
    return (avr_cycle_count_t)(ms * (double)F_CPU / 1000.0);
}

/* ---------------------------------------------------------------- pty and real time (-p) */
static double wall_start;

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Bytes a host wrote to the pty go to UART0 RX as they come (no line discipline). */
static void pty_poll(void)
{
    char buf[256];
    if (rxq_pos >= rxq_len) {
        rxq_pos = rxq_len = 0;
    }
    if (rxq_len >= sizeof rxq - sizeof buf) {
        return;
    }
    ssize_t n = read(pty_fd, buf, sizeof buf);
    if (n > 0) {
        memcpy(rxq + rxq_len, buf, (size_t)n);
        rxq_len += (size_t)n;
    }
}

/* Keeps simulated time from running ahead of wall-clock time, so host timeouts mean what they say. */
static void pace(void)
{
    double ahead = MS(avr->cycle) - (wall_ms() - wall_start);
    if (ahead > 2.0) {
        usleep((useconds_t)(ahead * 1000.0));
    }
}

static int create_pty(const char *link_path)
{
    int fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (fd < 0 || grantpt(fd) != 0 || unlockpt(fd) != 0) {
        return -1;
    }
    const char *slave = ptsname(fd);
    if (!slave) {
        return -1;
    }
    /* Raw mode on the slave side, so the host sees the firmware's bytes unchanged. */
    int sfd = open(slave, O_RDWR | O_NOCTTY);
    if (sfd >= 0) {
        struct termios t;
        if (tcgetattr(sfd, &t) == 0) {
            cfmakeraw(&t);
            tcsetattr(sfd, TCSANOW, &t);
        }
        close(sfd);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    unlink(link_path);
    if (symlink(slave, link_path) != 0) {
        return -1;
    }
    fprintf(stderr, "#PTY %s -> %s\n", link_path, slave);
    return fd;
}

static int run_until(avr_cycle_count_t target, int wait_reply)
{
    avr_cycle_count_t next_io = 0;
    while (!stop_requested && !cut_done) {
        if (pty_fd >= 0 && avr->cycle >= next_io) {
            pty_poll();
            pace();
            next_io = avr->cycle + F_CPU / 1000;
        }
        uart_feed();
        if (kp_row >= 0) {
            keypad_eval();
        }
        int state = avr_run(avr);
        if (state == cpu_Done || state == cpu_Crashed) {
            fprintf(stderr, "#END state=%d cycles=%llu\n", state, (unsigned long long)avr->cycle);
            return -1;
        }
        if (wait_reply && rxq_pos >= rxq_len && reply_seen) {
            return 0;
        }
        if (avr->cycle >= target) {
            return wait_reply ? 1 : 0;
        }
    }
    return -1;
}

static int command(char *line)
{
    char *arg = strchr(line, ' ');
    if (arg) {
        *arg++ = '\0';
    } else {
        arg = line + strlen(line);
    }
    if (!strcmp(line, "!wait")) {
        return run_until(avr->cycle + ms_cycles(atof(arg)), 0);
    } else if (!strcmp(line, "!press")) {
        if (key_press(arg[0]) != 0) {
            fprintf(stderr, "#ERR unknown key %s\n", arg);
        }
    } else if (!strcmp(line, "!release")) {
        key_release();
    } else if (!strcmp(line, "!key")) {
        if (key_press(arg[0]) != 0) {
            fprintf(stderr, "#ERR unknown key %s\n", arg);
            return 0;
        }
        if (run_until(avr->cycle + ms_cycles(60), 0) < 0) {
            return -1;
        }
        key_release();
        return run_until(avr->cycle + ms_cycles(40), 0);
    } else if (!strcmp(line, "!load")) {
        double w = 0, v = 0, pf = 0;
        int n = sscanf(arg, "%lf %lf %lf", &w, &v, &pf);
        energy_update();
        load_w = w;
        if (n >= 2) {
            load_v = v;
        }
        if (n >= 3) {
            load_pf = pf;
        }
    } else if (!strcmp(line, "!energy")) {
        energy_update();
        energy_wh = atof(arg);
    } else if (!strcmp(line, "!pin")) {
        /* !pin C0 0: drive an external input (PC0 = tamper switch; low = cover opened) */
        if (strlen(arg) >= 4 && arg[0] == 'C' && arg[1] == '0') {
            set_input('C', 0, (uint8_t)atoi(arg + 3));
        } else {
            fprintf(stderr, "#ERR unsupported pin %s\n", arg);
        }
    } else if (!strcmp(line, "!pzem")) {
        pzem_enabled = strcmp(arg, "off") != 0;
    } else if (!strcmp(line, "!lcd")) {
        lcd_report(1);
    } else if (!strcmp(line, "!cycles")) {
        fprintf(stderr, "#CYCLES %llu\n", (unsigned long long)avr->cycle);
    } else if (!strcmp(line, "!cut")) {
        cut_after = atol(arg);
    } else if (!strcmp(line, "!quit")) {
        return -1;
    } else {
        fprintf(stderr, "#ERR unknown command %s\n", line);
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: simharness [-e eeprom.bin] [-i image.eep] [-E energy_wh] [-t max_ms]\n"
                    "                  [-L linger_ms] [-B boot_ms] [-p pty_link] firmware.elf\n");
    exit(2);
}

int main(int argc, char **argv)
{
    double max_ms = 600000, linger_ms = 50, boot_ms = 300;
    const char *pty_path = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "e:i:t:L:B:E:p:")) != -1) {
        switch (opt) {
        case 'p':
            pty_path = optarg;
            max_ms = 1e12;
            break;
        case 'E':
            energy_wh = atof(optarg);
            break;
        case 'e':
            ee_path = optarg;
            break;
        case 'i':
            ee_image = optarg;
            break;
        case 't':
            max_ms = atof(optarg);
            break;
        case 'L':
            linger_ms = atof(optarg);
            break;
        case 'B':
            boot_ms = atof(optarg);
            break;
        default:
            usage();
        }
    }
    if (optind != argc - 1) {
        usage();
    }
    /* UART bytes get the real stdout; everything libsimavr prints goes to stderr. */
    uart_out = fdopen(dup(1), "w");
    dup2(2, 1);
    avr_global_logger_set(quiet_logger);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    elf_firmware_t fw;
    memset(&fw, 0, sizeof fw);
    if (elf_read_firmware(argv[optind], &fw) != 0) {
        fprintf(stderr, "cannot read %s\n", argv[optind]);
        return 2;
    }
    avr = avr_make_mcu_by_name("atmega328p");
    if (!avr) {
        return 2;
    }
    avr_init(avr);
    avr->frequency = F_CPU;
    avr->sleep = no_sleep;
    avr_load_firmware(avr, &fw);
    avr->frequency = F_CPU;
    memset(avr->data + RAM_START, PAINT, RAM_END - RAM_START + 1);
    uint32_t flags = 0;
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), uart_tx_hook,
                            NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), uart_xon_hook,
                            NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), uart_xoff_hook,
                            NULL);

    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('B'), 4), relay_hook, "B4");
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('B'), 5), pin_hook, "B5");

    /* Inputs driven from outside: keypad columns (PD2..PD5) and the PZEM's TX line on PB2. */
    avr_ioport_external_t ext_d = {.name = 'D', .mask = 0x3C, .value = 0x3C};
    avr_ioctl(avr, AVR_IOCTL_IOPORT_SET_EXTERNAL('D'), &ext_d);
    avr_ioport_external_t ext_b = {.name = 'B', .mask = 0x04, .value = 0x04};
    avr_ioctl(avr, AVR_IOCTL_IOPORT_SET_EXTERNAL('B'), &ext_b);
    avr_ioport_external_t ext_c = {.name = 'C', .mask = 0x01, .value = 0x01};
    avr_ioctl(avr, AVR_IOCTL_IOPORT_SET_EXTERNAL('C'), &ext_c);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('B'), 3), soft_tx_hook, NULL);
    set_input('B', 2, 1);
    set_input('C', 0, 1);
    for (int c = 0; c < 4; c++) {
        set_input(KP_COL[c].port, KP_COL[c].bit, 1);
    }

    static const char *twi_names[2] = {"twi.in", "twi.out"};
    twi_irqs = avr_alloc_irq(&avr->irq_pool, 0, 2, twi_names);
    avr_irq_register_notify(twi_irqs + TWI_IRQ_OUTPUT, twi_hook, NULL);
    avr_connect_irq(avr_io_getirq(avr, AVR_IOCTL_TWI_GETIRQ(0), TWI_IRQ_OUTPUT), twi_irqs + TWI_IRQ_OUTPUT);
    avr_connect_irq(twi_irqs + TWI_IRQ_INPUT, avr_io_getirq(avr, AVR_IOCTL_TWI_GETIRQ(0), TWI_IRQ_INPUT));
    memset(lcd_ddram, ' ', sizeof lcd_ddram);

    avr_irq_register_notify(avr_iomem_getirq(avr, 0x3F, NULL, AVR_IOMEM_IRQ_ALL), eecr_hook, NULL);
    if (ee_image) {
        ee_load_image();
    } else {
        ee_load();
    }

    avr_cycle_count_t limit = ms_cycles(max_ms);
    char line[512];
    int rc = 0;
    if (pty_path) {
        pty_fd = create_pty(pty_path);
        if (pty_fd < 0) {
            fprintf(stderr, "cannot create the pty %s\n", pty_path);
            return 2;
        }
        wall_start = wall_ms();
        /* Runs in real time until SIGINT/SIGTERM; '!' commands on stdin still work (UART via the pty). */
        int stdin_open = 1;
        while (rc >= 0 && avr->cycle < limit) {
            if (stdin_open) {
                fd_set fds;
                struct timeval tv = {0, 0};
                FD_ZERO(&fds);
                FD_SET(0, &fds);
                if (select(1, &fds, NULL, NULL, &tv) > 0) {
                    if (!fgets(line, sizeof line, stdin)) {
                        stdin_open = 0;
                    } else if (line[0] == '!') {
                        line[strcspn(line, "\r\n")] = '\0';
                        rc = command(line);
                        continue;
                    }
                }
            }
            rc = run_until(avr->cycle + ms_cycles(10), 0);
        }
        unlink(pty_path);
    }
    if (!pty_path) {
        rc = run_until(ms_cycles(boot_ms), 0);
    }
    while (!pty_path && rc >= 0 && avr->cycle < limit) {
        if (!fgets(line, sizeof line, stdin)) {
            rc = run_until(avr->cycle + ms_cycles(linger_ms), 0);
            break;
        }
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '!') {
            rc = command(line);
            continue;
        }
        size_t n = strlen(line);
        if (n + 1 > sizeof rxq) {
            continue;
        }
        memcpy(rxq, line, n);
        rxq[n] = '\n';
        rxq_len = n + 1;
        rxq_pos = 0;
        reply_seen = 0;
        /* A request waits for its reply line (at most 2 s of simulated time); a blank line does not. */
        int blank = strspn(line, " ") == n;
        rc = run_until(avr->cycle + ms_cycles(blank ? 5 : 2000), !blank);
        if (rc == 1) {
            fprintf(stderr, "#TIMEOUT no reply to: %s\n", line);
            rc = 0;
        }
    }
    energy_update();
    stack_report();
    fprintf(stderr, "#END cycles=%llu ms=%.3f energy_wh=%.3f eeprom_writes=%lu\n",
            (unsigned long long)avr->cycle, MS(avr->cycle), energy_wh, ee_writes);
    ee_save();
    fflush(uart_out);
    return 0;
}
