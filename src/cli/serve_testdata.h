/*
 * serve_testdata.h: the self-service test data's part in `dupla serve`
 * (see serve_testdata.c).
 */
#ifndef DUPLA_CLI_SERVE_TESTDATA_H
#define DUPLA_CLI_SERVE_TESTDATA_H

#include "cli/serve.h"

int testdata_app_routes(struct app *app, err_t *err);

#endif
