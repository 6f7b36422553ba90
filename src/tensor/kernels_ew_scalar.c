/* kernels_ew_scalar.c — the elementwise kernels built for the scalar path (see kernels_ew.inc). */
#define EW_TABLE tensor_ew_scalar
#include "kernels_ew.inc"
