/* Constant tables live in flash on the AVR (PROGMEM) and in ordinary memory on the host.
 * Every table read in the core goes through TC_RD8/TC_RD16 so the same source builds on both. */
#ifndef TC_PGM_H
#define TC_PGM_H

#include <stdint.h>

#ifdef __AVR__
#include <avr/pgmspace.h>
#define TC_PROGMEM  PROGMEM
#define TC_RD8(p)   pgm_read_byte(p)
#define TC_RD16(p)  pgm_read_word(p)
#define TC_RDPTR(p) ((const char *)pgm_read_word(p))
#else
#define TC_PROGMEM
#define TC_RD8(p)   (*(const uint8_t *)(p))
#define TC_RD16(p)  (*(const uint16_t *)(p))
#define TC_RDPTR(p) (*(p))
#endif

#endif
