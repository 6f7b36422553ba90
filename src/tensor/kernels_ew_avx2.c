/* kernels_ew_avx2.c — the elementwise kernels built for the avx2 path (see kernels_ew.inc). */
#define EW_TABLE tensor_ew_avx2
#include "kernels_ew.inc"
