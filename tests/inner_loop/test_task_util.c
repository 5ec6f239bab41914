/* test_task_util.c — the generic task plumbing: list parsing, multi-seed aggregation (with
 * a fake task whose per-seed results are known), the registry. */
#include "tests/test.h"

#include "common/util.h"
#include "inner_loop/task.h"

/* A fake task: seed s gives fitness s/10, test s/100, metric train_loss = s, a two-point
 * curve; seed 13 fails at step 7. */
static void fake_run(dc_task *t, const dc_objective *obj, int seed, const dc_progress *prog,
                     dc_task_result *out)
{
    (void)t, (void)obj, (void)prog;
    out->seconds = 0.5;
    if (seed == 13) {
        out->status = DC_NONFINITE;
        out->failed_step = 7;
        snprintf(out->message, sizeof out->message, "loss is NaN at step 7");
        return;
    }
    out->fitness = seed / 10.0;
    out->test_metric = seed / 100.0;
    cJSON_AddNumberToObject(out->metrics, "fitness", out->fitness);
    cJSON_AddNumberToObject(out->metrics, "test_metric", out->test_metric);
    cJSON_AddNumberToObject(out->metrics, "train_loss", seed);
    dc_curves_add(&out->curves, "val_accuracy", 10, seed);
    dc_curves_add(&out->curves, "val_accuracy", 20, seed + 1);
}

static const dc_task_ops fake = {.name = "fake", .run = fake_run};

static double num(const cJSON *o, const char *k)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

static void test_eval_seeds(void)
{
    int seeds[3] = {1, 2, 6};
    dc_task_result r;
    dc_task_result_init(&r);
    dc_task_eval_seeds(&fake, NULL, NULL, seeds, 3, NULL, &r);
    CHECK(r.status == DC_OK && r.failed_step == -1);
    CHECK_NEAR(r.fitness, 0.3, 1e-12);
    CHECK_NEAR(r.test_metric, 0.03, 1e-12);
    CHECK_NEAR(r.seconds, 1.5, 1e-12);
    CHECK_NEAR(num(r.metrics, "seconds"), 1.5, 1e-12);
    CHECK_NEAR(num(r.metrics, "fitness"), 0.3, 1e-12);
    CHECK_NEAR(num(r.metrics, "test_metric"), 0.03, 1e-12);
    CHECK_NEAR(num(r.metrics, "train_loss"), 3.0, 1e-12);
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(r.metrics, "per_seed");
    CHECK(cJSON_IsArray(ps) && cJSON_GetArraySize(ps) == 3);
    CHECK_NEAR(num(cJSON_GetArrayItem(ps, 2), "seed"), 6, 0);
    CHECK_NEAR(num(cJSON_GetArrayItem(ps, 2), "train_loss"), 6, 0);
    const dc_curve *c = dc_curves_find(&r.curves, "seed2/val_accuracy");
    CHECK(c && c->len == 2 && c->value[1] == 3 && c->step[1] == 20);
    CHECK(dc_curves_find(&r.curves, "val_accuracy") == NULL);
    dc_task_result_free(&r);

    // one seed: curves keep their names
    dc_task_result_init(&r);
    dc_task_eval_seeds(&fake, NULL, NULL, seeds + 1, 1, NULL, &r);
    CHECK(r.status == DC_OK && dc_curves_find(&r.curves, "val_accuracy") != NULL);
    CHECK_NEAR(r.fitness, 0.2, 1e-12);
    dc_task_result_free(&r);

    // a failing seed stops the loop and gives its status, step and message
    int bad[3] = {1, 13, 2};
    dc_task_result_init(&r);
    dc_task_eval_seeds(&fake, NULL, NULL, bad, 3, NULL, &r);
    CHECK(r.status == DC_NONFINITE && r.failed_step == 7);
    CHECK_STR(r.message, "seed 13: loss is NaN at step 7");
    CHECK(r.fitness == 0 && r.test_metric == 0);
    ps = cJSON_GetObjectItemCaseSensitive(r.metrics, "per_seed");
    CHECK(cJSON_GetArraySize(ps) == 2); // seed 2 never ran
    dc_task_result_free(&r);
}

static void test_lists(void)
{
    int v[16];
    char err[256];
    CHECK(dc_parse_int_list("1,2,3", v, 16, err, sizeof err) == 3 && v[2] == 3);
    CHECK(dc_parse_int_list("7", v, 16, err, sizeof err) == 1 && v[0] == 7);
    int n = dc_parse_int_list("0,3-5,9", v, 16, err, sizeof err);
    CHECK(n == 5 && v[0] == 0 && v[1] == 3 && v[3] == 5 && v[4] == 9);
    CHECK(dc_parse_int_list("1,,2", v, 16, err, sizeof err) == -1 && strstr(err, "'1,,2'"));
    CHECK(dc_parse_int_list("1,x", v, 16, err, sizeof err) == -1 && strstr(err, "'x'"));
    CHECK(dc_parse_int_list("5-3", v, 16, err, sizeof err) == -1);
    CHECK(dc_parse_int_list("1.5", v, 16, err, sizeof err) == -1);
    CHECK(dc_parse_int_list("", v, 16, err, sizeof err) == -1);
    CHECK(dc_parse_int_list("1-100", v, 16, err, sizeof err) == -1 && strstr(err, "more than 16"));
    CHECK(dc_parse_int_list("99999999999", v, 16, err, sizeof err) == -1);

    double d[4];
    CHECK(dc_parse_double_list("0.05,0.1,2.5", d, 4, err, sizeof err) == 3 && d[1] == 0.1 &&
          d[2] == 2.5);
    CHECK(dc_parse_double_list("1e-3", d, 4, err, sizeof err) == 1 && d[0] == 1e-3);
    CHECK(dc_parse_double_list("0.1,abc", d, 4, err, sizeof err) == -1 && strstr(err, "'abc'"));
    CHECK(dc_parse_double_list("nan", d, 4, err, sizeof err) == -1);
    CHECK(dc_parse_double_list("1,2,3,4,5", d, 4, err, sizeof err) == -1);
}

static void test_registry(void)
{
    const dc_task_ops *f = dc_task_find("fashion");
    CHECK(f && strcmp(f->name, "fashion") == 0 && f->options && f->run);
    CHECK(dc_task_find("nope") == NULL && dc_task_find(NULL) == NULL);
    CHECK(strstr(dc_task_names(), "fashion") != NULL);

    // options: every default parses, bad values are refused with the name and the range
    dc_task *t = f->create();
    char err[512];
    CHECK(f->set_option(t, "steps", "0", err, sizeof err) == -1 && strstr(err, "steps") &&
          strstr(err, "1..10000000"));
    CHECK(f->set_option(t, "noise", "1", err, sizeof err) == -1 && strstr(err, "[0, 1)"));
    CHECK(f->set_option(t, "lr", "abc", err, sizeof err) == -1 && strstr(err, "'abc'"));
    CHECK(f->set_option(t, "layers", "3", err, sizeof err) == -1);
    CHECK(f->set_option(t, "colour", "3", err, sizeof err) == -1 && strstr(err, "colour") &&
          strstr(err, "eval_every"));
    CHECK(f->set_option(t, "noise", "0.4", err, sizeof err) == 0);
    cJSON *cfg = f->config_json(t);
    CHECK_NEAR(num(cfg, "noise"), 0.4, 0);
    CHECK_NEAR(num(cfg, "steps"), 2000, 0);
    cJSON_Delete(cfg);
    f->destroy(t);
}

int main(void)
{
    test_lists();
    test_eval_seeds();
    test_registry();
    return TEST_REPORT();
}
