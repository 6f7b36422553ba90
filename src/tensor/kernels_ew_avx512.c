/* kernels_ew_avx512.c — the elementwise kernels built for the avx512 path (see kernels_ew.inc). */
#define EW_TABLE tensor_ew_avx512
#include "kernels_ew.inc"
