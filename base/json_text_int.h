/*
 * json_text_int.h — the strict JSON validator behind the json-text serde (base/json_text.c).
 */
#ifndef RILL_JSON_TEXT_INT_H
#define RILL_JSON_TEXT_INT_H

#include <stddef.h>

/*
 * Checks that text[0..len) is one JSON value (RFC 8259, strict; whitespace around it
 * allowed) in valid UTF-8, nested at most RILL_JSON_MAX_DEPTH levels, without allocating.
 * Returns 0, or -1 with *whyp a static reason and *offp the byte offset where
 * it was found. Thread: any.
 */
int rill__json_validate(const char *text, size_t len, size_t *offp, const char **whyp);

#endif
