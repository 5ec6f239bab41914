/* fashion.h — task `fashion`: classification losses on Fashion-MNIST (DiscoPOP's CIFAR-10
 * case study, made CPU-sized).
 *
 * An MLP (784 → hidden → 10, ReLU, fp32, He init, Adam) is trained from scratch with the
 * candidate objective for each seed. Validation is carved from the official training split
 * with a FIXED split seed and its accuracy is the fitness; the official 10k test set is the
 * held-out split. The per-seed randomness (initialisation, batch order, label noise) is
 * drawn from the run's seed. */
#ifndef DC_FASHION_H
#define DC_FASHION_H

#include "inner_loop/task.h"

extern const dc_task_ops dc_task_fashion;

#endif
