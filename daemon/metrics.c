/* metrics — see include/engwatch/metrics.h. */
#include "engwatch/metrics.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const double ew_hist_bounds[EW_HIST_BUCKETS] = {0.5, 1,   2.5, 5,    10,   25,   50,
                                                100, 250, 500, 1000, 2500, 5000, 10000};

void ew_hist_observe(struct ew_hist *h, double ms)
{
    for (int i = 0; i < EW_HIST_BUCKETS; i++)
        if (ms <= ew_hist_bounds[i])
            h->le[i]++;
    h->count++;
    h->sum += ms;
}

int ew_hub_init(struct ew_metrics_hub *h)
{
    memset(h, 0, sizeof *h);
    h->started_unix = (int64_t)time(NULL);
    return pthread_mutex_init(&h->lock, NULL) == 0 ? 0 : -1;
}

void ew_hub_destroy(struct ew_metrics_hub *h) { pthread_mutex_destroy(&h->lock); }

void ew_hub_snapshot(struct ew_metrics_hub *h, struct ew_metrics_hub *out)
{
    pthread_mutex_lock(&h->lock);
    memcpy((char *)out + sizeof out->lock, (char *)h + sizeof h->lock,
           sizeof *h - sizeof h->lock);
    pthread_mutex_unlock(&h->lock);
}

int ew_hub_add_sink(struct ew_metrics_hub *h, const char *name)
{
    int i = -1;
    pthread_mutex_lock(&h->lock);
    for (size_t j = 0; j < h->nsinks; j++)
        if (strcmp(h->sinks[j].name, name) == 0)
            i = (int)j; /* re-registered after a reload: keep its counters */
    if (i < 0 && h->nsinks < EW_HUB_MAX_SINKS) {
        i = (int)h->nsinks++;
        memset(&h->sinks[i], 0, sizeof h->sinks[i]);
        snprintf(h->sinks[i].name, sizeof h->sinks[i].name, "%s", name);
        h->sinks[i].lag = -1;
    }
    pthread_mutex_unlock(&h->lock);
    return i;
}

void ew_hub_sink_update(struct ew_metrics_hub *h, int i,
                        void (*fn)(struct ew_sink_metrics *s, void *arg), void *arg)
{
    if (i < 0 || (size_t)i >= EW_HUB_MAX_SINKS)
        return;
    pthread_mutex_lock(&h->lock);
    fn(&h->sinks[i], arg);
    pthread_mutex_unlock(&h->lock);
}

int64_t ew_process_rss(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long long size, rss;
    if (!f)
        return -1;
    int n = fscanf(f, "%lld %lld", &size, &rss);
    fclose(f);
    return n == 2 ? rss * (int64_t)sysconf(_SC_PAGESIZE) : -1;
}
