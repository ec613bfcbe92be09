/* Unit tests for daemon/stats.c: tail probabilities against values computed
 * independently (exact sums), far tails without underflow, scores, medians,
 * evidence samples. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "engwatch/stats.h"

/* Poisson tails by direct summation of the terms (no cancellation), for
 * comparison. */
static double poisson_sf_exact(int k, double mu)
{
    double s = 0;
    for (int i = k; i < k + 2000; i++)
        s += exp(-mu + i * log(mu) - lgamma(i + 1));
    return s;
}

static double poisson_cdf_exact(int k, double mu)
{
    double s = 0;
    for (int i = 0; i <= k; i++)
        s += exp(-mu + i * log(mu) - lgamma(i + 1));
    return s;
}

static double binom_sf_exact(int k, int n, double p)
{
    double s = 0;
    for (int i = k; i <= n; i++)
        s += exp(lgamma(n + 1) - lgamma(i + 1) - lgamma(n - i + 1) + i * log(p) +
                 (n - i) * log1p(-p));
    return s;
}

static void test_poisson_tails(void **state)
{
    (void)state;
    const double mus[] = {0.5, 2, 7.5, 30, 120};
    for (size_t i = 0; i < sizeof mus / sizeof mus[0]; i++) {
        for (int k = 1; k < 3 * mus[i] + 10; k += 3) {
            double want = -log10(poisson_sf_exact(k, mus[i]));
            assert_true(fabs(ew_poisson_surprise(k, mus[i]) - want) < 1e-6 * (1 + want));
            double low = -log10(poisson_cdf_exact(k, mus[i]));
            assert_true(fabs(ew_poisson_low_surprise(k, mus[i]) - low) < 1e-6 * (1 + low));
        }
    }
    /* 300 comments where 0.5 were expected: a finite, huge surprise */
    double s = ew_poisson_surprise(300, 0.5);
    assert_true(s > 500 || s == EW_SURPRISE_MAX);
    assert_true(isfinite(s));
    /* edges */
    assert_true(ew_poisson_surprise(0, 3) == 0);
    assert_true(ew_poisson_surprise(5, 0) == EW_SURPRISE_MAX);
    assert_true(ew_poisson_low_surprise(3, 0) == 0);
    assert_true(ew_poisson_low_surprise(1000, 3) < 1e-9);
}

static void test_binomial_tails(void **state)
{
    (void)state;
    const int ns[] = {5, 20, 60, 300};
    const double ps[] = {0.05, 0.3, 0.5, 0.9};
    for (size_t a = 0; a < 4; a++)
        for (size_t b = 0; b < 4; b++)
            for (int k = 1; k <= ns[a]; k += 1 + ns[a] / 10) {
                double want = -log10(binom_sf_exact(k, ns[a], ps[b]));
                double got = ew_binom_surprise(k, ns[a], ps[b]);
                if (!(want < EW_SURPRISE_MAX)) {
                    assert_true(got == EW_SURPRISE_MAX); /* capped, not infinite */
                    continue;
                }
                assert_true(fabs(got - want) < 1e-6 * (1 + want));
            }
    /* 30 of 30 where half is usual: 2^-30 */
    assert_true(fabs(ew_binom_surprise(30, 30, 0.5) - 30 * log10(2)) < 1e-9);
    assert_true(ew_binom_surprise(0, 10, 0.5) == 0);
    assert_true(ew_binom_surprise(11, 10, 0.5) == EW_SURPRISE_MAX);
    assert_true(ew_binom_surprise(3, 10, 0) == EW_SURPRISE_MAX);
    assert_true(ew_binom_surprise(3, 10, 1) == 0);
}

static void test_scores_and_median(void **state)
{
    (void)state;
    assert_true(ew_score_from_surprise(5.9, 6, 20) == 0);
    assert_true(ew_score_from_surprise(6, 6, 20) == 0.5);
    assert_true(fabs(ew_score_from_surprise(16, 6, 20) - 0.75) < 1e-12);
    assert_true(ew_score_from_surprise(300, 6, 20) == 1);
    assert_true(ew_score_from_surprise(NAN, 6, 20) == 0);
    double x[] = {5, 1, 4, 2, 3};
    assert_true(ew_median(x, 5) == 3);
    double y[] = {4, 1, 3, 2};
    assert_true(ew_median(y, 4) == 2.5);
    assert_true(ew_median(NULL, 0) == 0);
    assert_true(ew_round4(0.123456) == 0.1235);
    assert_true(ew_round4(12345.6) == 12350);
    assert_true(ew_round4(0) == 0 && ew_round4(INFINITY) == 0);
}

static void test_evidence_samples(void **state)
{
    (void)state;
    struct ew_resolution res[1] = {{10000, 1800000}};
    struct ew_view *v = ew_view_new("u1", res, 1);
    assert_non_null(v);
    char long_text[400];
    /* 3-byte characters: a cut at 200 bytes must not split one */
    for (size_t i = 0; i + 3 < sizeof long_text; i += 3)
        memcpy(long_text + i, "好", 3);
    long_text[399] = '\0';
    long_text[396] = '\0';
    for (int i = 0; i < 8; i++) {
        char id[8];
        snprintf(id, sizeof id, "c%d", i);
        const char *text = i == 7 ? long_text : i % 2 ? "nice" : "where is it from?";
        struct ew_sample s = {.id = id, .id_len = strlen(id), .actor = "a", .actor_len = 1,
                              .text = text, .text_len = strlen(text), .ts = 1000 + i,
                              .cls = i % 2 || i == 7 ? EW_TEXT_GENERIC : EW_TEXT_SUBSTANTIVE};
        assert_int_equal(ew_view_add_sample(v, "p1", &s), 0);
    }
    json_t *a = ew_evidence_samples(v, "p1", 2, 0, 5000, 5, 0);
    assert_int_equal(json_array_size(a), 5);
    json_t *first = json_array_get(a, 0); /* newest first */
    assert_string_equal(json_string_value(json_object_get(first, "id")), "c7");
    assert_true(strlen(json_string_value(json_object_get(first, "text"))) <= 200);
    assert_int_equal(strlen(json_string_value(json_object_get(first, "text"))) % 3, 0);
    json_decref(a);
    a = ew_evidence_samples(v, "p1", 2, 0, 5000, 5, 1);
    assert_int_equal(json_array_size(a), 4); /* c7 c5 c3 c1 */
    json_decref(a);
    a = ew_evidence_samples(v, "p2", 2, 0, 5000, 5, 0);
    assert_int_equal(json_array_size(a), 0);
    json_decref(a);
    assert_int_equal(ew_first_in_bucket(v, EW_M_COMMENTS, NULL, 0, 1000, 5000), 0);
    ew_view_add(v, EW_M_COMMENTS, NULL, 1000, 1);
    assert_int_equal(ew_first_in_bucket(v, EW_M_COMMENTS, NULL, 0, 1000, 5000), 1);
    ew_view_add(v, EW_M_COMMENTS, NULL, 1001, 1);
    assert_int_equal(ew_first_in_bucket(v, EW_M_COMMENTS, NULL, 0, 1001, 5000), 0);
    ew_view_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poisson_tails),
        cmocka_unit_test(test_binomial_tails),
        cmocka_unit_test(test_scores_and_median),
        cmocka_unit_test(test_evidence_samples),
    };
    return cmocka_run_group_tests_name("stats", tests, NULL, NULL);
}
