/* stats — see include/engwatch/stats.h.
 *
 * The incomplete gamma and beta functions follow the classic series /
 * continued-fraction split (the series where it converges fast, Lentz's
 * continued fraction elsewhere), evaluated in log space so that tails far
 * below DBL_MIN keep their exponent.
 */
#include "engwatch/stats.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ITMAX 400
#define EPS 1e-14
#define TINY 1e-300
#define LN10 2.302585092994045684

static double surprise_of_ln(double lnp)
{
    double s = -lnp / LN10;
    if (!(s > 0)) /* also NaN */
        return 0;
    return s > EW_SURPRISE_MAX ? EW_SURPRISE_MAX : s;
}

/* Lentz's guard: keep a continued-fraction term away from zero. */
static double nz(double x) { return fabs(x) < TINY ? TINY : x; }

/* ln of the series for P(a, x) (x < a + 1). */
static double ln_gamma_series(double a, double x)
{
    double ap = a, del = 1.0 / a, sum = del;
    for (int n = 0; n < ITMAX; n++) {
        ap += 1;
        del *= x / ap;
        sum += del;
        if (fabs(del) < fabs(sum) * EPS)
            break;
    }
    return log(sum) - x + a * log(x) - lgamma(a);
}

/* ln of the continued fraction for Q(a, x) (x >= a + 1). */
static double ln_gamma_cf(double a, double x)
{
    double b = x + 1 - a, c = 1 / TINY, d = 1 / b, h = d;
    for (int i = 1; i < ITMAX; i++) {
        double an = -i * (i - a);
        b += 2;
        d = 1 / nz(an * d + b);
        c = nz(b + an / c);
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < EPS)
            break;
    }
    return log(h) - x + a * log(x) - lgamma(a);
}

double ew_log_gamma_p(double a, double x)
{
    if (x <= 0)
        return -INFINITY;
    if (x < a + 1)
        return ln_gamma_series(a, x);
    return log1p(-exp(ln_gamma_cf(a, x)));
}

double ew_log_gamma_q(double a, double x)
{
    if (x <= 0)
        return 0;
    if (x < a + 1)
        return log1p(-exp(ln_gamma_series(a, x)));
    return ln_gamma_cf(a, x);
}

/* Continued fraction of the incomplete beta function (modified Lentz). */
static double beta_cf(double x, double a, double b)
{
    double qab = a + b, qap = a + 1, qam = a - 1;
    double c = 1, d = 1 / nz(1 - qab * x / qap);
    double h = d;
    for (int m = 1; m < ITMAX; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 / nz(1 + aa * d);
        c = nz(1 + aa / c);
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 / nz(1 + aa * d);
        c = nz(1 + aa / c);
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < EPS)
            break;
    }
    return h;
}

double ew_log_beta_i(double x, double a, double b)
{
    if (x <= 0)
        return -INFINITY;
    if (x >= 1)
        return 0;
    double lnbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1) / (a + b + 2))
        return lnbt + log(beta_cf(x, a, b)) - log(a);
    return log1p(-exp(lnbt + log(beta_cf(1 - x, b, a)) - log(b)));
}

double ew_poisson_surprise(double k, double mu)
{
    if (k <= 0)
        return 0;
    if (mu <= 0)
        return EW_SURPRISE_MAX;
    return surprise_of_ln(ew_log_gamma_p(k, mu)); /* P(X >= k) = P(k, mu) */
}

double ew_poisson_low_surprise(double k, double mu)
{
    if (mu <= 0)
        return 0;
    if (k < 0)
        return EW_SURPRISE_MAX;
    return surprise_of_ln(ew_log_gamma_q(k + 1, mu)); /* P(X <= k) = Q(k + 1, mu) */
}

double ew_binom_surprise(double k, double n, double p)
{
    if (k <= 0)
        return 0;
    if (k > n || p <= 0)
        return EW_SURPRISE_MAX;
    if (p >= 1)
        return 0;
    return surprise_of_ln(ew_log_beta_i(p, k, n - k + 1)); /* P(X >= k) = I_p(k, n-k+1) */
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double ew_median(double *x, size_t n)
{
    if (n == 0)
        return 0;
    qsort(x, n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

double ew_score_from_surprise(double surprise, double threshold, double span)
{
    if (!(surprise >= threshold))
        return 0;
    double s = span > 0 ? 0.5 + 0.5 * (surprise - threshold) / span : 1;
    return s > 1 ? 1 : s;
}

double ew_round4(double x)
{
    if (!isfinite(x) || x == 0)
        return 0;
    double mag = pow(10, 3 - floor(log10(fabs(x))));
    double r = round(x * mag) / mag;
    return isfinite(r) ? r : x;
}

/* ---- view and evidence helpers -------------------------------------------- */

size_t ew_view_res_for(const struct ew_view *v, int64_t need_ms)
{
    size_t n = ew_view_nres(v);
    for (size_t r = 0; r < n; r++)
        if (ew_view_retention_ms(v, r) >= need_ms)
            return r;
    return n ? n - 1 : 0;
}

int ew_first_in_bucket(const struct ew_view *v, enum ew_metric m, const char *post, size_t post_len,
                       int64_t ts, int64_t min_bucket_ms)
{
    size_t n = ew_view_nres(v), r = 0;
    while (r + 1 < n && ew_view_bucket_ms(v, r) < min_bucket_ms)
        r++;
    int64_t b = ew_view_bucket_ms(v, r);
    return b > 0 && ew_view_count(v, m, r, post, post_len, ew_floordiv(ts, b)) == 1;
}

#define SAMPLE_TEXT_MAX 200

json_t *ew_evidence_samples(const struct ew_view *v, const char *post, size_t post_len,
                            int64_t from_ms, int64_t to_ms, size_t max, int hollow_only)
{
    struct ew_sample s[64];
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    if (max > 16)
        max = 16;
    size_t n = ew_view_samples(v, post, post_len, from_ms, to_ms, s, hollow_only ? 64 : max);
    size_t added = 0;
    for (size_t i = 0; i < n && added < max; i++) {
        if (hollow_only && !ew_text_is_hollow(s[i].cls))
            continue;
        size_t tl = s[i].text_len;
        if (tl > SAMPLE_TEXT_MAX) {
            tl = SAMPLE_TEXT_MAX;
            while (tl > 0 && ((unsigned char)s[i].text[tl] & 0xC0) == 0x80)
                tl--; /* do not cut a UTF-8 sequence */
        }
        json_t *o = json_pack("{s:s%,s:s%}", "id", s[i].id, s[i].id_len, "text", s[i].text, tl);
        if (!o || json_array_append_new(arr, o) < 0)
            continue; /* invalid UTF-8 or no memory: the sample is left out */
        added++;
    }
    return arr;
}

void *ew_detect_state_dup(const void *block, size_t size, char *err, size_t errlen)
{
    void *st = malloc(size);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memcpy(st, block, size);
    return st;
}

void ew_signal_set(struct ew_signal *s, enum ew_signal_kind kind, double score, const char *post,
                   size_t post_len, int64_t win_start, int64_t win_end, json_t *evidence)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->score = score < 0 ? 0 : score > 1 ? 1 : score;
    s->post = post;
    s->post_len = post ? post_len : 0;
    s->win_start = win_start;
    s->win_end = win_end;
    s->evidence = evidence;
}
