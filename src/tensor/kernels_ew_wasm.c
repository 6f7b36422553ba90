/* kernels_ew_wasm.c — the elementwise kernels built for the simd128 path (see kernels_ew.inc). */
#define EW_TABLE tensor_ew_simd128
#include "kernels_ew.inc"
