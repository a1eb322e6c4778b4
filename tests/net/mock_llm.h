/*
 * mock_llm.h -- an OpenAI-compatible chat-completions server for tests.
 *
 * It answers POST /v1/chat/completions like the real protocol, on
 * 127.0.0.1 (see mock_server.h); any other method or path gets 404. The request is checked as a real server
 * would: a JSON object with a "model" string and a non-empty "messages"
 * array of {role, content} strings (else 400), and, when an api_key is
 * configured, "Authorization: Bearer <key>" (else 401, with an error
 * message that echoes the key it got, as some providers do).
 *
 * The answer is deterministic: content "echo: <last user message>", usage
 * prompt_tokens = words in all messages, completion_tokens = words in the
 * content, total_tokens = their sum, finish_reason "stop", model = the
 * request's model.
 *
 * A last user message starting with "mock:" asks for a failure instead, so
 * tests that reach the service only through a skill can trigger them:
 *   mock:slow:MS      wait MS milliseconds, then answer normally
 *   mock:status:NNN   answer with status NNN and an OpenAI-style error body
 *   mock:badjson      200 with a body that is not JSON
 *   mock:nochoices    200 with a JSON object without "choices"
 *   mock:nullcontent  200 with "content": null
 *   mock:nousage      a normal answer without "usage"
 *   mock:big:N        a normal answer whose content is N bytes of 'a'
 *   mock:nul          200 whose content holds \u0000 among look-alike
 *                     escapes; decoded, it is MOCK_LLM_NUL_CONTENT
 */
#ifndef CIS_TESTS_MOCK_LLM_H
#define CIS_TESTS_MOCK_LLM_H

#include "net/mock_server.h"

/* The content of the mock:nul reply, decoded (MOCK_LLM_NUL_LEN bytes). */
#define MOCK_LLM_NUL_CONTENT "a\0b\\u0000\\\\\\z\xc3\xa9\xf0\x9f\x98\x80"
#define MOCK_LLM_NUL_LEN 19u

typedef struct cis_mock_llm_config {
  const char *api_key;  /* required key; NULL = accept any or none */
} cis_mock_llm_config;

/* Starts the mock LLM on an ephemeral port (port 0) or the given one. The
 * config is copied. NULL when it cannot start. Stop it with cis_mock_stop.
 * Its base URL is "http://127.0.0.1:PORT/v1". */
cis_mock_server *cis_mock_llm_start(const cis_mock_llm_config *cfg, uint16_t port);

#endif /* CIS_TESTS_MOCK_LLM_H */
