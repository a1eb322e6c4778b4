/*
 * This file implements, for the test suites that run skills through
 * cis_skill.h, the opening of a skills host the way they all want it: a
 * registry folder of the test's, a chosen KV backend and AI service, and
 * skill log lines sent to a null sink (the call's own capture still holds
 * them). A host that does not open fails the test with the reason.
 */
#ifndef CIS_TEST_SKILL_HOST_H
#define CIS_TEST_SKILL_HOST_H

#include <stdio.h>

#include "cis/cis_skill.h"

/* kv_spec and ai may be NULL (the defaults: SQLite in home, no AI). */
static inline cis_skills *cis_test_skills_open(const char *home, const char *kv_spec, cis_ai *ai) {
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  c.kv_spec = kv_spec;
  c.ai = ai;
  cis_log_sink null;
  cis_log_sink_null(&null);
  c.log_sink = &null;
  cis_skills *s = NULL;
  char err[512];
  cis_result rc = cis_skills_open(&c, &s, err, sizeof err);
  if (rc != CIS_OK) fail_msg("cis_skills_open %s: %s", home, err);
  return s;
}

#endif /* CIS_TEST_SKILL_HOST_H */
