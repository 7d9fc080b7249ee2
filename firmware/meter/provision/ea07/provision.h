/* Factory provisioning used when the EEPROM holds no valid record (first power-up).
 *
 * This default is the public CTSA test meter of docs/serial-protocol.md section 10 and sts-notes 4.2:
 * PAN 600727000000000009, SGC 123456, TI 01, KRN 1, KT 2 (DUTK), KEN 255, EA07, base date 1993, and
 * the DKGA02 decoder key derived from the public test vending key (E653341F9D5BF36F). A real meter is
 * built with its own provision.h (make avr PROVISION_DIR=...), kept out of the repository: it holds
 * the meter's decoder key. */
#ifndef PROVISION_H
#define PROVISION_H

#define PROVISION_PAN "600727000000000009"
/* The decoder key material: EA07 uses the first 8 bytes (the 64-bit key, big-endian). */
#define PROVISION_KEY                                                                                        \
    {                                                                                                        \
        0xE6, 0x53, 0x34, 0x1F, 0x9D, 0x5B, 0xF3, 0x6F, 0, 0, 0, 0, 0, 0, 0, 0                               \
    }
#define PROVISION_EA  7
#define PROVISION_KT  2
#define PROVISION_KRN 1
#define PROVISION_TI  1
#define PROVISION_KEN 255
#define PROVISION_BD  93
#define PROVISION_SGC 123456UL

#endif
