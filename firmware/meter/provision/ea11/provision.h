/* Provisioning of the EA11 (MISTY1) test meter of sts-notes 4.2/4.5: PAN 600727000000000009,
 * SGC 123457, TI 01, KRN 1, KT 2, KEN 255, base date 1993, DKGA04/MISTY1 key
 * F94B6ED353C3BFDB113E2D3A7EA3C41D (public test vending key). Used by the tests and the MISTY1
 * cycle benchmark. */
#ifndef PROVISION_H
#define PROVISION_H

#define PROVISION_PAN "600727000000000009"
/* EA11: the 16 key bytes in MISTY1 order. */
#define PROVISION_KEY                                                                                        \
    {                                                                                                        \
        0xF9, 0x4B, 0x6E, 0xD3, 0x53, 0xC3, 0xBF, 0xDB, 0x11, 0x3E, 0x2D, 0x3A, 0x7E, 0xA3, 0xC4, 0x1D       \
    }
#define PROVISION_EA  11
#define PROVISION_KT  2
#define PROVISION_KRN 1
#define PROVISION_TI  1
#define PROVISION_KEN 255
#define PROVISION_BD  93
#define PROVISION_SGC 123457UL

#endif
