/*
 * This file declares what the AI service's files share: the UTF-8 check
 * used on prompts, and (through http/http_internal.h) the libcurl helpers
 * of the HTTP service that the OpenAI-compatible provider builds on.
 */
#ifndef CIS_AI_INTERNAL_H
#define CIS_AI_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cis/cis_ai.h"
#include "common/internal.h"
#include "http/http_internal.h"

/* Offset of the first byte of s[0..len) that is not part of valid UTF-8
 * (overlong forms, surrogates and NUL bytes included), or SIZE_MAX when
 * all of it is valid. */
size_t cis__utf8_check(const char *s, size_t len);

#endif /* CIS_AI_INTERNAL_H */
