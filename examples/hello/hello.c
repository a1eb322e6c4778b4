/*
 * This file implements the smallest useful skill: it computes 1+1 and
 * returns {"result":2} as JSON, logging one line on the way.
 */
#include "cis_skill.h"

__attribute__((export_name("cis_main"))) int cis_main(void) {
  int a = 1, b = 1;
  char out[32] = "{\"result\":";
  int n = 10, v = a + b;
  char digits[12];
  int k = 0;
  do digits[k++] = (char)('0' + v % 10); while ((v /= 10) > 0);
  while (k) out[n++] = digits[--k];
  out[n++] = '}';
  out[n] = 0;
  cis_logs(CIS_LOG_INFO, "computed 1+1");
  return cis_output(out);
}
