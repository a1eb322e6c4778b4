/* A module whose code comes from the SDK header: probe() returns
 * CIS_SDKDEP_VALUE, which the test's copy of cis_skill.h defines. */
#include "cis_skill.h"

int probe(void) { return CIS_SDKDEP_VALUE; }
