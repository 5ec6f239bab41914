/* gpt_pool.h — the CPU threads of the sentiment task's GPT (issue 15).
 *
 * OpenBLAS's own threads split each matrix product, which for this model's small products
 * (width 96, a few hundred rows) used the second core poorly, and left every other loop of
 * a step (attention, softmax, GELU, layer norms, AdamW, sampling) on one core while its
 * workers spun. Instead the GPT splits its work into independent pieces (the halves of a
 * batch, groups of sampled sequences, ranges of parameters) and runs them here, each piece
 * with single-threaded OpenBLAS products; the task sets OpenBLAS to one thread
 * (sentiment_task.c).
 *
 * The pieces are fixed by the work, not by the number of threads, so results do not depend
 * on it: one thread runs the same pieces one after the other. */
#ifndef DC_GPT_POOL_H
#define DC_GPT_POOL_H

/* Threads that gpt_pool_run may use, the caller's included (n <= 0: the online cores). 1
 * (the default): everything runs on the calling thread. */
void gpt_pool_set_threads(int n);
int gpt_pool_threads(void);

/* Runs fn(ctx, i) for i = 0 .. n-1 and returns when all are done. The pieces run on the
 * pool's threads and the caller's, in the caller's floating-point environment (FTZ/DAZ).
 * A call from inside a piece runs its pieces inline. A pool thread that cannot start
 * leaves its share to the others (never an error). */
void gpt_pool_run(int n, void (*fn)(void *ctx, int i), void *ctx);

#endif
