/* stats — the small statistics and evidence helpers the detectors share.
 *
 * Tail probabilities are returned as *surprise*: -log10 of the probability,
 * computed in log space so that p = 1e-80 is still a number (bursts of 300
 * comments on a quiet post produce such values) rather than an underflow.
 * A surprise of 6 means "one chance in a million".  All functions are pure.
 */
#ifndef ENGWATCH_STATS_H
#define ENGWATCH_STATS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engwatch/detect.h"

/* Surprises are capped here (p = 1e-300) so they stay finite in JSON. */
#define EW_SURPRISE_MAX 300.0

/* -log10 P(X >= k) for X ~ Poisson(mu).  0 when k <= 0; mu <= 0 gives the cap for k > 0. */
double ew_poisson_surprise(double k, double mu);
/* -log10 P(X <= k) for X ~ Poisson(mu): the surprise of a count this low.
 * 0 when mu <= 0. */
double ew_poisson_low_surprise(double k, double mu);
/* -log10 P(X >= k) for X ~ Binomial(n, p).  0 when k <= 0. */
double ew_binom_surprise(double k, double n, double p);

/* Natural logs of the regularised incomplete gamma functions P(a, x) and
 * Q(a, x) = 1 - P(a, x), for a > 0, x >= 0. */
double ew_log_gamma_p(double a, double x);
double ew_log_gamma_q(double a, double x);
/* Natural log of the regularised incomplete beta function I_x(a, b), a, b > 0. */
double ew_log_beta_i(double x, double a, double b);

/* Median of x[0..n) (sorts x in place); 0 when n == 0. */
double ew_median(double *x, size_t n);

/* A detector's confidence from how far a surprise passed its threshold: 0
 * below the threshold, 0.5 at it, rising linearly to 1 at threshold + span. */
double ew_score_from_surprise(double surprise, double threshold, double span);

/* ---- view and evidence helpers --------------------------------------------- */

/* The finest resolution of v that keeps at least need_ms of history; the
 * coarsest when none keeps that much. */
size_t ew_view_res_for(const struct ew_view *v, int64_t need_ms);

/* Is the trigger at ts the first event of metric m (on post, or the account)
 * in its bucket of the finest resolution with buckets of at least
 * min_bucket_ms?  Counts include the trigger, so "first" is a count of 1.
 * Detectors use it to repeat a standing signal at most once a bucket. */
int ew_first_in_bucket(const struct ew_view *v, enum ew_metric m, const char *post, size_t post_len,
                       int64_t ts, int64_t min_bucket_ms);

/* floor(a / b) for b > 0, also for negative a. */
static inline int64_t ew_floordiv(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Up to max (<= 16) sample comments of the batch in [from_ms, to_ms] on post
 * (NULL: the account) as a new JSON array [{"id":..,"text":..}, ...]
 * (caller owns it; an empty array when there are none).  Texts are cut at
 * 200 bytes on a UTF-8 boundary.  hollow_only keeps hollow comments only. */
json_t *ew_evidence_samples(const struct ew_view *v, const char *post, size_t post_len,
                            int64_t from_ms, int64_t to_ms, size_t max, int hollow_only);

/* A detector's state as a copy of its configuration block (size bytes):
 * malloc'd, the caller frees it with free(); NULL with err filled when out of
 * memory. */
void *ew_detect_state_dup(const void *block, size_t size, char *err, size_t errlen);

/* Fill a signal (evidence is taken over: the signal owns it). */
void ew_signal_set(struct ew_signal *s, enum ew_signal_kind kind, double score, const char *post,
                   size_t post_len, int64_t win_start, int64_t win_end, json_t *evidence);

/* Round to 4 significant decimals for evidence (stable, readable JSON). */
double ew_round4(double x);

#endif
