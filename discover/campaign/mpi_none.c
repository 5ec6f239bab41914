/* mpi_none.c — mpi_pool.h in a binary built without MPI (CMake found none): nothing runs
 * across machines, and `discover run` under a launcher says so (cmd_run.c). */
#include "mpi_pool.h"

#include "common/util.h"

int dc_mpi_built(void)
{
    return 0;
}

int dc_mpi_start(int *rank, int *size, char *err, size_t errcap)
{
    *rank = 0;
    *size = 1;
    dc_fmt(err, errcap, "this discover was built without MPI");
    return -1;
}

int dc_mpi_serve(void)
{
    return 1;
}

int dc_mpi_size(void)
{
    return 0;
}

void dc_mpi_on_term(const char *msg)
{
    (void)msg;
}

void dc_mpi_finish(void)
{
}

int dc_mpi_connect(int rank, int *to, int *from, char *err, size_t errcap)
{
    (void)rank;
    *to = *from = -1;
    dc_fmt(err, errcap, "this discover was built without MPI");
    return -1;
}

void dc_mpi_signal(int rank, int sig)
{
    (void)rank;
    (void)sig;
}

void dc_mpi_disconnect(int rank, double grace_s, char *how, size_t howcap)
{
    (void)rank;
    (void)grace_s;
    if (how && howcap) how[0] = 0;
}

const char *dc_mpi_rank_host(int rank)
{
    (void)rank;
    return "?";
}
