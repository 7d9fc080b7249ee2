/*
 * tokencore.ciphers._ea07c: the compiled EA07 (STA, sts-notes section 2.1) for the host.
 *
 * The same table-driven algorithm as tokencore/ciphers/ea07.py, in C: the permutation is linear, so a
 * round is the OR, over the block's eight bytes j, of T[j][sel][byte_j], where T folds the byte's two
 * nibble substitutions (S1 or S2, chosen by one key bit per nibble: the 2-bit `sel`) into the
 * permutation P. The tables are built once per table set (a `Tables` object, 208 KB) from S1, S2 and P;
 * a cipher (`Ea07`) keeps the per-round selectors of one key and a reference to its tables, so a block
 * costs 16 x 8 lookups. The pure-Python module stays the definition: the tests check this one against
 * it, and against the bit-by-bit reference, on every vector and on generated keys and blocks.
 *
 * `credit_token` builds a whole credit token (block, CRC, encryption, class transposition, 20 digits)
 * in one call, and `encrypt_many` encrypts a list of blocks under a list of keys (tokencore.batch).
 * No key material is ever printed: the repr of a cipher hides it, and errors never quote it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------------ */
/* Tables                                                                                           */

typedef struct {
    PyObject_HEAD
    uint64_t enc[8][4][256];      /* substitution (sel: bit 0 low nibble, bit 1 high; 1 = S2), then P */
    uint64_t dec_first[8][256];   /* P^-1 alone: the first step of decryption */
    uint64_t dec_middle[8][4][256]; /* inverse substitution (1 = S1^-1), then P^-1 */
    uint64_t dec_last[8][4][256]; /* inverse substitution alone: the last step */
} TablesObject;

static uint64_t permute(uint64_t x, const uint8_t perm[64]) {
    uint64_t out = 0;
    for (int i = 0; i < 64; i++) {
        if ((x >> i) & 1u) {
            out |= (uint64_t)1 << perm[i];
        }
    }
    return out;
}

/* T[j][sel][v]: byte value v at byte j, nibbles substituted by box0/box1 per sel, then permuted. */
static void chunk_tables(uint64_t out[8][4][256], const uint8_t box0[16], const uint8_t box1[16],
                         const uint8_t *perm) {
    for (int j = 0; j < 8; j++) {
        for (int sel = 0; sel < 4; sel++) {
            const uint8_t *low = (sel & 1) ? box1 : box0;
            const uint8_t *high = (sel & 2) ? box1 : box0;
            for (int v = 0; v < 256; v++) {
                uint64_t placed = (uint64_t)(low[v & 15] | (high[v >> 4] << 4)) << (8 * j);
                out[j][sel][v] = perm ? permute(placed, perm) : placed;
            }
        }
    }
}

static int read_table(PyObject *obj, uint8_t *out, Py_ssize_t size, const char *what) {
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    int ok = view.len == size;
    if (ok) {
        /* Each must be a permutation of 0..size-1 (as TableSet checks): then every index is in range. */
        uint8_t seen[64] = {0};
        const uint8_t *bytes = view.buf;
        for (Py_ssize_t i = 0; i < size && ok; i++) {
            ok = bytes[i] < size && !seen[bytes[i]];
            if (ok) {
                seen[bytes[i]] = 1;
                out[i] = bytes[i];
            }
        }
    }
    PyBuffer_Release(&view);
    if (!ok) {
        PyErr_Format(PyExc_ValueError, "%s must be a permutation of 0..%zd", what, size - 1);
        return -1;
    }
    return 0;
}

static PyObject *Tables_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"s1", "s2", "perm", NULL};
    PyObject *s1_obj, *s2_obj, *perm_obj;
    uint8_t s1[16], s2[16], perm[64], s1_inv[16], s2_inv[16], perm_inv[64];
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO:Tables", kwlist, &s1_obj, &s2_obj, &perm_obj)) {
        return NULL;
    }
    if (read_table(s1_obj, s1, 16, "S1") < 0 || read_table(s2_obj, s2, 16, "S2") < 0 ||
        read_table(perm_obj, perm, 64, "P") < 0) {
        return NULL;
    }
    for (int i = 0; i < 16; i++) {
        s1_inv[s1[i]] = (uint8_t)i;
        s2_inv[s2[i]] = (uint8_t)i;
    }
    for (int i = 0; i < 64; i++) {
        perm_inv[perm[i]] = (uint8_t)i;
    }
    TablesObject *self = (TablesObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    static const uint8_t identity[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    chunk_tables(self->enc, s1, s2, perm);
    uint64_t(*first)[4][256] = PyMem_Malloc(sizeof(uint64_t[8][4][256]));
    if (first == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    chunk_tables(first, identity, identity, perm_inv);
    for (int j = 0; j < 8; j++) {
        memcpy(self->dec_first[j], first[j][0], sizeof(self->dec_first[j]));
    }
    PyMem_Free(first);
    /* Decryption picks S2^-1 when the key bit is 0 and S1^-1 when it is 1. */
    chunk_tables(self->dec_middle, s2_inv, s1_inv, perm_inv);
    chunk_tables(self->dec_last, s2_inv, s1_inv, NULL);
    return (PyObject *)self;
}

static PyTypeObject TablesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokencore.ciphers._ea07c.Tables",
    .tp_doc = PyDoc_STR("Tables(s1, s2, perm): the EA07 round tables of one table set (bytes each)."),
    .tp_basicsize = sizeof(TablesObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Tables_new,
};

/* ------------------------------------------------------------------------------------------------ */
/* One key                                                                                          */

typedef struct {
    PyObject_HEAD
    TablesObject *tables;
    uint8_t enc_sel[16][8]; /* per round and byte: the 2-bit selector from the key */
    uint8_t dec_sel[16][8];
} Ea07Object;

static inline uint64_t rotl64(uint64_t x, int n) { return (x << n) | (x >> (64 - n)); }
static inline uint64_t rotr64(uint64_t x, int n) { return (x >> n) | (x << (64 - n)); }

/* Per byte j, the key bits (8j + offset) and (8j + 4 + offset) as a 2-bit selector. */
static void selectors(uint64_t k, int offset, uint8_t out[8]) {
    for (int j = 0; j < 8; j++) {
        out[j] = (uint8_t)(((k >> (8 * j + offset)) & 1u) | (((k >> (8 * j + 4 + offset)) & 1u) << 1));
    }
}

static void schedule(Ea07Object *self, uint64_t key) {
    uint64_t k = rotr64(~key, 12);
    for (int r = 0; r < 16; r++) {
        selectors(k, 3, self->enc_sel[r]);
        k = rotl64(k, 1);
    }
    k = key;
    for (int r = 0; r < 16; r++) {
        selectors(k, 0, self->dec_sel[r]);
        k = rotr64(k, 1);
    }
}

static inline uint64_t encrypt(const TablesObject *t, const uint8_t sel[16][8], uint64_t x) {
    for (int r = 0; r < 16; r++) {
        const uint8_t *s = sel[r];
        x = t->enc[0][s[0]][x & 255] | t->enc[1][s[1]][(x >> 8) & 255] |
            t->enc[2][s[2]][(x >> 16) & 255] | t->enc[3][s[3]][(x >> 24) & 255] |
            t->enc[4][s[4]][(x >> 32) & 255] | t->enc[5][s[5]][(x >> 40) & 255] |
            t->enc[6][s[6]][(x >> 48) & 255] | t->enc[7][s[7]][x >> 56];
    }
    return x;
}

static inline uint64_t decrypt(const TablesObject *t, const uint8_t sel[16][8], uint64_t x) {
    x = t->dec_first[0][x & 255] | t->dec_first[1][(x >> 8) & 255] | t->dec_first[2][(x >> 16) & 255] |
        t->dec_first[3][(x >> 24) & 255] | t->dec_first[4][(x >> 32) & 255] |
        t->dec_first[5][(x >> 40) & 255] | t->dec_first[6][(x >> 48) & 255] | t->dec_first[7][x >> 56];
    for (int r = 0; r < 16; r++) {
        const uint8_t *s = sel[r];
        const uint64_t(*d)[4][256] = r < 15 ? t->dec_middle : t->dec_last;
        x = d[0][s[0]][x & 255] | d[1][s[1]][(x >> 8) & 255] | d[2][s[2]][(x >> 16) & 255] |
            d[3][s[3]][(x >> 24) & 255] | d[4][s[4]][(x >> 32) & 255] | d[5][s[5]][(x >> 40) & 255] |
            d[6][s[6]][(x >> 48) & 255] | d[7][s[7]][x >> 56];
    }
    return x;
}

/* A Python int in 0 .. 2**64 - 1, else OverflowError (negative or too large) or TypeError. */
static int as_u64(PyObject *obj, uint64_t *out) {
    if (!PyLong_Check(obj)) {
        PyErr_SetString(PyExc_TypeError, "a 64-bit block or key must be an int");
        return -1;
    }
    unsigned long long value = PyLong_AsUnsignedLongLong(obj);
    if (value == (unsigned long long)-1 && PyErr_Occurred()) {
        return -1;
    }
    *out = (uint64_t)value;
    return 0;
}

static PyObject *Ea07_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"tables", "key", NULL};
    PyObject *tables, *key_obj;
    uint64_t key;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O:Ea07", kwlist, &TablesType, &tables, &key_obj)) {
        return NULL;
    }
    if (as_u64(key_obj, &key) < 0) {
        /* Never echo the value: it is key material. */
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "EA07 key must be a 64-bit integer");
        return NULL;
    }
    Ea07Object *self = (Ea07Object *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    Py_INCREF(tables);
    self->tables = (TablesObject *)tables;
    schedule(self, key);
    return (PyObject *)self;
}

static void Ea07_dealloc(Ea07Object *self) {
    Py_XDECREF(self->tables);
    /* The selectors are the key, bit by bit: clear them before the memory goes back. */
    memset(self->enc_sel, 0, sizeof(self->enc_sel));
    memset(self->dec_sel, 0, sizeof(self->dec_sel));
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Ea07_repr(PyObject *self) {
    (void)self;
    return PyUnicode_FromString("Ea07(<key hidden>)");
}

static PyObject *Ea07_encrypt_block(Ea07Object *self, PyObject *block) {
    uint64_t x;
    if (as_u64(block, &x) < 0) {
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(encrypt(self->tables, (const uint8_t(*)[8])self->enc_sel, x));
}

static PyObject *Ea07_decrypt_block(Ea07Object *self, PyObject *block) {
    uint64_t x;
    if (as_u64(block, &x) < 0) {
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(decrypt(self->tables, (const uint8_t(*)[8])self->dec_sel, x));
}

static PyMethodDef Ea07_methods[] = {
    {"encrypt_block", (PyCFunction)Ea07_encrypt_block, METH_O,
     PyDoc_STR("Encrypt one 64-bit block (an int). OverflowError outside 0 .. 2**64 - 1.")},
    {"decrypt_block", (PyCFunction)Ea07_decrypt_block, METH_O,
     PyDoc_STR("Decrypt one 64-bit block (an int). OverflowError outside 0 .. 2**64 - 1.")},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Ea07Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokencore.ciphers._ea07c.Ea07",
    .tp_doc = PyDoc_STR("Ea07(tables, key): EA07 under one 64-bit key; immutable."),
    .tp_basicsize = sizeof(Ea07Object),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Ea07_new,
    .tp_dealloc = (destructor)Ea07_dealloc,
    .tp_repr = Ea07_repr,
    .tp_methods = Ea07_methods,
};

/* ------------------------------------------------------------------------------------------------ */
/* A whole credit token, and many blocks at once                                                    */

static uint16_t crc_table[256]; /* CRC-16/MODBUS, reflected polynomial 0xA001 */

static void crc_init(void) {
    for (int byte = 0; byte < 256; byte++) {
        uint16_t crc = (uint16_t)byte;
        for (int i = 0; i < 8; i++) {
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
        }
        crc_table[byte] = crc;
    }
}

/* sts-notes section 1.8: CRC-16/MODBUS over class || block bits 63..16, byte-swapped. */
static uint16_t token_crc(unsigned token_class, uint64_t block) {
    uint16_t crc = 0xFFFF;
    crc = (uint16_t)((crc >> 8) ^ crc_table[(crc ^ token_class) & 0xFF]);
    for (int shift = 56; shift >= 16; shift -= 8) {
        crc = (uint16_t)((crc >> 8) ^ crc_table[(crc ^ (unsigned)(block >> shift)) & 0xFF]);
    }
    return (uint16_t)((crc << 8) | (crc >> 8));
}

/* The 66-bit token value (class bits at 28..27, their old values moved to 65..64) as 20 digits. */
static PyObject *token_digits(unsigned token_class, uint64_t encrypted) {
    unsigned __int128 value = ((unsigned __int128)((encrypted >> 27) & 3u) << 64) |
                              (encrypted & ~((uint64_t)3 << 27)) | ((uint64_t)token_class << 27);
    char digits[20];
    for (int i = 19; i >= 0; i--) {
        digits[i] = (char)('0' + (int)(value % 10));
        value /= 10;
    }
    return PyUnicode_FromStringAndSize(digits, 20);
}

static int small_arg(PyObject *obj, long limit, long *out) {
    long value = PyLong_AsLong(obj);
    if (value == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (value < 0 || value > limit) {
        PyErr_Format(PyExc_ValueError, "credit token field out of range (0..%ld): %ld", limit, value);
        return -1;
    }
    *out = value;
    return 0;
}

/* credit_token(cipher, subclass, rnd, tid, field) -> (20 digits, plaintext block): class 0 subclasses
 * 0-3, SubClass | RND | TID(24) | Amount(16) | CRC, encrypted and transposed. The caller has applied the
 * vending rules; the ranges are checked again so that no value can spill into another field. */
static PyObject *credit_token(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    long subclass, rnd, tid, field;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "credit_token(cipher, subclass, rnd, tid, field)");
        return NULL;
    }
    if (!PyObject_TypeCheck(args[0], &Ea07Type)) {
        PyErr_SetString(PyExc_TypeError, "credit_token needs a compiled Ea07 cipher");
        return NULL;
    }
    if (small_arg(args[1], 3, &subclass) < 0 || small_arg(args[2], 15, &rnd) < 0 ||
        small_arg(args[3], 0xFFFFFF, &tid) < 0 || small_arg(args[4], 0xFFFF, &field) < 0) {
        return NULL;
    }
    uint64_t block = ((uint64_t)subclass << 60) | ((uint64_t)rnd << 56) | ((uint64_t)tid << 32) |
                     ((uint64_t)field << 16);
    block |= token_crc(0, block);
    const Ea07Object *cipher = (const Ea07Object *)args[0];
    PyObject *digits = token_digits(0, encrypt(cipher->tables, (const uint8_t(*)[8])cipher->enc_sel, block));
    if (digits == NULL) {
        return NULL;
    }
    PyObject *plain = PyLong_FromUnsignedLongLong(block);
    if (plain == NULL) {
        Py_DECREF(digits);
        return NULL;
    }
    PyObject *result = PyTuple_New(2);
    if (result == NULL) {
        Py_DECREF(digits);
        Py_DECREF(plain);
        return NULL;
    }
    PyTuple_SET_ITEM(result, 0, digits);
    PyTuple_SET_ITEM(result, 1, plain);
    return result;
}

/* encrypt_many(tables, keys, blocks) -> list of encrypted blocks, block i under key i. */
static PyObject *encrypt_many(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 3 || !PyObject_TypeCheck(args[0], &TablesType)) {
        PyErr_SetString(PyExc_TypeError, "encrypt_many(tables, keys, blocks)");
        return NULL;
    }
    const TablesObject *tables = (const TablesObject *)args[0];
    PyObject *keys = PySequence_Fast(args[1], "keys must be a sequence");
    if (keys == NULL) {
        return NULL;
    }
    PyObject *blocks = PySequence_Fast(args[2], "blocks must be a sequence");
    if (blocks == NULL) {
        Py_DECREF(keys);
        return NULL;
    }
    PyObject *out = NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(blocks);
    if (PySequence_Fast_GET_SIZE(keys) != n) {
        PyErr_SetString(PyExc_ValueError, "one key per block");
        goto done;
    }
    out = PyList_New(n);
    if (out == NULL) {
        goto done;
    }
    Ea07Object scratch; /* only its selectors are used */
    uint64_t last_key = 0;
    int have_key = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t key, block;
        if (as_u64(PySequence_Fast_GET_ITEM(keys, i), &key) < 0) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "EA07 key must be a 64-bit integer");
            Py_CLEAR(out);
            goto done;
        }
        if (as_u64(PySequence_Fast_GET_ITEM(blocks, i), &block) < 0) {
            Py_CLEAR(out);
            goto done;
        }
        if (!have_key || key != last_key) { /* a batch sorted by meter reuses the schedule */
            schedule(&scratch, key);
            last_key = key;
            have_key = 1;
        }
        PyObject *value = PyLong_FromUnsignedLongLong(encrypt(tables, (const uint8_t(*)[8])scratch.enc_sel, block));
        if (value == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, i, value);
    }
done:
    if (have_key) {
        memset(scratch.enc_sel, 0, sizeof(scratch.enc_sel));
        memset(scratch.dec_sel, 0, sizeof(scratch.dec_sel));
    }
    Py_DECREF(keys);
    Py_DECREF(blocks);
    return out;
}

static PyMethodDef module_methods[] = {
    {"credit_token", (PyCFunction)(void (*)(void))credit_token, METH_FASTCALL,
     PyDoc_STR("credit_token(cipher, subclass, rnd, tid, field) -> (20 digits, plaintext block)")},
    {"encrypt_many", (PyCFunction)(void (*)(void))encrypt_many, METH_FASTCALL,
     PyDoc_STR("encrypt_many(tables, keys, blocks) -> encrypted blocks, block i under key i")},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "tokencore.ciphers._ea07c",
    .m_doc = PyDoc_STR("The compiled EA07 (see tokencore/ciphers/native.py)."),
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__ea07c(void) {
    crc_init();
    if (PyType_Ready(&TablesType) < 0 || PyType_Ready(&Ea07Type) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "Tables", (PyObject *)&TablesType) < 0 ||
        PyModule_AddObjectRef(module, "Ea07", (PyObject *)&Ea07Type) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
