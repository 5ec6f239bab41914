/* mpi_pool.h — one campaign across machines: `mpirun -np R discover run ...` or
 * `srun ... discover run ...`.
 *
 * Rank 0 is the campaign (proposer, scheduler, the only archive writer); ranks 1..R-1 are
 * its R-1 evaluators (jobs = R-1). On every rank one relay thread makes every MPI call
 * (MPI_Init_thread from that thread, MPI_THREAD_FUNNELED), so the rest of the program never
 * sees MPI:
 *
 *  - on rank 0 it bridges each evaluator rank to a local pipe pair, so the campaign's pool
 *    (campaign.c) waits with poll() on those descriptors exactly as on its local
 *    evaluators' pipes, and speaks the same messages (evaluator.h) to them;
 *  - on rank k > 0 it starts `discover __evaluator` as a local child (fork + exec, as for
 *    --jobs; the relay process itself never touches CUDA) and copies bytes between the
 *    child's pipes and rank 0. The child, not the rank, dies when a candidate kills its
 *    evaluator (the OOM killer): rank 0 then re-queues the candidate once, as with --jobs,
 *    while the MPI job goes on. The child's GPU is the rank's node-local rank (from
 *    MPI_Comm_split_type, the same number as OMPI_COMM_WORLD_LOCAL_RANK or SLURM_LOCALID)
 *    modulo the GPUs it sees (CUDA_VISIBLE_DEVICES narrowed to one); its task threads are
 *    the node's cores divided among the node's evaluators (SLURM_CPUS_PER_TASK when set).
 *
 * A lost rank ends the job: the launcher ends every rank when one dies, and rank 0 says so
 * (SIGTERM from the launcher, or a rank silent for DC_MPI_SILENCE_S) and exits; pending
 * candidates stay pending and `discover run --resume` continues the campaign. An evaluator
 * rank that hears nothing from rank 0 for DC_MPI_SILENCE_S exits too: no process outlives
 * the campaign.
 *
 * Built only when CMake finds MPI (DISCOVER_HAVE_MPI); without it the functions below
 * report that MPI is not built in (mpi_none.c). */
#ifndef DC_MPI_POOL_H
#define DC_MPI_POOL_H

#include <stddef.h>

/* A rank that sends nothing for this long (heartbeats go every 2 s) is lost. */
#define DC_MPI_SILENCE_S 60.0

/* 1 when this binary was built with MPI. */
int dc_mpi_built(void);

/* The launcher's variable that says this process is one of several MPI ranks
 * ("OMPI_COMM_WORLD_SIZE=3", "PMI_SIZE=4", "PMIX_RANK=0"), or NULL. OMPI_COMM_WORLD_SIZE and
 * PMI_SIZE count only when above 1. */
const char *dc_mpi_launcher(char *buf, size_t cap);

/* This process's rank according to the launcher's environment (OMPI_COMM_WORLD_RANK,
 * PMI_RANK, PMIX_RANK, SLURM_PROCID), 0 when none says. */
int dc_mpi_env_rank(void);

/* Starts MPI in the relay thread. 0 with *rank and *size set, or -1 with why. A size of 1
 * is not an error: the caller then runs alone (dc_mpi_finish still to be called). */
int dc_mpi_start(int *rank, int *size, char *err, size_t errcap);

/* Rank k > 0: serves as an evaluator until rank 0 ends the job; the exit status. */
int dc_mpi_serve(void);

/* Rank 0: the number of ranks while MPI runs in this process, else 0. */
int dc_mpi_size(void);

/* Rank 0: at SIGTERM (the launcher ending the job) prints msg and exits with status 2. msg
 * is copied; it should say how to --resume. */
void dc_mpi_on_term(const char *msg);

/* Rank 0: tells every rank the campaign is over, finalizes MPI, joins the relay thread. */
void dc_mpi_finish(void);

/* Rank 0: starts rank's evaluator process; *to and *from are this side's pipe ends (the
 * caller closes them, then calls dc_mpi_disconnect). 0, or -1 with why. */
int dc_mpi_connect(int rank, int *to, int *from, char *err, size_t errcap);
/* Rank 0: sends sig to rank's evaluator process. */
void dc_mpi_signal(int rank, int sig);
/* Rank 0: after the caller closed its ends, rank stops its evaluator as dc_evaluator_stop
 * does (grace_s, then SIGKILL) and says how it ended (into how). */
void dc_mpi_disconnect(int rank, double grace_s, char *how, size_t howcap);
/* Rank 0: "host NAME" of rank, as it reported (for messages). */
const char *dc_mpi_rank_host(int rank);

#endif
