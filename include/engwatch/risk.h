/* risk — turns detector signals into per-account risk, incidents and alerts.
 *
 * Risk is a number in [0, 100] that decays with event time (half-life
 * risk.half_life) and grows by weight[kind] x score with each signal.  An
 * incident opens when risk reaches risk.info and its level follows the risk
 * (info, warning, critical); it resolves after risk.resolve_after of event
 * time without signals.  Within an incident an alert is emitted when
 *   - the incident opens                      (action "opened"),
 *   - the level rises                         (action "escalated"),
 *   - a signal kind appears for the first time (action "signal"),
 *   - the same kind fires again on a later window at least
 *     risk.realert_after after its last alert (action "update").
 * Everything else only updates the risk: a campaign is one incident with a
 * few alerts, not an alert per batch.
 *
 * The state lives in the account's Redis hash (fields R*, see window.h);
 * these functions are pure: state in, state and decision out.
 */
#ifndef ENGWATCH_RISK_H
#define ENGWATCH_RISK_H

#include <stddef.h>
#include <stdint.h>

#include "engwatch/config.h"
#include "engwatch/detect.h"

enum ew_level { EW_LEVEL_NONE = 0, EW_LEVEL_INFO, EW_LEVEL_WARNING, EW_LEVEL_CRITICAL };
const char *ew_level_name(enum ew_level l); /* "info" "warning" "critical" ("none") */

struct ew_risk_state {
    int64_t risk_milli;   /* risk x 1000 at updated_ms */
    int64_t updated_ms;
    int64_t incident_ms;  /* when the open incident opened; 0 = none */
    int64_t level;        /* enum ew_level of the open incident */
    int64_t last_signal_ms;
    int64_t last_alert_ms[EW_SIG__COUNT];
    int64_t last_win_end[EW_SIG__COUNT];
    int64_t alerts;       /* alerts emitted in the open incident */
};

struct ew_risk_decision {
    int alert;            /* 1: emit an alert */
    const char *action;   /* "opened" "escalated" "signal" "update" */
    enum ew_level level;
    double risk;          /* account risk after the signal, 0..100 */
};

/* The decayed risk at now (0..100). */
double ew_risk_value(const struct ew_config *cfg, const struct ew_risk_state *st, int64_t now);

/* Apply one signal observed at event time now.  Updates st; fills d. */
void ew_risk_apply(const struct ew_config *cfg, struct ew_risk_state *st,
                   const struct ew_signal *sig, int64_t now, struct ew_risk_decision *d);

/* The alert record (alert schema v1) as compact JSON, NUL-terminated, malloc'd
 * (caller frees), or NULL on allocation failure.  Takes a reference to
 * sig->evidence (does not steal it).  The alert_id is a stable hash of the
 * account, signal, post, window start and level, so a retried delivery of the
 * same alert carries the same id. */
char *ew_alert_json(const char *account, size_t account_len, const struct ew_signal *sig,
                    const struct ew_risk_state *st, const struct ew_risk_decision *d, int64_t ts);

/* Field names of the state in the account hash, and (de)serialisation
 * through get/set callbacks over the account's fields. */
typedef int64_t (*ew_field_get)(void *ctx, const char *field, int *found);
typedef int (*ew_field_set)(void *ctx, const char *field, int64_t value);
void ew_risk_load(struct ew_risk_state *st, ew_field_get get, void *ctx);
int ew_risk_store(const struct ew_risk_state *st, ew_field_set set, void *ctx);

#endif
