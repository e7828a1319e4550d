/* memcpy's time per call for short and long copies, for the libc it is linked with (BENCHMARKS.md, round 9):
 *   gcc -O2 -static memcpy.c -o memcpy-glibc && musl-gcc -O2 -static memcpy.c -o memcpy-musl */
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }

int main(void) {
    static char src[1 << 16], dst[1 << 16];
    size_t sizes[] = {16, 40, 64, 200, 1024, 8192};
    void *(*volatile copy)(void *, const void *, size_t) = memcpy; /* a real call, not the compiler's inline copy */
    for (int s = 0; s < 6; s++) {
        size_t n = sizes[s];
        int rounds = 2000000 / (1 + n / 64);
        double start = now();
        for (int i = 0; i < rounds; i++) copy(dst + (i & 7), src + (i & 3), n);
        printf("%5zu B: %.1f ns\n", n, (now() - start) / rounds);
    }
    return 0;
}
