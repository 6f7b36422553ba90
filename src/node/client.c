/* client.c — (being written) */
#include "../base/plow.h"
