/* \summary: journal compaction: the compactor a worker registers with
 * fp_journal_set_compactor (journal.h).  arg is unused. */
#ifndef FP_JCOMPACT_H
#define FP_JCOMPACT_H

#include "journal.h"

void fp_journal_compact(void *arg, struct fp_journal *j);

#endif
