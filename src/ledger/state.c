/* state.c — (being written) */
#include "../base/plow.h"
