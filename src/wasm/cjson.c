/*
 * cjson.c — the JSON subset of cjson/cJSON.h for the WebAssembly build,
 * written for plow (see the header for why). Behaviour follows cJSON 1.7
 * where callers can see it: the parse rules (whitespace is any byte <= 32, a
 * leading UTF-8 BOM is skipped, numbers are what strtod reads from at most 63
 * of the characters 0-9 + - e E ., nesting is limited to 1000, trailing bytes
 * are allowed unless require_null_terminated) and the printed bytes (numbers as
 * %1.15g unless that does not read back, then %1.17g, so -0 is "-0";
 * non-finite numbers as null; the formatted layout with tabs).
 */
#include "include/cjson/cJSON.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- items ------------------------------------------------------------------ */

static cJSON *new_item(int type) {
    cJSON *c = calloc(1, sizeof *c);
    if (c) c->type = type;
    return c;
}

void cJSON_Delete(cJSON *item) {
    while (item) {
        cJSON *next = item->next;
        cJSON_Delete(item->child);
        free(item->valuestring);
        free(item->string);
        free(item);
        item = next;
    }
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

cJSON *cJSON_CreateNull(void) { return new_item(cJSON_NULL); }
cJSON *cJSON_CreateBool(cJSON_bool b) { return new_item(b ? cJSON_True : cJSON_False); }
cJSON *cJSON_CreateArray(void) { return new_item(cJSON_Array); }
cJSON *cJSON_CreateObject(void) { return new_item(cJSON_Object); }

static void set_number(cJSON *c, double num) {
    c->valuedouble = num;
    if (num >= INT_MAX) c->valueint = INT_MAX;
    else if (num <= (double)INT_MIN) c->valueint = INT_MIN;
    else c->valueint = (int)num;
}

cJSON *cJSON_CreateNumber(double num) {
    cJSON *c = new_item(cJSON_Number);
    if (c) set_number(c, num);
    return c;
}

cJSON *cJSON_CreateString(const char *string) {
    cJSON *c = new_item(cJSON_String);
    if (c && !(c->valuestring = dup_str(string))) {
        free(c);
        return NULL;
    }
    return c;
}

cJSON_bool cJSON_AddItemToArray(cJSON *array, cJSON *item) {
    if (!array || !item || array == item) return 0;
    cJSON *ch = array->child;
    if (!ch) {
        array->child = item;
        item->prev = item; /* cJSON keeps the last element in child->prev */
        item->next = NULL;
    } else {
        cJSON *last = ch->prev;
        last->next = item;
        item->prev = last;
        item->next = NULL;
        ch->prev = item;
    }
    return 1;
}

cJSON_bool cJSON_AddItemToObject(cJSON *object, const char *string, cJSON *item) {
    if (!object || !string || !item || object == item) return 0;
    char *k = dup_str(string);
    if (!k) return 0;
    free(item->string);
    item->string = k;
    return cJSON_AddItemToArray(object, item);
}

static cJSON *add(cJSON *object, const char *name, cJSON *item) {
    if (item && cJSON_AddItemToObject(object, name, item)) return item;
    cJSON_Delete(item);
    return NULL;
}

cJSON *cJSON_AddNullToObject(cJSON *o, const char *name) { return add(o, name, cJSON_CreateNull()); }
cJSON *cJSON_AddBoolToObject(cJSON *o, const char *name, cJSON_bool b) { return add(o, name, cJSON_CreateBool(b)); }
cJSON *cJSON_AddNumberToObject(cJSON *o, const char *name, double v) { return add(o, name, cJSON_CreateNumber(v)); }
cJSON *cJSON_AddStringToObject(cJSON *o, const char *name, const char *s) {
    return add(o, name, cJSON_CreateString(s));
}
cJSON *cJSON_AddObjectToObject(cJSON *o, const char *name) { return add(o, name, cJSON_CreateObject()); }
cJSON *cJSON_AddArrayToObject(cJSON *o, const char *name) { return add(o, name, cJSON_CreateArray()); }

int cJSON_GetArraySize(const cJSON *array) {
    int n = 0;
    if (array)
        for (const cJSON *c = array->child; c; c = c->next) n++;
    return n;
}

cJSON *cJSON_GetArrayItem(const cJSON *array, int index) {
    if (!array || index < 0) return NULL;
    cJSON *c = array->child;
    while (c && index-- > 0) c = c->next;
    return c;
}

cJSON *cJSON_GetObjectItemCaseSensitive(const cJSON *object, const char *string) {
    if (!object || !string) return NULL;
    for (cJSON *c = object->child; c; c = c->next)
        if (c->string && strcmp(c->string, string) == 0) return c;
    return NULL;
}

static int type_of(const cJSON *c) { return c ? c->type & 0xff : -1; }
cJSON_bool cJSON_IsInvalid(const cJSON *c) { return type_of(c) == cJSON_Invalid; }
cJSON_bool cJSON_IsFalse(const cJSON *c) { return type_of(c) == cJSON_False; }
cJSON_bool cJSON_IsTrue(const cJSON *c) { return type_of(c) == cJSON_True; }
cJSON_bool cJSON_IsBool(const cJSON *c) { return c && (c->type & (cJSON_True | cJSON_False)) != 0; }
cJSON_bool cJSON_IsNull(const cJSON *c) { return type_of(c) == cJSON_NULL; }
cJSON_bool cJSON_IsNumber(const cJSON *c) { return type_of(c) == cJSON_Number; }
cJSON_bool cJSON_IsString(const cJSON *c) { return type_of(c) == cJSON_String; }
cJSON_bool cJSON_IsArray(const cJSON *c) { return type_of(c) == cJSON_Array; }
cJSON_bool cJSON_IsObject(const cJSON *c) { return type_of(c) == cJSON_Object; }

/* ---- parsing ---------------------------------------------------------------- */

typedef struct parser {
    const unsigned char *p, *end;
    int depth;
} parser;

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && *ps->p <= 32) ps->p++;
}

static int hex4(const unsigned char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10u;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10u;
        else return -1;
    }
    *out = v;
    return 0;
}

/* At '"': the string up to the closing quote, escapes decoded, in *out. */
static int parse_string(parser *ps, char **out) {
    if (ps->p >= ps->end || *ps->p != '"') return -1;
    const unsigned char *s = ps->p + 1, *q = s;
    while (q < ps->end && *q != '"') q += *q == '\\' ? 2 : 1;
    if (q >= ps->end) return -1;
    char *buf = malloc((size_t)(q - s) + 1), *o = buf;
    if (!buf) return -1;
    for (const unsigned char *c = s; c < q;) {
        if (*c != '\\') {
            *o++ = (char)*c++;
            continue;
        }
        c++;
        switch (*c) {
        case 'b': *o++ = '\b'; c++; break;
        case 'f': *o++ = '\f'; c++; break;
        case 'n': *o++ = '\n'; c++; break;
        case 'r': *o++ = '\r'; c++; break;
        case 't': *o++ = '\t'; c++; break;
        case '"': case '\\': case '/': *o++ = (char)*c++; break;
        case 'u': {
            unsigned cp, lo;
            if (q - c < 5 || hex4(c + 1, &cp)) goto bad;
            c += 5;
            if (cp >= 0xDC00 && cp <= 0xDFFF) goto bad;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (q - c < 6 || c[0] != '\\' || c[1] != 'u' || hex4(c + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    goto bad;
                c += 6;
                cp = 0x10000 + ((cp & 0x3FF) << 10 | (lo & 0x3FF));
            }
            if (cp < 0x80) *o++ = (char)cp;
            else if (cp < 0x800) *o++ = (char)(0xC0 | cp >> 6), *o++ = (char)(0x80 | (cp & 0x3F));
            else if (cp < 0x10000)
                *o++ = (char)(0xE0 | cp >> 12), *o++ = (char)(0x80 | (cp >> 6 & 0x3F)), *o++ = (char)(0x80 | (cp & 0x3F));
            else
                *o++ = (char)(0xF0 | cp >> 18), *o++ = (char)(0x80 | (cp >> 12 & 0x3F)),
                *o++ = (char)(0x80 | (cp >> 6 & 0x3F)), *o++ = (char)(0x80 | (cp & 0x3F));
            break;
        }
        default: goto bad;
        }
    }
    *o = 0;
    *out = buf;
    ps->p = q + 1;
    return 0;
bad:
    free(buf);
    return -1;
}

static int parse_value(parser *ps, cJSON *item);

static int parse_number(parser *ps, cJSON *item) {
    char num[64];
    size_t n = 0;
    while (n < sizeof num - 1 && ps->p + n < ps->end && strchr("0123456789+-eE.", ps->p[n]) && ps->p[n]) {
        num[n] = (char)ps->p[n];
        n++;
    }
    num[n] = 0;
    char *after;
    double d = strtod(num, &after);
    if (after == num) return -1;
    item->type = cJSON_Number;
    set_number(item, d);
    ps->p += after - num;
    return 0;
}

static int parse_list(parser *ps, cJSON *item, bool object) {
    if (++ps->depth > CJSON_NESTING_LIMIT) return -1;
    item->type = object ? cJSON_Object : cJSON_Array;
    ps->p++; /* '[' or '{' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == (object ? '}' : ']')) {
        ps->p++;
        ps->depth--;
        return 0;
    }
    for (;;) {
        cJSON *c = new_item(cJSON_Invalid);
        if (!c) return -1;
        cJSON_AddItemToArray(item, c); /* owned by item from here on */
        skip_ws(ps);
        if (object) {
            if (parse_string(ps, &c->string)) return -1;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') return -1;
            ps->p++;
            skip_ws(ps);
        }
        if (parse_value(ps, c)) return -1;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == (object ? '}' : ']')) break;
        return -1;
    }
    ps->p++;
    ps->depth--;
    return 0;
}

static bool literal(parser *ps, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0) return false;
    ps->p += n;
    return true;
}

static int parse_value(parser *ps, cJSON *item) {
    if (ps->p >= ps->end) return -1;
    if (literal(ps, "null")) return item->type = cJSON_NULL, 0;
    if (literal(ps, "false")) return item->type = cJSON_False, 0;
    if (literal(ps, "true")) return item->type = cJSON_True, item->valueint = 1, 0;
    unsigned char c = *ps->p;
    if (c == '"') return parse_string(ps, &item->valuestring) ? -1 : (item->type = cJSON_String, 0);
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(ps, item);
    if (c == '[' || c == '{') return parse_list(ps, item, c == '{');
    return -1;
}

cJSON *cJSON_ParseWithLengthOpts(const char *value, size_t length, const char **return_parse_end,
                                 cJSON_bool require_null_terminated) {
    if (return_parse_end) *return_parse_end = value;
    if (!value || length == 0) return NULL;
    parser ps = {(const unsigned char *)value, (const unsigned char *)value + length, 0};
    if (length >= 3 && memcmp(value, "\xEF\xBB\xBF", 3) == 0) ps.p += 3;
    skip_ws(&ps);
    cJSON *item = new_item(cJSON_Invalid);
    if (!item) return NULL;
    if (parse_value(&ps, item)) goto fail;
    if (require_null_terminated) {
        skip_ws(&ps);
        if (ps.p < ps.end && *ps.p != 0) goto fail;
    }
    if (return_parse_end) *return_parse_end = (const char *)ps.p;
    return item;
fail:
    if (return_parse_end) *return_parse_end = (const char *)(ps.p < ps.end ? ps.p : ps.end - 1);
    cJSON_Delete(item);
    return NULL;
}

cJSON *cJSON_ParseWithLength(const char *value, size_t length) {
    return cJSON_ParseWithLengthOpts(value, length, NULL, 0);
}

cJSON *cJSON_Parse(const char *value) { return value ? cJSON_ParseWithLength(value, strlen(value) + 1) : NULL; }

cJSON *cJSON_ParseWithOpts(const char *value, const char **return_parse_end, cJSON_bool require_null_terminated) {
    if (!value) return NULL;
    return cJSON_ParseWithLengthOpts(value, strlen(value) + 1, return_parse_end, require_null_terminated);
}

/* ---- printing --------------------------------------------------------------- */

typedef struct out {
    char *b;
    size_t n, cap;
    bool oom;
} out;

static void put(out *o, const char *s, size_t n) {
    if (o->oom) return;
    if (o->n + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (o->n + n + 1 > cap) cap *= 2;
        char *b = realloc(o->b, cap);
        if (!b) {
            o->oom = true;
            return;
        }
        o->b = b, o->cap = cap;
    }
    memcpy(o->b + o->n, s, n);
    o->n += n;
    o->b[o->n] = 0;
}

static void puts_(out *o, const char *s) { put(o, s, strlen(s)); }

static void print_string(out *o, const char *s) {
    put(o, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
        char e[8];
        switch (*c) {
        case '"': puts_(o, "\\\""); break;
        case '\\': puts_(o, "\\\\"); break;
        case '\b': puts_(o, "\\b"); break;
        case '\f': puts_(o, "\\f"); break;
        case '\n': puts_(o, "\\n"); break;
        case '\r': puts_(o, "\\r"); break;
        case '\t': puts_(o, "\\t"); break;
        default:
            if (*c < 32) {
                snprintf(e, sizeof e, "\\u%04x", *c);
                puts_(o, e);
            } else {
                put(o, (const char *)c, 1);
            }
        }
    }
    put(o, "\"", 1);
}

static void print_number(out *o, const cJSON *item) {
    char b[32];
    double d = item->valuedouble;
    if (d * 0 != 0) { /* NaN or infinite */
        snprintf(b, sizeof b, "null");
    } else {
        snprintf(b, sizeof b, "%1.15g", d);
        double back = strtod(b, NULL), m = fabs(back) > fabs(d) ? fabs(back) : fabs(d);
        if (!(fabs(back - d) <= m * DBL_EPSILON)) snprintf(b, sizeof b, "%1.17g", d);
    }
    puts_(o, b);
}

static void tabs(out *o, int n) {
    for (int i = 0; i < n; i++) put(o, "\t", 1);
}

static void print_value(out *o, const cJSON *item, bool fmt, int depth) {
    switch (item->type & 0xff) {
    case cJSON_NULL: puts_(o, "null"); break;
    case cJSON_False: puts_(o, "false"); break;
    case cJSON_True: puts_(o, "true"); break;
    case cJSON_Number: print_number(o, item); break;
    case cJSON_String: print_string(o, item->valuestring); break;
    case cJSON_Array:
        put(o, "[", 1);
        for (const cJSON *c = item->child; c; c = c->next) {
            print_value(o, c, fmt, depth + 1); /* cJSON counts arrays in the depth too */
            if (c->next) puts_(o, fmt ? ", " : ",");
        }
        put(o, "]", 1);
        break;
    case cJSON_Object:
        put(o, "{", 1);
        if (fmt) put(o, "\n", 1);
        for (const cJSON *c = item->child; c; c = c->next) {
            if (fmt) tabs(o, depth + 1);
            print_string(o, c->string);
            puts_(o, fmt ? ":\t" : ":");
            print_value(o, c, fmt, depth + 1);
            if (c->next) put(o, ",", 1);
            if (fmt) put(o, "\n", 1);
        }
        if (fmt) tabs(o, depth);
        put(o, "}", 1);
        break;
    default: o->oom = true; /* invalid or raw: cJSON prints nothing */
    }
}

static char *print(const cJSON *item, bool fmt) {
    if (!item) return NULL;
    out o = {0};
    print_value(&o, item, fmt, 0);
    if (o.oom) {
        free(o.b);
        return NULL;
    }
    return o.b;
}

char *cJSON_Print(const cJSON *item) { return print(item, true); }
char *cJSON_PrintUnformatted(const cJSON *item) { return print(item, false); }
