/* mpi_env.c — is this process one of several MPI ranks? From the launcher's environment
 * alone, so a binary built without MPI can say so clearly (mpi_pool.h). */
#include "mpi_pool.h"

#include <stdio.h>
#include <stdlib.h>

const char *dc_mpi_launcher(char *buf, size_t cap)
{
    /* Open MPI's mpirun; MPICH/Hydra and Slurm's PMI-2 (srun --mpi=pmi2); PMIx (srun
     * --mpi=pmix, Open MPI 5, prterun). SLURM_* alone is not enough: a batch script's
     * own shell has them too. */
    static const char *const sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", NULL};
    for (int i = 0; sizes[i]; i++) {
        const char *v = getenv(sizes[i]);
        if (v && atoi(v) > 1) {
            snprintf(buf, cap, "%s=%s", sizes[i], v);
            return buf;
        }
    }
    const char *pmix = getenv("PMIX_RANK");
    if (pmix && !getenv("OMPI_COMM_WORLD_SIZE")) {
        snprintf(buf, cap, "PMIX_RANK=%s", pmix);
        return buf;
    }
    return NULL;
}

int dc_mpi_env_rank(void)
{
    static const char *const names[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK",
                                        "SLURM_PROCID", NULL};
    for (int i = 0; names[i]; i++) {
        const char *v = getenv(names[i]);
        if (v) return atoi(v);
    }
    return 0;
}
