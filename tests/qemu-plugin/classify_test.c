/*
 * Test driver for bsqcount.c's instruction classifier (built and run by tests/tests/plugin.rs).
 *
 * Each argument (or, without arguments, each line of stdin) is one Thumb instruction as hex halfwords
 * in execution order: "d1dd" (16-bit) or "f8596b04" (32-bit: first halfword f859, second 6b04).
 * Prints one line per instruction: "<hex> <class> <base cycles> <flags> <size>", where flags is
 * "ls" (pipelinable single load/store), "br" (+P when taken) or "-".
 *
 * Build: gcc -O2 -Wall -Wextra -o classify_test classify_test.c
 */
#define BSQCOUNT_CLASSIFIER_ONLY
#include "bsqcount.c"

static int one(const char *s) {
    char hex[16];
    size_t n = 0;
    for (; *s && n < sizeof hex - 1; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') hex[n++] = *s;
    hex[n] = 0;
    if (n != 4 && n != 8) {
        fprintf(stderr, "classify_test: expected 4 or 8 hex digits, got \"%s\"\n", hex);
        return 1;
    }
    char *end;
    unsigned long v = strtoul(hex, &end, 16);
    if (*end) {
        fprintf(stderr, "classify_test: not hex: \"%s\"\n", hex);
        return 1;
    }
    uint16_t h1 = (uint16_t)(n == 8 ? v >> 16 : v), h2 = (uint16_t)(n == 8 ? v & 0xFFFF : 0);
    struct bsq_decoded d = bsq_classify(h1, h2);
    if ((n == 8) != (d.size == 4)) {
        fprintf(stderr, "classify_test: %s: size %u does not match the digits given\n", hex, (unsigned)d.size);
        return 1;
    }
    const char *flags = (d.flags & BSQ_F_LS) ? "ls" : (d.flags & BSQ_F_BRANCH) ? "br" : "-";
    printf("%s %s %u %s %u\n", hex, bsq_class_names[d.cls], (unsigned)d.base, flags, (unsigned)d.size);
    return 0;
}

int main(int argc, char **argv) {
    int bad = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++) bad |= one(argv[i]);
    } else {
        char line[256];
        while (fgets(line, sizeof line, stdin))
            if (line[0] != '\n') bad |= one(line);
    }
    return bad;
}
