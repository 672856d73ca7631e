// The one place libpq's headers enter Swift. Only CourierPostgres imports this module.
#ifndef COURIER_CLIBPQ_SHIM_H
#define COURIER_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
