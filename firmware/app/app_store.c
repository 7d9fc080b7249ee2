/* EEPROM persistence with two generations.
 *
 * Two slots hold a record each: magic, sequence number, payload, CRC-16 over all of it, written in
 * address order with the CRC last. A save goes to the slot that does not hold the newest valid
 * record, so the newest record is never touched while it is the only good copy: a power cut at any
 * instant leaves the old or the new generation readable, never neither. The loader takes the valid
 * record with the higher sequence number (wrap-safe comparison). Records are streamed to and from
 * the EEPROM, so no RAM buffer is needed. */
#include "app.h"
#include "tc_token.h"

#define STORE_MAGIC     0x4E47u /* "NG" */
#define STORE_SLOT_SIZE 512u
#define STORE_HDR       4u /* magic (2) + sequence (2) */

typedef char store_fits_slot[(STORE_HDR + sizeof(app_persist_t) + 2u <= STORE_SLOT_SIZE) ? 1 : -1];

static uint8_t active_slot = 0xFF; /* slot of the newest valid record, 0xFF = none */
static uint16_t active_seq;

static uint16_t slot_crc(uint16_t base)
{
    uint16_t crc = 0xFFFFu;
    uint16_t i;
    for (i = 0; i < STORE_HDR + sizeof(app_persist_t); i++) {
        uint8_t b;
        hal_eeprom_read((uint16_t)(base + i), &b, 1);
        crc = tc_crc16_update(crc, &b, 1);
    }
    return crc;
}

/* Returns 1 and the sequence number when the slot holds a valid record. */
static uint8_t slot_valid(uint8_t slot, uint16_t *seq)
{
    uint16_t base = (uint16_t)(slot * STORE_SLOT_SIZE);
    uint16_t hdr[2];
    uint16_t crc;
    hal_eeprom_read(base, hdr, sizeof hdr);
    hal_eeprom_read((uint16_t)(base + STORE_HDR + sizeof(app_persist_t)), &crc, sizeof crc);
    if (hdr[0] != STORE_MAGIC || slot_crc(base) != crc) {
        return 0;
    }
    *seq = hdr[1];
    return 1;
}

uint8_t app_store_load(app_persist_t *p)
{
    uint8_t slot;
    uint16_t seq;
    active_slot = 0xFF;
    for (slot = 0; slot < 2; slot++) {
        if (slot_valid(slot, &seq) && (active_slot == 0xFF || (int16_t)(seq - active_seq) > 0)) {
            active_slot = slot;
            active_seq = seq;
        }
    }
    if (active_slot == 0xFF) {
        return 0;
    }
    hal_eeprom_read((uint16_t)(active_slot * STORE_SLOT_SIZE + STORE_HDR), p, sizeof *p);
    return 1;
}

uint8_t app_store_save(const app_persist_t *p)
{
    uint8_t slot = (active_slot == 0) ? 1 : 0;
    uint16_t base = (uint16_t)(slot * STORE_SLOT_SIZE);
    uint16_t hdr[2];
    uint16_t crc;
    uint16_t seq;
    hdr[0] = STORE_MAGIC;
    hdr[1] = (uint16_t)(active_seq + 1u);
    crc = tc_crc16_update(0xFFFFu, (const uint8_t *)hdr, sizeof hdr);
    crc = tc_crc16_update(crc, (const uint8_t *)p, sizeof *p);
    hal_eeprom_write(base, hdr, sizeof hdr);
    hal_eeprom_write((uint16_t)(base + STORE_HDR), p, sizeof *p);
    hal_eeprom_write((uint16_t)(base + STORE_HDR + sizeof *p), &crc, sizeof crc);
    if (!slot_valid(slot, &seq) || seq != hdr[1]) {
        return 0;
    }
    active_slot = slot;
    active_seq = seq;
    return 1;
}
