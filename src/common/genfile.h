/*
 * This file declares generation files (genfile.c): one 64-bit counter in
 * a small file, mapped shared by every process that opens it, so that a
 * change committed by one process (a skill installed, a token revoked) is
 * seen by every other with one atomic load, where asking the database
 * would cost system calls on every request.
 */
#ifndef CIS_COMMON_GENFILE_H
#define CIS_COMMON_GENFILE_H

#include <stdatomic.h>
#include <stdint.h>

/* Maps the counter at path, creating the file (zero) when missing. NULL
 * when that fails (a read-only or full disk): the caller then does without,
 * as it did before the file existed. */
_Atomic uint64_t *cis__genfile_map(const char *path);

/* Unmaps a counter from cis__genfile_map (NULL is fine). */
void cis__genfile_unmap(_Atomic uint64_t *gen);

#endif /* CIS_COMMON_GENFILE_H */
