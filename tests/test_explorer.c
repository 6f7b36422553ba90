/*
 * test_explorer.c — the explorer's parsers and lookups (docs/explorer.md):
 * a slot's training log as a worker publishes it (hostile: anything can be
 * in the blob), and the embedded files' names against hostile paths.
 */
#include "test.h"

#include <cjson/cJSON.h>

#include "../src/node/node_internal.h"
#include "../src/node/www.h"

static bool parse(const char *text, cJSON **out, char err[PLOW_ERR_LEN]) {
    *out = cJSON_CreateObject();
    return explorer_parse_log((const uint8_t *)text, strlen(text), *out, err);
}

static void test_explorer_log(void) {
    char err[PLOW_ERR_LEN];
    cJSON *o;
    /* the trainer's own format: empty fields are null, every row as wide as the header */
    CHECK(parse("step,loss,grad_norm,lr,val_loss,seconds\n0,,,,4.5,\n1,6.25,1.5,0.003,,0.79\n2,6.01,2,0.003,,0.45", &o, err));
    cJSON *cols = cJSON_GetObjectItem(o, "columns"), *rows = cJSON_GetObjectItem(o, "rows");
    CHECK(cJSON_GetArraySize(cols) == 6 && strcmp(cJSON_GetArrayItem(cols, 1)->valuestring, "loss") == 0);
    CHECK(cJSON_GetArraySize(rows) == 3);
    CHECK(cJSON_IsNull(cJSON_GetArrayItem(cJSON_GetArrayItem(rows, 0), 1)));
    CHECK(cJSON_GetArrayItem(cJSON_GetArrayItem(rows, 0), 4)->valuedouble == 4.5);
    CHECK(cJSON_GetArrayItem(cJSON_GetArrayItem(rows, 2), 1)->valuedouble == 6.01);
    cJSON_Delete(o);
    /* a short row is padded with nulls */
    CHECK(parse("a,b,c\n1\n", &o, err));
    CHECK(cJSON_GetArraySize(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "rows"), 0)) == 3);
    cJSON_Delete(o);
    /* names are sanitized (never markup) */
    CHECK(parse("st<ep>,\"x\"\n1,2\n", &o, err));
    CHECK(strcmp(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "columns"), 0)->valuestring, "st?ep?") == 0);
    cJSON_Delete(o);
    /* malformed: no header line, a word, NaN, too many fields, a huge number text */
    static const char *const bad[] = {"step,loss", "a,b\n1,x\n", "a,b\n1,nan\n", "a,b\n1,inf\n", "a,b\n1,-infinity\n", "a,b\n1,2,3\n",
                                      "a\n11111111111111111111111111111111111111111111111111111111111111111111\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(!parse(bad[i], &o, err));
        cJSON_Delete(o);
    }
    /* too many columns, too many values: refused before the reply grows */
    plow_buf b = {0};
    for (int i = 0; i < 40; i++) plow_buf_printf(&b, "c%d,", i);
    plow_buf_printf(&b, "x\n");
    CHECK(!explorer_parse_log(b.data, b.len, o = cJSON_CreateObject(), err) && strstr(err, "columns"));
    cJSON_Delete(o);
    b.len = 0;
    plow_buf_printf(&b, "a,b,c\n");
    for (int i = 0; i < 100001; i++) plow_buf_printf(&b, "1,2,3\n");
    CHECK(!explorer_parse_log(b.data, b.len, o = cJSON_CreateObject(), err) && strstr(err, "values"));
    cJSON_Delete(o);
    plow_buf_release(&b);
}

static void test_explorer_www(void) {
    CHECK(www_find("/") && strcmp(www_find("/")->name, "index.html") == 0);
    CHECK(www_find("/app.js") && www_find("/style.css"));
    CHECK(strcmp(www_ctype(www_find("/app.js")), "text/javascript; charset=utf-8") == 0);
    CHECK(strlen(www_etag(www_find("/app.js"))) == 18);
    static const char *const bad[] = {"", "app.js", "//app.js", "/../app.js", "/./app.js", "/app.js/", "/APP.JS",
                                      "/app.js%00", "/www/app.js", "/index.html/..", NULL};
    for (size_t i = 0; bad[i]; i++) CHECK(www_find(bad[i]) == NULL);
    CHECK(www_find(NULL) == NULL);
}

const test_case explorer_tests[] = {
    {"explorer_log", test_explorer_log},
    {"explorer_www", test_explorer_www},
    {NULL, NULL},
};
