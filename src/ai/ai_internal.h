/*
 * This file declares what the AI service's files share: the libcurl
 * plumbing (common/curl.h) that the OpenAI-compatible provider builds on.
 */
#ifndef CIS_AI_INTERNAL_H
#define CIS_AI_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cis/cis_ai.h"
#include "common/internal.h"
#include "common/curl.h"

#endif /* CIS_AI_INTERNAL_H */
