/* risk — see include/engwatch/risk.h. */
#include "engwatch/risk.h"
#include "engwatch/hmap.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ew_level_name(enum ew_level l)
{
    static const char *const names[] = {"none", "info", "warning", "critical"};
    return (unsigned)l <= EW_LEVEL_CRITICAL ? names[l] : "none";
}

double ew_risk_value(const struct ew_config *cfg, const struct ew_risk_state *st, int64_t now)
{
    double r = (double)st->risk_milli / 1000.0;
    if (r <= 0)
        return 0;
    int64_t dt = now - st->updated_ms;
    if (dt > 0)
        r *= exp2(-(double)dt / (double)cfg->risk.half_life_ms);
    return r;
}

static enum ew_level level_of(const struct ew_config *cfg, double r)
{
    if (r >= cfg->risk.critical)
        return EW_LEVEL_CRITICAL;
    if (r >= cfg->risk.warning)
        return EW_LEVEL_WARNING;
    if (r >= cfg->risk.info)
        return EW_LEVEL_INFO;
    return EW_LEVEL_NONE;
}

void ew_risk_apply(const struct ew_config *cfg, struct ew_risk_state *st,
                   const struct ew_signal *sig, int64_t now, struct ew_risk_decision *d)
{
    int k = sig->kind;
    memset(d, 0, sizeof *d);
    /* An incident quiet for resolve_after is over: the next signal opens a new one. */
    if (st->incident_ms && now - st->last_signal_ms >= cfg->risk.resolve_after_ms) {
        st->incident_ms = 0;
        st->level = EW_LEVEL_NONE;
        st->alerts = 0;
        memset(st->last_alert_ms, 0, sizeof st->last_alert_ms);
        memset(st->last_win_end, 0, sizeof st->last_win_end);
    }
    /* Events can arrive a little out of order (within the allowed
     * lateness): never decay backwards. */
    int64_t at = now > st->updated_ms ? now : st->updated_ms;
    double score = sig->score < 0 ? 0 : sig->score > 1 ? 1 : sig->score;
    double r = ew_risk_value(cfg, st, at) + cfg->risk.weight[k] * score;
    if (r > 100)
        r = 100;
    st->risk_milli = (int64_t)llround(r * 1000.0);
    st->updated_ms = at;
    if (now > st->last_signal_ms)
        st->last_signal_ms = now;
    d->risk = r;

    enum ew_level lvl = level_of(cfg, r);
    d->level = lvl;
    if (!st->incident_ms) {
        if (lvl == EW_LEVEL_NONE)
            return; /* below the incident threshold: risk only */
        st->incident_ms = now;
        st->level = lvl;
        d->action = "opened";
    } else if (lvl > st->level) {
        st->level = lvl;
        d->action = "escalated";
    } else if (!st->last_alert_ms[k]) {
        d->action = "signal";
    } else if (sig->win_start >= st->last_win_end[k] &&
               now - st->last_alert_ms[k] >= cfg->risk.realert_after_ms) {
        d->action = "update";
    } else {
        return;
    }
    d->level = (enum ew_level)st->level;
    d->alert = 1;
    st->alerts++;
    st->last_alert_ms[k] = now > 0 ? now : 1;
    if (sig->win_end > st->last_win_end[k])
        st->last_win_end[k] = sig->win_end;
}

static void hex64(uint64_t v, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = hex[v & 15];
    out[16] = '\0';
}

char *ew_alert_json(const char *account, size_t account_len, const struct ew_signal *sig,
                    const struct ew_risk_state *st, const struct ew_risk_decision *d, int64_t ts)
{
    char idbuf[1400], id[17], inc[17];
    int n = snprintf(idbuf, sizeof idbuf, "%.*s|%s|%.*s|%" PRId64 "|%d", (int)account_len,
                     account, ew_signal_name(sig->kind), (int)(sig->post ? sig->post_len : 0),
                     sig->post ? sig->post : "", sig->win_start, (int)d->level);
    hex64(ew_hash64(idbuf, (size_t)(n < (int)sizeof idbuf ? n : (int)sizeof idbuf - 1)), id);
    n = snprintf(idbuf, sizeof idbuf, "%.*s|%" PRId64, (int)account_len, account,
                 st->incident_ms);
    hex64(ew_hash64(idbuf, (size_t)(n < (int)sizeof idbuf ? n : (int)sizeof idbuf - 1)), inc);

    json_t *a = json_object();
    json_t *ev = sig->evidence ? json_deep_copy(sig->evidence) : json_object();
    if (!a || !ev || !json_is_object(ev))
        goto fail;
    json_object_set_new(ev, "incident", json_string(inc));
    json_object_set_new(ev, "action", json_string(d->action));
    json_object_set_new(a, "alert_id", json_string(id));
    json_object_set_new(a, "account", json_stringn(account, account_len));
    if (sig->post)
        json_object_set_new(a, "post", json_stringn(sig->post, sig->post_len));
    json_object_set_new(a, "signal", json_string(ew_signal_name(sig->kind)));
    json_object_set_new(a, "score", json_real(round(sig->score * 1000.0) / 10.0));
    json_object_set_new(a, "level", json_string(ew_level_name(d->level)));
    json_object_set_new(a, "ts", json_integer(ts));
    json_object_set_new(a, "window", json_pack("{s:I,s:I}", "start", (json_int_t)sig->win_start,
                                               "end", (json_int_t)sig->win_end));
    json_object_set_new(a, "risk", json_real(round(d->risk * 10.0) / 10.0));
    json_object_set_new(a, "evidence", ev);
    ev = NULL;
    char *s = json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(a);
    return s;
fail:
    json_decref(ev);
    json_decref(a);
    return NULL;
}

/* ---- state in the account hash ------------------------------------------------ */

static const char sigchar[EW_SIG__COUNT] = {'b', 'h', 'g', 'e'};

void ew_risk_load(struct ew_risk_state *st, ew_field_get get, void *ctx)
{
    char f[8];
    int found;
    memset(st, 0, sizeof *st);
    st->risk_milli = get(ctx, "Rs", &found);
    st->updated_ms = get(ctx, "Rt", &found);
    st->incident_ms = get(ctx, "Ri", &found);
    st->level = get(ctx, "Rl", &found);
    st->last_signal_ms = get(ctx, "Rz", &found);
    st->alerts = get(ctx, "Rn", &found);
    for (int k = 0; k < EW_SIG__COUNT; k++) {
        snprintf(f, sizeof f, "Ra%c", sigchar[k]);
        st->last_alert_ms[k] = get(ctx, f, &found);
        snprintf(f, sizeof f, "Rw%c", sigchar[k]);
        st->last_win_end[k] = get(ctx, f, &found);
    }
}

int ew_risk_store(const struct ew_risk_state *st, ew_field_set set, void *ctx)
{
    char f[8];
    int rc = set(ctx, "Rs", st->risk_milli) | set(ctx, "Rt", st->updated_ms) |
             set(ctx, "Ri", st->incident_ms) | set(ctx, "Rl", st->level) |
             set(ctx, "Rz", st->last_signal_ms) | set(ctx, "Rn", st->alerts);
    for (int k = 0; k < EW_SIG__COUNT; k++) {
        snprintf(f, sizeof f, "Ra%c", sigchar[k]);
        rc |= set(ctx, f, st->last_alert_ms[k]);
        snprintf(f, sizeof f, "Rw%c", sigchar[k]);
        rc |= set(ctx, f, st->last_win_end[k]);
    }
    return rc ? -1 : 0;
}
