/* textbench — classification throughput of the text module.
 *
 * Classifies N realistic comments (default 1,000,000: a mix of Chinese and
 * English reviews, questions, praise, laughter and emoji, each varied with
 * trailing emoji and punctuation so no two consecutive inputs are the same)
 * with the lexicon in LEXDIR (default conf/lexicon) and one context, as one
 * pipeline thread would, and prints
 *   text: comments=N seconds=S per_s=R ns_per_comment=X
 * followed by the class counts.
 *
 * usage: textbench [-n COUNT] [-l LEXDIR]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engwatch/text.h"

static const char *const bodies[] = {
    "好看",
    "支持支持",
    "太好看了吧！！",
    "绝绝子",
    "爱了爱了",
    "哈哈哈哈哈哈",
    "666666",
    "已关注求回关",
    "在哪买?",
    "尺码偏小，建议拍大一码",
    "链接呢",
    "多少钱",
    "色号是多少",
    "面料有点薄，夏天穿刚好",
    "身高165体重110穿M码合适吗",
    "物流太慢了，等了十天才到，包装还破了",
    "这个颜色显黑吗？黄皮能用吗",
    "上次买的那款洗了一次就起球了，这次的怎么样",
    "宝藏博主！每一期都认真看了",
    "口红是哪个色号？求链接🙏",
    "👍👍",
    "🔥🔥🔥",
    "❤️",
    "😍😍😍",
    "ＮＩＣＥ！",
    "nice pic",
    "Love it!!",
    "wow amazing",
    "follow back?",
    "hahahaha",
    "what size is she wearing?",
    "I bought the blue one and it faded after one wash",
    "Where did you get the jacket? The link in bio is broken",
    "Honestly the quality is better than I expected for the price",
    "好看 nice!!",
    "2333333",
};

static const char *const tails[] = {"", "!", "!!", "～", "😂", "👍", " 🔥🔥", "。", "?", "😭😭"};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_count(const char *s, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v == 0) return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long n = 1000000;
    const char *lexdir = "conf/lexicon";
    int opt;

    while ((opt = getopt(argc, argv, "n:l:")) != -1) {
        if (opt == 'n' && parse_count(optarg, &n) == 0) continue;
        if (opt == 'l') {
            lexdir = optarg;
            continue;
        }
        fprintf(stderr, "usage: textbench [-n COUNT] [-l LEXDIR]\n");
        return 2;
    }

    enum { NB = sizeof bodies / sizeof bodies[0], NT = sizeof tails / sizeof tails[0] };
    char inputs[NB * NT][256];
    size_t lens[NB * NT];
    for (size_t b = 0; b < NB; b++) {
        for (size_t t = 0; t < NT; t++) {
            int k = snprintf(inputs[b * NT + t], sizeof inputs[0], "%s%s", bodies[b], tails[t]);
            lens[b * NT + t] = k > 0 ? (size_t)k : 0;
        }
    }

    char err[512];
    struct ew_lexicon *lex = NULL;
    struct ew_text_ctx *ctx = NULL;
    int rc = 1;
    if (ew_lexicon_load_dir(lexdir, &lex, err, sizeof err) < 0) {
        fprintf(stderr, "textbench: %s\n", err);
        goto out;
    }
    ctx = ew_text_ctx_new();
    if (!ctx) {
        fprintf(stderr, "textbench: out of memory\n");
        goto out;
    }

    unsigned long counts[EW_TEXT__COUNT] = {0};
    uint64_t fold = 0; /* keeps the compiler from dropping the work */
    size_t idx = 0;
    double t0 = now_s();
    for (unsigned long i = 0; i < n; i++) {
        struct ew_text_result r;
        idx = (idx + 1) % (NB * NT);
        if (ew_text_classify(ctx, lex, NULL, inputs[idx], lens[idx], &r) < 0) {
            fprintf(stderr, "textbench: classify failed\n");
            goto out;
        }
        counts[r.cls]++;
        fold ^= r.fingerprint;
    }
    double secs = now_s() - t0;

    printf("text: comments=%lu seconds=%.3f per_s=%.0f ns_per_comment=%.1f\n", n, secs,
           (double)n / secs, secs * 1e9 / (double)n);
    printf("text: lexicon=%zu", ew_lexicon_size(lex));
    for (int c = 0; c < EW_TEXT__COUNT; c++)
        printf(" %s=%lu", ew_text_class_name((enum ew_text_class)c), counts[c]);
    printf(" fold=%016llx\n", (unsigned long long)fold);
    rc = 0;
out:
    ew_text_ctx_free(ctx);
    ew_lexicon_free(lex);
    return rc;
}
