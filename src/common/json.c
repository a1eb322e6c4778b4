/*
 * This file implements the strict JSON reader of json.h: cJSON parses,
 * after a scan that refuses what RFC 8259 forbids and cJSON lets through.
 */
#include "common/json.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "common/utf8.h"

/* What RFC 8259 forbids and cJSON lets through: raw control characters
 * inside strings, and outside them any but the four blanks (cJSON skips
 * every byte up to 0x20 as a blank, NUL included, so a NUL between tokens
 * would pass into text that C-string readers see cut there), bytes that
 * are not UTF-8, and numbers with leading zeros; with no_nul also the
 * escape \u0000, which cJSON decodes into a C string that then silently
 * ends there. Returns the offending byte's offset, or len when there is
 * none; *why says what it is. Structure is cJSON's to check. */
static size_t json_strict_scan(const char *text, size_t len, bool no_nul, const char **why) {
  const unsigned char *t = (const unsigned char *)text;
  bool in_str = false;
  for (size_t i = 0; i < len;) {
    unsigned c = t[i];
    if (in_str) {
      if (c < 0x20) {
        *why = "a control character in a string";
        return i;
      }
      if (c == '\\') {
        if (no_nul && i + 5 < len && t[i + 1] == 'u' && !memcmp(t + i + 2, "0000", 4)) {
          *why = "an escaped NUL (\\u0000) in a string";
          return i;
        }
        i += 2;
        continue;
      }
      if (c == '"') in_str = false;
    } else if (c == '"') {
      in_str = true;
    } else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      *why = "a control character outside a string";
      return i;
    } else if (c == '0' && i + 1 < len && t[i + 1] >= '0' && t[i + 1] <= '9' &&
               (i == 0 || !((t[i - 1] >= '0' && t[i - 1] <= '9') || t[i - 1] == '.' || t[i - 1] == 'e' ||
                            t[i - 1] == 'E' || t[i - 1] == '+' || (t[i - 1] == '-' && i >= 2 &&
                            (t[i - 2] == 'e' || t[i - 2] == 'E'))))) {
      *why = "a number with a leading zero"; /* an integer part starting with 0 and more digits */
      return i;
    }
    size_t k = cis__utf8_len(t + i, len - i);
    if (!k) {
      *why = "bytes that are not UTF-8";
      return i;
    }
    i += k;
  }
  return len;
}

cis_result cis__json_parse_strict(const char *text, size_t len, bool no_nul, struct cJSON **out, char *err,
                                  size_t errcap) {
  if (out) *out = NULL;
  if (err && errcap) err[0] = '\0';
  const char *why = "";
  size_t bad = json_strict_scan(text, len, no_nul, &why);
  if (bad < len) {
    if (err && errcap) snprintf(err, errcap, "malformed JSON at byte %zu (%s)", bad, why);
    return CIS_EJSON;
  }
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, false);
  if (!j) {
    if (err && errcap)
      snprintf(err, errcap, "malformed JSON near byte %zu", end && end >= text ? (size_t)(end - text) : 0);
    return CIS_EJSON;
  }
  /* Trailing bytes after the value (other than blanks) are malformed too. */
  size_t used = end ? (size_t)(end - text) : len;
  for (size_t i = used; i < len; i++)
    if (text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t') {
      cJSON_Delete(j);
      if (err && errcap) snprintf(err, errcap, "malformed JSON: trailing bytes after the value at byte %zu", i);
      return CIS_EJSON;
    }
  if (out) *out = j;
  else cJSON_Delete(j);
  return CIS_OK;
}

