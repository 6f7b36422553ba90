/* kernels_ew_neon.c — the elementwise kernels built for the neon path (see kernels_ew.inc). */
#define EW_TABLE tensor_ew_neon
#include "kernels_ew.inc"
