/*
 * json_scan_int.h — a cheap pre-scan of JSON text that bounds what parsing it into a json-c
 * tree would cost, used before any tree is built by the JSON serde (base/serdes.c) and the
 * FaaS response decoder (faas_bridge/wire_response.c).
 */
#ifndef RILL_JSON_SCAN_H
#define RILL_JSON_SCAN_H

#include <stddef.h>

/* Deepest nesting accepted (json-c's own default limit is 32 as well). */
#define RILL_JSON_MAX_DEPTH 32
/* Weights of an object and of an array next to a scalar or a member name (1), after what
 * json-c 0.16 allocates for each: about 800 bytes for an object (its hash table), 200 for
 * an array, 70 for a scalar. */
#define RILL_JSON_OBJECT_WEIGHT 12
#define RILL_JSON_ARRAY_WEIGHT 3
/* Weighted elements accepted whatever the size; beyond it, one per byte of text. */
#define RILL_JSON_BASE_ELEMENTS 4096

/*
 * Scans text[0..len) without allocating: counts nesting depth and elements (objects and
 * arrays weighing as above, scalars and member names 1) outside strings. Returns
 * 0 when depth <= RILL_JSON_MAX_DEPTH and the weighted count is at most
 * RILL_JSON_BASE_ELEMENTS + len; else -1 with the reason in why (for a dead-letter header
 * or an error message). So a value accepted costs json-c at most about 70 bytes per byte of
 * text (plus a constant): "[{},{},...]" (265 times its size) is refused, while arrays of
 * numbers (36 times) or of objects such as {"id":1,"name":"x"} (47 times) pass. It does not
 * validate the syntax: the parser that follows does.
 * Thread: any.
 */
int rill__json_prescan(const char *text, size_t len, char *why, size_t why_size);

#endif
