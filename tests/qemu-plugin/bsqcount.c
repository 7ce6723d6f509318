/*
 * bsqcount: the bsq benchmark's QEMU TCG plugin (plugin API version 1, QEMU 7.2 as in Debian 12).
 *
 * For every executed guest instruction a callback runs (exact counts, no per-block shortcut). Between
 * entering the marker function `start` and entering the marker function `stop` it counts
 *   - executed instructions (exact), and
 *   - ESTIMATED Cortex-M4 cycles: a per-instruction cost from the instruction timing table of the
 *     Arm Cortex-M4 Technical Reference Manual (r0p1, section 3.3.1, and the FPU table), applied to
 *     each executed instruction. QEMU models no pipeline, caches, wait states or bus contention;
 *     this is an estimate, not a measurement (see docs/benchmarks.md).
 * At each stop it prints `INSNREGION idx=N insns=M cycles=C`; at exit `INSNCOUNT total=.. region=..
 * regions=.. cycles=..`.
 *
 * Arguments (comma separated after the library path):
 *   start=0xADDR,stop=0xADDR  the marker functions (Thumb bit ignored). The instruction at `start` is
 *                             the first one counted, the one at `stop` is not.
 *   hist=PATH                 at exit, write a per-PC CSV histogram of the instructions executed inside
 *                             the regions: pc,count,class,est_cycles,size,encoding.
 *   p=N                       pipeline refill penalty P of a taken branch (default 2; the TRM gives 1..3).
 *   div=N                     cycles of SDIV/UDIV (default 12, the TRM's worst case; it gives 2..12).
 *
 * Cost model (TRM table; N = registers transferred, P = refill penalty):
 *   data processing, IT, hints, MRS/MSR, barriers     1
 *   MUL/MLA/MLS, DSP and long multiplies (SMLAD, ...) 1
 *   SDIV/UDIV                                         12 (TRM: 2..12 by early termination; worst case)
 *   single load/store (LDR/STR/LDRB/.., LDREX/STREX)  2, or 1 when the previous executed instruction was
 *                                                     also a single load/store (TRM: neighbouring
 *                                                     loads/stores pipeline)
 *   LDRD/STRD                                         3 (1 + N, N = 2)
 *   LDM/STM/PUSH/POP                                  1 + N, + P when the PC is loaded and the branch taken
 *   LDR PC                                            2 + P
 *   B/BL/BX/BLX, MOV/ADD to PC                        1 + P when taken
 *   B<cond>, CBZ/CBNZ                                 1 + P when taken, 1 when not
 *   TBB/TBH                                           2 + P when taken
 *   FPU: VADD/VSUB/VMUL/VNMUL/VABS/VNEG/VCVT/VCMP/VMOV 1; VMLA/VMLS/VNMLA/VNMLS/VFMA/VFMS/VFNMA/VFNMS 3;
 *        VDIV/VSQRT 14; VLDR/VSTR 2; VLDM/VSTM/VPUSH/VPOP 1 + N (N = 32-bit words); VMOV of two core
 *        registers 2
 * "Taken" is decided exactly: the next executed instruction's address differs from pc + size.
 *
 * Declarations are written by hand (only what is used) because Debian ships no qemu-plugin.h.
 * Build: gcc -shared -fPIC -O2 -Wall -Wextra -o libbsqcount.so bsqcount.c
 * Use:   qemu-system-arm ... -plugin ./libbsqcount.so,start=0x..,stop=0x.. -d plugin
 *
 * Define BSQCOUNT_CLASSIFIER_ONLY before including this file to get only the decoder (bsq_classify),
 * as the classifier test driver (classify_test.c) does.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------- */
/* Classifier: Thumb / Thumb-2 encodings (Armv7-M ARM, chapter A5 and A6) -> timing class.        */
/* ---------------------------------------------------------------------------------------------- */

enum bsq_class {
    BSQ_DP,      /* data processing, shifts, extends, bitfield, saturate, REV, CLZ, ADR, MOV/ADD/CMP */
    BSQ_MUL,     /* MUL/MLA/MLS, SMLAxy/SMLAD/SMUAD/SMMUL/USADA8.., SMULL/UMULL/SMLAL/UMLAL/UMAAL/SMLALD */
    BSQ_DIV,     /* SDIV/UDIV */
    BSQ_LS,      /* single load/store (incl. literal, exclusive) */
    BSQ_LSD,     /* LDRD/STRD */
    BSQ_LSM,     /* LDM/STM/PUSH/POP without PC */
    BSQ_LSM_PC,  /* LDM/POP with PC in the list */
    BSQ_LDR_PC,  /* LDR PC, [...] */
    BSQ_B,       /* B, BL (unconditional encodings; conditional inside an IT block) */
    BSQ_BCOND,   /* B<cond> */
    BSQ_CBZ,     /* CBZ/CBNZ */
    BSQ_BX,      /* BX/BLX register */
    BSQ_PCW,     /* MOV PC, Rm / ADD PC, Rm (16-bit) */
    BSQ_TB,      /* TBB/TBH */
    BSQ_IT,      /* IT */
    BSQ_FP,      /* FPU single-cycle: VADD/VSUB/VMUL/VNMUL/VABS/VNEG/VCVT/VCMP/VMOV/VMRS/VMSR */
    BSQ_FP_MAC,  /* VMLA/VMLS/VNMLA/VNMLS/VFMA/VFMS/VFNMA/VFNMS */
    BSQ_FP_DIV,  /* VDIV/VSQRT */
    BSQ_FP_LS,   /* VLDR/VSTR */
    BSQ_FP_LSM,  /* VLDM/VSTM/VPUSH/VPOP */
    BSQ_FP_MOV2, /* VMOV between two core registers and a double / two singles */
    BSQ_SYS,     /* hints (NOP, WFI, ..), MSR/MRS, barriers, CPS, SVC, BKPT, PLD/PLI, other coprocessors */
    BSQ_UNDEF,   /* unallocated / UNDEFINED in Armv7-M */
    BSQ_NCLASSES
};

static const char *const bsq_class_names[BSQ_NCLASSES] = {
    "dp", "mul", "div", "ls", "lsd", "lsm", "lsm_pc", "ldr_pc", "b", "bcond", "cbz", "bx",
    "pcwrite", "tb", "it", "fp", "fp_mac", "fp_div", "fp_ls", "fp_lsm", "fp_mov2", "sys", "undef",
};

#define BSQ_F_LS 1u     /* single load/store: 1 cycle instead of 2 after another single load/store */
#define BSQ_F_BRANCH 2u /* may write the PC: + P when the next executed pc != pc + size */

struct bsq_decoded {
    uint8_t cls;   /* enum bsq_class */
    uint8_t base;  /* cycles before pipelining (-1 for BSQ_F_LS after a single load/store) and + P */
    uint8_t flags; /* BSQ_F_* */
    uint8_t size;  /* 2 or 4 bytes */
};

static struct bsq_decoded bsq_mk(enum bsq_class cls, unsigned base) {
    struct bsq_decoded d;
    d.cls = (uint8_t)cls;
    d.base = (uint8_t)(base > 255 ? 255 : base);
    d.size = 2;
    switch (cls) {
    case BSQ_LS: d.flags = BSQ_F_LS; break;
    case BSQ_LSM_PC: case BSQ_LDR_PC: case BSQ_B: case BSQ_BCOND: case BSQ_CBZ: case BSQ_BX:
    case BSQ_PCW: case BSQ_TB:
        d.flags = BSQ_F_BRANCH; break;
    default: d.flags = 0; break;
    }
    return d;
}

static unsigned bsq_popcount(unsigned x) { return (unsigned)__builtin_popcount(x); }

/* A5.2.5 Miscellaneous 16-bit instructions (first halfword 1011 xxxx xxxx xxxx). */
static struct bsq_decoded bsq_misc16(uint16_t h) {
    unsigned o = (h >> 5) & 0x7F; /* bits [11:5] */
    if ((h & 0x0500) == 0x0100) return bsq_mk(BSQ_CBZ, 1);            /* x0x1xxx CBZ/CBNZ */
    if ((o & 0x78) == 0x00) return bsq_mk(BSQ_DP, 1);                 /* 0000xxx ADD/SUB SP, #imm */
    if ((o & 0x78) == 0x10) return bsq_mk(BSQ_DP, 1);                 /* 0010xxx SXTH/SXTB/UXTH/UXTB */
    if ((o & 0x70) == 0x20)                                           /* 010xxxx PUSH */
        return bsq_mk(BSQ_LSM, 1 + bsq_popcount(h & 0xFF) + ((h >> 8) & 1));
    if (o == 0x33) return bsq_mk(BSQ_SYS, 1);                         /* 0110011 CPS */
    if ((o & 0x78) == 0x50 && (o & 0x06) != 0x04) return bsq_mk(BSQ_DP, 1); /* REV/REV16/REVSH */
    if ((o & 0x70) == 0x60) {                                         /* 110xxxx POP */
        unsigned n = bsq_popcount(h & 0xFF) + ((h >> 8) & 1);
        return bsq_mk((h & 0x0100) ? BSQ_LSM_PC : BSQ_LSM, 1 + n);
    }
    if ((o & 0x78) == 0x70) return bsq_mk(BSQ_SYS, 1);                /* 1110xxx BKPT */
    if ((o & 0x78) == 0x78)                                           /* 1111xxx IT / hints */
        return (h & 0xF) ? bsq_mk(BSQ_IT, 1) : bsq_mk(BSQ_SYS, 1);
    return bsq_mk(BSQ_UNDEF, 1);
}

/* A5.2 16-bit Thumb instruction encoding. */
static struct bsq_decoded bsq_decode16(uint16_t h) {
    unsigned op = h >> 10; /* bits [15:10] */
    if ((op & 0x30) == 0x00) return bsq_mk(BSQ_DP, 1); /* 00xxxx shift (imm), add, sub, mov, cmp */
    if (op == 0x10)                                     /* 010000 data processing; 1101 = MUL */
        return bsq_mk(((h >> 6) & 0xF) == 0xD ? BSQ_MUL : BSQ_DP, 1);
    if (op == 0x11) {                                   /* 010001 special data, branch and exchange */
        unsigned o = (h >> 6) & 0xF;
        unsigned rd = ((h >> 4) & 8) | (h & 7);
        if ((o & 0xC) == 0x0 || (o & 0xC) == 0x8)       /* ADD (register), MOV (register) */
            return bsq_mk(rd == 15 ? BSQ_PCW : BSQ_DP, 1);
        if ((o & 0xC) == 0x4) return bsq_mk(BSQ_DP, 1); /* CMP (register) */
        return bsq_mk(BSQ_BX, 1);                       /* 110x BX, 111x BLX */
    }
    if ((op & 0x3E) == 0x12) return bsq_mk(BSQ_LS, 2); /* 01001x LDR (literal) */
    if ((op & 0x3C) == 0x14 || (op & 0x38) == 0x18 || (op & 0x38) == 0x20)
        return bsq_mk(BSQ_LS, 2);                       /* 0101xx, 011xxx, 100xxx load/store single */
    if ((op & 0x3C) == 0x28) return bsq_mk(BSQ_DP, 1); /* 10100x ADR, 10101x ADD SP, #imm */
    if ((op & 0x3C) == 0x2C) return bsq_misc16(h);     /* 1011xx miscellaneous */
    if ((op & 0x3C) == 0x30)                            /* 11000x STM, 11001x LDM */
        return bsq_mk(BSQ_LSM, 1 + bsq_popcount(h & 0xFF));
    if ((op & 0x3C) == 0x34) {                          /* 1101xx B<cond>, UDF, SVC */
        unsigned cond = (h >> 8) & 0xF;
        if (cond == 0xE) return bsq_mk(BSQ_UNDEF, 1);
        if (cond == 0xF) return bsq_mk(BSQ_SYS, 1);
        return bsq_mk(BSQ_BCOND, 1);
    }
    if ((op & 0x3E) == 0x38) return bsq_mk(BSQ_B, 1); /* 11100x B */
    return bsq_mk(BSQ_UNDEF, 1);
}

/* A5.3.18 coprocessor instructions; A6.4-A6.7 floating-point (coprocessors 10 and 11, T1 forms). */
static struct bsq_decoded bsq_coproc(uint16_t h1, uint16_t h2) {
    unsigned o = (h1 >> 4) & 0x3F; /* op1, bits [9:4] */
    bool fp = (h1 >> 12) == 0xE && ((h2 >> 9) & 7) == 5;
    if ((o & 0x3E) == 0x00) return bsq_mk(BSQ_UNDEF, 1);
    if (!fp) return bsq_mk(BSQ_SYS, 1);                      /* other coprocessors, T2 (1111) forms */
    if ((o & 0x3E) == 0x04) return bsq_mk(BSQ_FP_MOV2, 2);   /* 00010x 64-bit transfers */
    if ((o & 0x20) == 0x00) {                                /* 0xxxxx extension register load/store */
        bool p = (h1 >> 8) & 1, w = (h1 >> 5) & 1;
        if (p && !w) return bsq_mk(BSQ_FP_LS, 2);            /* VLDR/VSTR */
        return bsq_mk(BSQ_FP_LSM, 1 + (h2 & 0xFF));          /* VLDM/VSTM/VPUSH/VPOP, imm8 words */
    }
    if ((o & 0x30) == 0x20) {                                /* 10xxxx */
        if (h2 & 0x10) return bsq_mk(BSQ_FP, 1);             /* 32-bit transfers: VMOV, VMRS, VMSR */
        unsigned opc1 = ((h1 >> 5) & 4) | ((h1 >> 4) & 3);  /* bits 23, 21, 20 (22 is D) */
        switch (opc1) {
        case 0: case 1: case 5: case 6: return bsq_mk(BSQ_FP_MAC, 3); /* VMLA/VNMLA/VFNMA/VFMA */
        case 4: return bsq_mk(BSQ_FP_DIV, 14);                         /* VDIV */
        case 7:                                                        /* other: VSQRT is opc2 0001, opc3 11 */
            if ((h1 & 0xF) == 1 && ((h2 >> 6) & 3) == 3) return bsq_mk(BSQ_FP_DIV, 14);
            return bsq_mk(BSQ_FP, 1);
        default: return bsq_mk(BSQ_FP, 1);                             /* VMUL/VNMUL, VADD/VSUB */
        }
    }
    return bsq_mk(BSQ_UNDEF, 1);
}

/* A5.3 32-bit Thumb instruction encoding. */
static struct bsq_decoded bsq_decode32(uint16_t h1, uint16_t h2) {
    unsigned op1 = (h1 >> 11) & 3, op2 = (h1 >> 4) & 0x7F;
    if (op1 == 1) {
        if ((op2 & 0x64) == 0x00) {                     /* 00xx0xx load/store multiple */
            unsigned o = (h1 >> 7) & 3;
            bool load = (h1 >> 4) & 1;
            if (o == 1 || o == 2) {                     /* STM/LDM/POP (IA), STMDB/PUSH/LDMDB */
                unsigned n = bsq_popcount(h2);
                return bsq_mk(load && (h2 & 0x8000) ? BSQ_LSM_PC : BSQ_LSM, 1 + n);
            }
            return bsq_mk(BSQ_UNDEF, 1);                /* SRS/RFE: not Armv7-M */
        }
        if ((op2 & 0x64) == 0x04) {                     /* 00xx1xx dual, exclusive, table branch */
            unsigned o1 = (h1 >> 7) & 3, o2 = (h1 >> 4) & 3, o3 = (h2 >> 4) & 0xF;
            if (o1 == 0 && o2 <= 1) return bsq_mk(BSQ_LS, 2);          /* STREX, LDREX */
            if ((o1 & 2) == 2 || (o2 & 2) == 2) return bsq_mk(BSQ_LSD, 3); /* STRD/LDRD */
            if (o2 == 1 && o3 <= 1) return bsq_mk(BSQ_TB, 2);          /* TBB, TBH */
            return bsq_mk(BSQ_LS, 2);                                  /* STREXB/H, LDREXB/H */
        }
        if ((op2 & 0x60) == 0x20) return bsq_mk(BSQ_DP, 1); /* 01xxxxx data processing (shifted reg) */
        return bsq_coproc(h1, h2);                           /* 1xxxxxx coprocessor */
    }
    if (op1 == 2) {
        if (!(h2 & 0x8000)) return bsq_mk(BSQ_DP, 1);   /* data processing (modified/plain immediate) */
        unsigned b = (h2 >> 12) & 7;                    /* A5.3.4 branches and miscellaneous control */
        if ((b & 5) == 0) {
            if ((op2 & 0x38) != 0x38) return bsq_mk(BSQ_BCOND, 1); /* B<cond> T3 */
            if (b == 2 && op2 == 0x7F) return bsq_mk(BSQ_UNDEF, 1); /* UDF */
            return bsq_mk(BSQ_SYS, 1);                  /* MSR, hints, DSB/DMB/ISB/CLREX, MRS */
        }
        if ((b & 1) == 1) return bsq_mk(BSQ_B, 1);      /* 0x1 B T4, 1x1 BL */
        return bsq_mk(BSQ_UNDEF, 1);                    /* 1x0 BLX (immediate): not Armv7-M */
    }
    /* op1 == 3 */
    if ((op2 & 0x71) == 0x00) return bsq_mk(BSQ_LS, 2); /* 000xxx0 store single data item */
    if ((op2 & 0x67) == 0x01 || (op2 & 0x67) == 0x03) { /* 00xx001 load byte, 00xx011 load halfword */
        if (((h2 >> 12) & 0xF) == 0xF) return bsq_mk(BSQ_SYS, 1); /* Rt = PC: PLD/PLI, hints */
        return bsq_mk(BSQ_LS, 2);
    }
    if ((op2 & 0x67) == 0x05)                           /* 00xx101 load word */
        return ((h2 >> 12) & 0xF) == 0xF ? bsq_mk(BSQ_LDR_PC, 2) : bsq_mk(BSQ_LS, 2);
    if ((op2 & 0x70) == 0x20) return bsq_mk(BSQ_DP, 1); /* 010xxxx data processing (register) */
    if ((op2 & 0x78) == 0x30) return bsq_mk(BSQ_MUL, 1); /* 0110xxx multiply, MAC, abs. difference */
    if ((op2 & 0x78) == 0x38) {                          /* 0111xxx long multiply, divide */
        unsigned o1 = (h1 >> 4) & 7, o2 = (h2 >> 4) & 0xF;
        if ((o1 == 1 || o1 == 3) && o2 == 0xF) return bsq_mk(BSQ_DIV, 12);
        return bsq_mk(BSQ_MUL, 1);
    }
    if (op2 & 0x40) return bsq_coproc(h1, h2);          /* 1xxxxxx coprocessor */
    return bsq_mk(BSQ_UNDEF, 1);                         /* 00xx111, 001xxx0 */
}

/* Classifies the instruction whose first halfword is h1 (h2: the second halfword of a 32-bit one). */
static struct bsq_decoded bsq_classify(uint16_t h1, uint16_t h2) {
    unsigned top = h1 >> 11;
    if (top == 0x1D || top == 0x1E || top == 0x1F) {
        struct bsq_decoded d = bsq_decode32(h1, h2);
        d.size = 4;
        return d;
    }
    return bsq_decode16(h1);
}

#ifndef BSQCOUNT_CLASSIFIER_ONLY

/* ---------------------------------------------------------------------------------------------- */
/* Plugin                                                                                          */
/* ---------------------------------------------------------------------------------------------- */

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t, void *);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int, void *);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, qemu_plugin_vcpu_tb_trans_cb_t);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *, qemu_plugin_vcpu_udata_cb_t,
                                            enum qemu_plugin_cb_flags, void *);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, qemu_plugin_udata_cb_t, void *);
void qemu_plugin_outs(const char *);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define REC_START 1u
#define REC_STOP 2u

/* One translated instruction. A pc translated again (after a TB flush) gets a second record; the
 * histogram merges records by pc. Records are never freed (translations are few). */
struct rec {
    uint64_t pc;
    uint64_t count;  /* executions inside regions */
    uint64_t cycles; /* estimated cycles inside regions */
    uint32_t encoding;
    uint8_t size;
    uint8_t marks; /* REC_START / REC_STOP */
    struct bsq_decoded d;
};

static uint64_t start_addr = 1, stop_addr = 1; /* odd: never matches */
static unsigned penalty = 2;                    /* P */
static int div_cycles = -1;                     /* SDIV/UDIV cycles; -1: the table's 12 */
static char *hist_path;

static uint64_t total;                      /* all executed instructions */
static uint64_t region_insns, region_cycles; /* the open region */
static uint64_t sum_insns, sum_cycles, regions;
static bool in_region;
static struct rec *prev;    /* the previous executed instruction */
static bool prev_counted;   /* whether prev was counted inside a region */

static struct rec **recs;
static size_t nrecs, caprecs;

static void insn_exec(unsigned int vcpu, void *udata) {
    (void)vcpu;
    struct rec *r = udata;
    total++;
    /* The previous instruction's branch penalty is known now: taken iff we are not at pc + size. */
    if (prev_counted && (prev->d.flags & BSQ_F_BRANCH) && r->pc != prev->pc + prev->size) {
        region_cycles += penalty;
        prev->cycles += penalty;
    }
    if ((r->marks & REC_STOP) && in_region) {
        char buf[160];
        snprintf(buf, sizeof buf, "INSNREGION idx=%" PRIu64 " insns=%" PRIu64 " cycles=%" PRIu64 "\n", regions,
                 region_insns, region_cycles);
        qemu_plugin_outs(buf);
        sum_insns += region_insns;
        sum_cycles += region_cycles;
        regions++;
        in_region = false;
    }
    if (r->marks & REC_START) {
        region_insns = region_cycles = 0;
        in_region = true;
    }
    if (in_region) {
        unsigned c = r->d.base;
        if ((r->d.flags & BSQ_F_LS) && prev && (prev->d.flags & BSQ_F_LS)) c -= 1;
        region_insns++;
        region_cycles += c;
        r->count++;
        r->cycles += c;
    }
    prev_counted = in_region;
    prev = r;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        struct rec *r = calloc(1, sizeof *r);
        if (!r) abort();
        const uint8_t *b = qemu_plugin_insn_data(insn);
        size_t size = qemu_plugin_insn_size(insn);
        uint16_t h1 = size >= 2 ? (uint16_t)(b[0] | b[1] << 8) : 0;
        uint16_t h2 = size >= 4 ? (uint16_t)(b[2] | b[3] << 8) : 0;
        r->pc = qemu_plugin_insn_vaddr(insn);
        r->size = (uint8_t)size;
        r->encoding = size >= 4 ? ((uint32_t)h1 << 16 | h2) : h1;
        r->d = bsq_classify(h1, h2);
        if (r->d.cls == BSQ_DIV && div_cycles >= 0) r->d.base = (uint8_t)div_cycles;
        if (r->pc == start_addr) r->marks |= REC_START;
        if (r->pc == stop_addr) r->marks |= REC_STOP;
        if (nrecs == caprecs) {
            caprecs = caprecs ? 2 * caprecs : 4096;
            recs = realloc(recs, caprecs * sizeof *recs);
            if (!recs) abort();
        }
        recs[nrecs++] = r;
        qemu_plugin_register_vcpu_insn_exec_cb(insn, insn_exec, QEMU_PLUGIN_CB_NO_REGS, r);
    }
}

static int by_pc(const void *a, const void *b) {
    const struct rec *x = *(const struct rec *const *)a, *y = *(const struct rec *const *)b;
    return x->pc < y->pc ? -1 : x->pc > y->pc;
}

static void write_hist(void) {
    FILE *f = fopen(hist_path, "w");
    if (!f) {
        char buf[512];
        snprintf(buf, sizeof buf, "BSQCOUNT error: cannot write histogram %s\n", hist_path);
        qemu_plugin_outs(buf);
        return;
    }
    qsort(recs, nrecs, sizeof *recs, by_pc);
    fprintf(f, "pc,count,class,est_cycles,size,encoding\n");
    for (size_t i = 0; i < nrecs;) {
        const struct rec *r = recs[i];
        uint64_t count = 0, cycles = 0;
        size_t j = i;
        for (; j < nrecs && recs[j]->pc == r->pc; j++) {
            count += recs[j]->count;
            cycles += recs[j]->cycles;
        }
        if (count)
            fprintf(f, "0x%08" PRIx64 ",%" PRIu64 ",%s,%" PRIu64 ",%u,%0*" PRIx32 "\n", r->pc, count,
                    bsq_class_names[r->d.cls], cycles, (unsigned)r->size, r->size >= 4 ? 8 : 4, r->encoding);
        i = j;
    }
    fclose(f);
}

static void at_exit(qemu_plugin_id_t id, void *u) {
    (void)id;
    (void)u;
    char buf[256];
    snprintf(buf, sizeof buf, "INSNCOUNT total=%" PRIu64 " region=%" PRIu64 " regions=%" PRIu64 " cycles=%" PRIu64 "\n",
             total, sum_insns, regions, sum_cycles);
    qemu_plugin_outs(buf);
    if (hist_path) write_hist();
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv) {
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "start=", 6)) start_addr = strtoull(argv[i] + 6, NULL, 0) & ~1ull; /* Thumb bit */
        else if (!strncmp(argv[i], "stop=", 5)) stop_addr = strtoull(argv[i] + 5, NULL, 0) & ~1ull;
        else if (!strncmp(argv[i], "hist=", 5)) hist_path = strdup(argv[i] + 5);
        else if (!strncmp(argv[i], "p=", 2)) penalty = (unsigned)strtoul(argv[i] + 2, NULL, 0);
        else if (!strncmp(argv[i], "div=", 4)) {
            unsigned long v = strtoul(argv[i] + 4, NULL, 0);
            div_cycles = (int)(v > 255 ? 255 : v);
        }
        else {
            char buf[256];
            snprintf(buf, sizeof buf, "bsqcount: unknown argument %.200s\n", argv[i]);
            qemu_plugin_outs(buf);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}

#endif /* BSQCOUNT_CLASSIFIER_ONLY */
