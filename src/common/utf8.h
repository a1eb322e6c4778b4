/*
 * This file declares the one UTF-8 check of cis (utf8.c): every text that
 * leaves as JSON or reaches a provider (prompts, settings, strict JSON)
 * is held to well-formed UTF-8 by the same rule: no overlong forms, no
 * surrogates, nothing above U+10FFFF.
 */
#ifndef CIS_COMMON_UTF8_H
#define CIS_COMMON_UTF8_H

#include <stddef.h>

/* Length (1-4) of the well-formed UTF-8 sequence at p, of at most n
 * (>= 1) bytes, or 0 when it is not one. */
size_t cis__utf8_len(const unsigned char *p, size_t n);

/* Offset of the first byte of s[0..len) that is not part of valid UTF-8,
 * NUL bytes included, or SIZE_MAX when all of it is valid. */
size_t cis__utf8_check(const char *s, size_t len);

#endif /* CIS_COMMON_UTF8_H */
