/* What one `cpuid` costs: on a virtual machine it is an exit to the hypervisor (BENCHMARKS.md, round 9: 7.4 µs on
 * the Intel host, 3.5 on the AMD one), and glibc's start-up runs 40-70 of them.   gcc -O2 cpuid.c -o cpuid */
#include <cpuid.h>
#include <stdio.h>
#include <time.h>

int main(void) {
    struct timespec a, b;
    unsigned eax, ebx, ecx, edx, sink = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 1000; i++) {
        __cpuid_count(4, i & 3, eax, ebx, ecx, edx);
        sink += eax;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("cpuid: %.2f us each (%u)\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1000 / 1000.0, sink & 0);
    return 0;
}
