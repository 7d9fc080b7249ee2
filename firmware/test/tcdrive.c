/* A line driver for the C decoder, so the scenario vectors also run under ASan/UBSan (make sanitize).
 *
 * stdin:  meter PAN KEYHEX EA KT KRN TI KEN SGC TIDSIZE KCT_TIMEOUT LIMIT SERVICES THRESHOLD BASE MAX TAMPER
 *         e ENTRYHEX NOW_MS          (one entry; ENTRYHEX is the entry's bytes in hex, "-" when empty)
 * stdout: one line per entry: outcome, then the state as in the vectors (registers, sorted TID memory,
 *         key, kt, krn, ti, ken, sgc, held key change subclasses, wrong entries, locked until). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tc_decoder.h"

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a;
    uint32_t y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static size_t unhex(const char *hex, uint8_t *out, size_t max)
{
    size_t n = 0;
    if (strcmp(hex, "-") == 0) {
        return 0;
    }
    while (hex[0] && hex[1] && n < max) {
        unsigned int v;
        if (sscanf(hex, "%2x", &v) != 1) {
            break;
        }
        out[n++] = (uint8_t)v;
        hex += 2;
    }
    return n;
}

static void print_state(const tc_state_t *s)
{
    uint32_t tids[TC_TID_MAX];
    uint8_t i;
    uint8_t nkey = s->key.ea == TC_EA11 ? 16 : 8;
    for (i = 0; i < TC_REGISTERS; i++) {
        printf("%s%lu", i ? "," : " ", (unsigned long)s->registers[i]);
    }
    memcpy(tids, s->tid_memory, sizeof tids);
    qsort(tids, s->config.tid_memory_size, sizeof tids[0], cmp_u32);
    for (i = 0; i < s->config.tid_memory_size; i++) {
        printf("%s%lu", i ? "," : " ", (unsigned long)tids[i]);
    }
    printf(" ");
    for (i = 0; i < nkey; i++) {
        printf("%02X", s->key.key[i]);
    }
    printf(" %u %u %u %u %lu", s->key.kt, s->key.krn, s->key.ti, s->key.ken, (unsigned long)s->key.sgc);
    printf(" [");
    for (i = 0; i < s->pending_count; i++) {
        printf("%s%u", i ? "," : "", s->pending[i].subclass);
    }
    printf("] %u %llu\n", s->wrong_entries, (unsigned long long)s->locked_until_ms);
}

int main(void)
{
    char line[512];
    tc_state_t state;
    int have = 0;
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "meter ", 6) == 0) {
            char pan[32], keyhex[40];
            unsigned ea, kt, krn, ti, ken, size, services, thr, tamper;
            unsigned long sgc, timeout, limit, base, max;
            tc_key_t key;
            tc_config_t config;
            if (sscanf(line + 6, "%31s %39s %u %u %u %u %u %lu %u %lu %lu %u %u %lu %lu %u", pan, keyhex, &ea,
                       &kt, &krn, &ti, &ken, &sgc, &size, &timeout, &limit, &services, &thr, &base, &max,
                       &tamper) != 16 ||
                size < 1 || size > TC_TID_MAX) {
                fprintf(stderr, "bad meter line\n");
                return 2;
            }
            memset(&key, 0, sizeof key);
            unhex(keyhex, key.key, sizeof key.key);
            key.ea = (uint8_t)ea;
            key.kt = (uint8_t)kt;
            key.krn = (uint8_t)krn;
            key.ti = (uint8_t)ti;
            key.ken = (uint8_t)ken;
            key.sgc = (uint32_t)sgc;
            config.tid_memory_size = (uint8_t)size;
            config.kct_timeout_ms = (uint32_t)timeout;
            config.register_limit = (uint32_t)limit;
            config.services = (uint8_t)services;
            config.lockout_threshold = (uint8_t)thr;
            config.lockout_base_ms = (uint32_t)base;
            config.lockout_max_ms = (uint32_t)max;
            tc_state_init(&state, pan, &key, &config);
            state.tamper = (uint8_t)tamper;
            have = 1;
        } else if (strncmp(line, "e ", 2) == 0 && have) {
            char hex[300];
            unsigned long long now;
            uint8_t entry[150];
            tc_result_t r;
            size_t n;
            if (sscanf(line + 2, "%299s %llu", hex, &now) != 2) {
                fprintf(stderr, "bad entry line\n");
                return 2;
            }
            n = unhex(hex, entry, sizeof entry);
            tc_enter_token(&state, (const char *)entry, (uint8_t)n, now, &r);
            printf("%s", tc_status_name(r.outcome));
            print_state(&state);
        }
    }
    return 0;
}
