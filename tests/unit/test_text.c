/* Unit tests for the text module: normalisation, hollow classification,
 * fingerprints and lexicon loading.  Run from the repository root (the
 * shipped lexicon is read from conf/lexicon). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engwatch/text.h"

#define SHIPPED_LEXICON "conf/lexicon"

/* Group state: one context reused by every test (as a pipeline thread does)
 * and the shipped lexicon. */
struct fx {
    struct ew_text_ctx *ctx;
    struct ew_lexicon *lex;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char err[256] = "out of memory";
    if (!f) return -1;
    f->ctx = ew_text_ctx_new();
    if (!f->ctx || ew_lexicon_load_dir(SHIPPED_LEXICON, &f->lex, err, sizeof err) < 0) {
        fprintf(stderr, "fixture: %s\n", err);
        ew_text_ctx_free(f->ctx);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    ew_lexicon_free(f->lex);
    ew_text_ctx_free(f->ctx);
    free(f);
    return 0;
}

static struct ew_text_result classify_p(struct fx *f, const struct ew_lexicon *lex,
                                        const struct ew_text_params *p, const char *s)
{
    struct ew_text_result r;
    memset(&r, 0xa5, sizeof r);
    assert_int_equal(ew_text_classify(f->ctx, lex, p, s, strlen(s), &r), 0);
    return r;
}

/* Classify each text with the default parameters and check its class; a
 * mismatch names the text. */
static void expect_classes(struct fx *f, const struct ew_lexicon *lex, const char *const *texts,
                           size_t n, enum ew_text_class want)
{
    static const struct ew_text_params defaults = EW_TEXT_PARAMS_DEFAULT;
    for (size_t i = 0; i < n; i++) {
        struct ew_text_result r = classify_p(f, lex, &defaults, texts[i]);
        if (r.cls != want)
            fail_msg("\"%s\": got %s, want %s", texts[i], ew_text_class_name(r.cls),
                     ew_text_class_name(want));
    }
}

#define EXPECT(f, lex, want, ...)                                                                  \
    do {                                                                                           \
        static const char *const texts_[] = {__VA_ARGS__};                                         \
        expect_classes((f), (lex), texts_, sizeof texts_ / sizeof texts_[0], (want));              \
    } while (0)

static uint64_t fp(struct fx *f, const char *s)
{
    return classify_p(f, NULL, NULL, s).fingerprint;
}

static void expect_norm(struct fx *f, const char *in, const char *want)
{
    const char *out = NULL;
    size_t len = 0;
    assert_int_equal(ew_text_normalize(f->ctx, in, strlen(in), &out, &len), 0);
    assert_non_null(out);
    assert_int_equal(len, strlen(out));
    if (strcmp(out, want) != 0) fail_msg("normalize(\"%s\") = \"%s\", want \"%s\"", in, out, want);
}

/* ---- normalisation -------------------------------------------------------- */

static void test_class_names(void **state)
{
    (void)state;
    assert_string_equal(ew_text_class_name(EW_TEXT_SUBSTANTIVE), "substantive");
    assert_string_equal(ew_text_class_name(EW_TEXT_EMPTY), "empty");
    assert_string_equal(ew_text_class_name(EW_TEXT_GENERIC), "generic");
    assert_string_equal(ew_text_class_name(EW_TEXT_REPEATED), "repeated");
    assert_string_equal(ew_text_class_name(EW_TEXT_SHORT), "short");
    assert_string_equal(ew_text_class_name(EW_TEXT__COUNT), "unknown");
    assert_false(ew_text_is_hollow(EW_TEXT_SUBSTANTIVE));
    assert_true(ew_text_is_hollow(EW_TEXT_SHORT));
}

static void test_normalize(void **state)
{
    struct fx *f = *state;
    expect_norm(f, "ＮＩＣＥ！", "nice");
    expect_norm(f, "NICE", "nice");
    expect_norm(f, "Hello, World!", "helloworld");
    expect_norm(f, "好看 nice!!", "好看nice");
    expect_norm(f, "在哪买?", "在哪买");
    expect_norm(f, "面料有点薄，夏天穿刚好", "面料有点薄夏天穿刚好");
    expect_norm(f, "café CAFÉ", "cafecafe");     /* accents stripped */
    expect_norm(f, "Straße", "strasse");         /* full case fold */
    expect_norm(f, "①②③ ｶﾞ", "123カ");           /* compatibility forms; voicing mark */
    expect_norm(f, "好\u3000看\u200b!", "好看"); /* ideographic space, zero-width space */
    expect_norm(f, "👍👍 🔥 ❤️ 👨‍👩‍👧", ""); /* emoji only */
    expect_norm(f, "a\tb\r\nc", "abc");
    expect_norm(f, "", "");
}

/* ---- classification ------------------------------------------------------- */

static void test_empty(void **state)
{
    struct fx *f = *state;
    EXPECT(f, f->lex, EW_TEXT_EMPTY, "", "👍👍", "🔥🔥🔥", "❤️", "!!!", "   ", "。。。", "😍😍😍",
           "👍🏻", "\u200d\ufe0f", "#️⃣");
    assert_int_equal(classify_p(f, f->lex, NULL, "👍👍").norm_chars, 0);
}

static void test_generic(void **state)
{
    struct fx *f = *state;
    EXPECT(f, f->lex, EW_TEXT_GENERIC, "支持", "好看", "ＮＩＣＥ！", "NICE", "nice", "Nice pic 😍",
           "好看 nice!!", "支持支持好看", "太好看了！！！", "love it ❤️", "Love It", "爱了爱了",
           "绝绝子", "awesome post 🔥🔥", "Follow back?", "f4f", "wow nice pic", "WOW!!! amazing",
           "666", "666666", "哈哈哈哈", "冲冲冲！", "赞👍", "美", "牛", "yyds", "宝藏博主！",
           "已关注，求回关", "打卡", "check my page", "keep it up!!", "好美好美好美");
}

/* The segmenter must find splits a greedy longest match misses. */
static void test_generic_segmentation(void **state)
{
    struct fx *f = *state;
    static const char *const words[] = {"ab", "abc", "cd"};
    struct ew_lexicon *lex = NULL;
    assert_int_equal(ew_lexicon_from_list(words, 3, &lex), 0);
    EXPECT(f, lex, EW_TEXT_GENERIC, "abcd", "abc", "ab cd ab", "ABC-CD");
    EXPECT(f, lex, EW_TEXT_SUBSTANTIVE, "abce", "bcd", "abcdx");
    ew_lexicon_free(lex);

    /* 60 code points of entries are generic, 66 are not (the bound). */
    static const char six[] = "支持好看点赞";
    char buf[512];
    size_t n = 0;
    for (int i = 0; i < 10; i++, n += sizeof six - 1)
        memcpy(buf + n, six, sizeof six - 1);
    buf[n] = '\0';
    assert_int_equal(classify_p(f, f->lex, NULL, buf).norm_chars, 60);
    assert_int_equal(classify_p(f, f->lex, NULL, buf).cls, EW_TEXT_GENERIC);
    memcpy(buf + n, six, sizeof six);
    assert_int_equal(classify_p(f, f->lex, NULL, buf).cls, EW_TEXT_SUBSTANTIVE);
}

static void test_repeated(void **state)
{
    struct fx *f = *state;
    EXPECT(f, NULL, EW_TEXT_REPEATED, "哈哈哈哈", "哈哈哈", "666666", "好好好好", "hahahaha",
           "HaHaHa!!", "2333", "23333333", "hmmm", "awww", "啊啊啊啊啊", "支持支持支持",
           "太好看了太好看了", "abcdabcd", "嗯嗯嗯", "哈 哈 哈 !");
    /* With the shipped lexicon, repeats of entries are generic; others stay repeated. */
    EXPECT(f, f->lex, EW_TEXT_REPEATED, "好好好好", "hehehe", "2333", "啊啊啊啊", "嘻嘻嘻");
    /* Too short, unit too long, or broken. */
    EXPECT(f, NULL, EW_TEXT_SUBSTANTIVE, "哈哈", "abcab", "abcdeabcde", "哈哈哈嘿", "2334", "ab");
}

static void test_short(void **state)
{
    struct fx *f = *state;
    EXPECT(f, NULL, EW_TEXT_SHORT, "好", "a", "？好！", "7");
    EXPECT(f, f->lex, EW_TEXT_SHORT, "嗯", "Q");

    struct ew_text_params p = {.short_max_chars = 3};
    assert_int_equal(classify_p(f, f->lex, &p, "好吧").cls, EW_TEXT_SHORT);
    assert_int_equal(classify_p(f, f->lex, &p, "在哪买").cls, EW_TEXT_SHORT);
    assert_int_equal(classify_p(f, f->lex, &p, "尺码偏小").cls, EW_TEXT_SUBSTANTIVE);
    p.short_max_chars = 0;
    assert_int_equal(classify_p(f, f->lex, &p, "好").cls, EW_TEXT_SUBSTANTIVE);
}

static void test_substantive(void **state)
{
    struct fx *f = *state;
    EXPECT(f, f->lex, EW_TEXT_SUBSTANTIVE, "在哪买?", "尺码偏小", "what size is she wearing?",
           "链接呢", "多少钱", "色号是多少", "面料有点薄，夏天穿刚好",
           "I bought the blue one and it faded after one wash", "这个包能装下13寸电脑吗",
           "身高165体重110穿M码合适吗", "好看但是有点贵", "nice but the strap broke in a week",
           "口红是哪个色号？求链接🙏", "Where did you get the jacket?", "物流太慢了，等了十天",
           "哈哈哈哈哈哈笑死我了这个猫");
}

/* ---- fingerprints ----------------------------------------------------------- */

static void test_fingerprint(void **state)
{
    struct fx *f = *state;
    /* Equal modulo spacing, punctuation, case, width, variation selectors, ZWJ. */
    assert_true(fp(f, "👍👍") == fp(f, "👍 👍!"));
    assert_true(fp(f, "❤️❤️") == fp(f, "❤❤"));
    assert_true(fp(f, "👨‍👩‍👧") == fp(f, "👨👩👧"));
    assert_true(fp(f, "Nice pic!") == fp(f, "nice   pic"));
    assert_true(fp(f, "Nice pic!") == fp(f, "ＮＩＣＥ ＰＩＣ"));
    assert_true(fp(f, "好看！") == fp(f, "好看"));
    assert_true(fp(f, "好看😍😍") == fp(f, "好看 😍😍。"));
    /* Different texts, different emoji, different counts. */
    assert_true(fp(f, "👍👍") != fp(f, "❤️❤️"));
    assert_true(fp(f, "👍") != fp(f, "👍👍"));
    assert_true(fp(f, "👍") != fp(f, "👍🏿")); /* skin tone is a symbol: kept */
    assert_true(fp(f, "好看") != fp(f, "好美"));
    assert_true(fp(f, "好看😍") != fp(f, "好看"));
    assert_true(fp(f, "ab") != fp(f, "ba"));
    /* Fingerprints are stored across restarts: pin the values. */
    assert_true(fp(f, "") == fp(f, "!!! ..."));
    assert_true(fp(f, "") == UINT64_C(0x552d3fb62b3c344f));
    assert_true(fp(f, "nice") == UINT64_C(0x128d09dfb9dbcf14));
    assert_true(fp(f, "👍👍") == UINT64_C(0x2f2bcf0aecb6a92e));
    assert_true(fp(f, "好看") == UINT64_C(0x84703ebcac116b37));
}

/* ---- lexicon ----------------------------------------------------------------- */

static void test_lexicon_from_list(void **state)
{
    (void)state;
    struct ew_lexicon *lex = NULL;
    static const char *const ok[] = {"Nice", "nice!", "ＮＩＣＥ", "好看", "love it", "loveit"};
    assert_int_equal(ew_lexicon_from_list(ok, 6, &lex), 0);
    assert_int_equal(ew_lexicon_size(lex), 3); /* duplicates after normalisation merge */
    ew_lexicon_free(lex);

    static const char *const emoji[] = {"nice", "❤️"};
    lex = NULL;
    assert_int_equal(ew_lexicon_from_list(emoji, 2, &lex), -1);
    assert_null(lex);
    static const char *const bad[] = {"ni\xff\x63\x65"}; /* "ni?ce" */
    ;
    assert_int_equal(ew_lexicon_from_list(bad, 1, &lex), -1);
    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *const longone[] = {big};
    assert_int_equal(ew_lexicon_from_list(longone, 1, &lex), -1);
    assert_int_equal(ew_lexicon_from_list(NULL, 0, &lex), 0);
    assert_int_equal(ew_lexicon_size(lex), 0);
    ew_lexicon_free(lex);
    ew_lexicon_free(NULL);
    assert_int_equal(ew_lexicon_size(NULL), 0);
}

static void write_file(const char *dir, const char *name, const char *content)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(content, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

static void remove_file(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

static void test_lexicon_load_dir(void **state)
{
    (void)state;
    char dir[] = "/tmp/ew_lexicon_XXXXXX";
    char err[256];
    struct ew_lexicon *lex = NULL;
    assert_non_null(mkdtemp(dir));

    /* No *.txt at all is an error (a wrong path, usually). */
    write_file(dir, "README.md", "not a lexicon\n");
    assert_int_equal(ew_lexicon_load_dir(dir, &lex, err, sizeof err), -1);
    assert_non_null(strstr(err, "no *.txt"));

    write_file(dir, "a.txt", "\xEF\xBB\xBF# header after a BOM\n\n  支持  \r\n好看\nnice\n");
    write_file(dir, "b.txt", "# second file\nNICE!\nlove it\n\t\n");
    write_file(dir, ".b.txt.swp", "\xff\xff\n"); /* editor droppings are skipped */
    assert_int_equal(ew_lexicon_load_dir(dir, &lex, err, sizeof err), 0);
    assert_int_equal(ew_lexicon_size(lex), 4);
    struct ew_text_ctx *ctx = ew_text_ctx_new();
    struct ew_text_result r;
    assert_int_equal(ew_text_classify(ctx, lex, NULL, "支持 love it", 14, &r), 0);
    assert_int_equal(r.cls, EW_TEXT_GENERIC);
    ew_text_ctx_free(ctx);
    ew_lexicon_free(lex);

    /* Errors name the file and the line; files load in name order. */
    write_file(dir, "c.txt", "# hearts\nok\n❤️\n");
    lex = NULL;
    assert_int_equal(ew_lexicon_load_dir(dir, &lex, err, sizeof err), -1);
    assert_null(lex);
    assert_non_null(strstr(err, "/c.txt:3: "));
    assert_non_null(strstr(err, "normalises to nothing"));

    write_file(dir, "c.txt", "ok\nbad \xe5\xa5 utf8\n");
    assert_int_equal(ew_lexicon_load_dir(dir, &lex, err, sizeof err), -1);
    assert_non_null(strstr(err, "/c.txt:2: invalid UTF-8"));

    char line[400];
    memset(line, 'x', 300);
    line[300] = '\n';
    line[301] = '\0';
    write_file(dir, "c.txt", line);
    assert_int_equal(ew_lexicon_load_dir(dir, &lex, err, sizeof err), -1);
    assert_non_null(strstr(err, "/c.txt:1: entry longer than 256 bytes"));
    /* A NULL err buffer is allowed. */
    assert_int_equal(ew_lexicon_load_dir(dir, &lex, NULL, 0), -1);

    remove_file(dir, "README.md");
    remove_file(dir, "a.txt");
    remove_file(dir, "b.txt");
    remove_file(dir, "c.txt");
    remove_file(dir, ".b.txt.swp");
    assert_int_equal(rmdir(dir), 0);

    assert_int_equal(ew_lexicon_load_dir("/nonexistent/lexicon", &lex, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/lexicon: cannot open"));
}

static void test_lexicon_shipped(void **state)
{
    struct fx *f = *state;
    assert_true(ew_lexicon_size(f->lex) > 50);
    /* Loading twice gives the same set (name order, no hidden state). */
    struct ew_lexicon *again = NULL;
    char err[256];
    assert_int_equal(ew_lexicon_load_dir(SHIPPED_LEXICON, &again, err, sizeof err), 0);
    assert_int_equal(ew_lexicon_size(again), ew_lexicon_size(f->lex));
    ew_lexicon_free(again);
}

/* ---- hostile input ------------------------------------------------------------ */

static void test_zero_and_invalid(void **state)
{
    struct fx *f = *state;
    struct ew_text_result r;
    const char *out;
    size_t len;

    assert_int_equal(ew_text_classify(f->ctx, f->lex, NULL, NULL, 0, &r), 0);
    assert_int_equal(r.cls, EW_TEXT_EMPTY);
    assert_int_equal(r.norm_chars, 0);
    assert_int_equal(ew_text_classify(f->ctx, f->lex, NULL, "x", 0, &r), 0);
    assert_int_equal(r.cls, EW_TEXT_EMPTY);
    assert_int_equal(ew_text_normalize(f->ctx, NULL, 0, &out, &len), 0);
    assert_string_equal(out, "");
    assert_int_equal(ew_text_classify(f->ctx, f->lex, NULL, NULL, 3, &r), -1);
    assert_int_equal(ew_text_classify(NULL, f->lex, NULL, "x", 1, &r), -1);

    /* Invalid bytes are dropped, the rest survives. */
    static const char bad1[] = "好\xff看";
    assert_int_equal(ew_text_normalize(f->ctx, bad1, sizeof bad1 - 1, &out, &len), 0);
    assert_string_equal(out, "好看");
    static const char bad2[] = "\xe5\xa5nice\xc0\x80\xed\xa0\x80\xf4\x90\x80\x80\x80";
    assert_int_equal(ew_text_normalize(f->ctx, bad2, sizeof bad2 - 1, &out, &len), 0);
    assert_string_equal(out, "nice");
    assert_int_equal(ew_text_classify(f->ctx, f->lex, NULL, bad2, sizeof bad2 - 1, &r), 0);
    assert_int_equal(r.cls, EW_TEXT_GENERIC);
    static const char trunc[] = "好看\xe5\xa5";
    assert_int_equal(ew_text_classify(f->ctx, f->lex, NULL, trunc, sizeof trunc - 1, &r), 0);
    assert_int_equal(r.cls, EW_TEXT_GENERIC);
    static const char allbad[] = "\xff\xfe\xfd\x80\x80";
    assert_int_equal(ew_text_classify(f->ctx, f->lex, NULL, allbad, sizeof allbad - 1, &r), 0);
    assert_int_equal(r.cls, EW_TEXT_EMPTY);
    /* Embedded NUL is a control character: dropped. */
    assert_int_equal(ew_text_normalize(f->ctx, "ni\0ce", 5, &out, &len), 0);
    assert_string_equal(out, "nice");

    /* Every byte value alone and in pairs: no crash, no sanitizer report. */
    for (unsigned a = 0; a < 256; a++) {
        for (unsigned b = 0; b < 256; b += 15) {
            char s[3] = {(char)a, (char)b, (char)0xe5};
            assert_int_equal(ew_text_classify(f->ctx, f->lex, NULL, s, sizeof s, &r), 0);
        }
    }
}

static void test_large_input(void **state)
{
    struct fx *f = *state;
    enum { SZ = 8192 };
    char *buf = malloc(SZ + 1);
    struct ew_text_result r;
    assert_non_null(buf);

    /* A long real review, repeated to 8 KiB. */
    static const char review[] = "面料有点薄，夏天穿刚好。I bought the blue one! ";
    size_t n = 0;
    while (n + sizeof review - 1 <= SZ) {
        memcpy(buf + n, review, sizeof review - 1);
        n += sizeof review - 1;
    }
    assert_int_equal(ew_text_classify(f->ctx, f->lex, NULL, buf, n, &r), 0);
    assert_int_equal(r.cls, EW_TEXT_SUBSTANTIVE);
    assert_true(r.norm_chars > 1000);

    /* A wall of laughter is repeated however long it is. */
    for (n = 0; n + 3 <= SZ; n += 3)
        memcpy(buf + n, "哈", 3);
    assert_int_equal(ew_text_classify(f->ctx, f->lex, NULL, buf, n, &r), 0);
    assert_int_equal(r.cls, EW_TEXT_REPEATED);
    assert_int_equal(r.norm_chars, n / 3);

    /* Expanding compatibility characters (U+FDFA is 18 code points). */
    for (n = 0; n + 3 <= SZ; n += 3)
        memcpy(buf + n, "\xef\xb7\xba", 3);
    assert_int_equal(ew_text_classify(f->ctx, f->lex, NULL, buf, n, &r), 0);
    assert_int_equal(r.cls, EW_TEXT_SUBSTANTIVE);

    /* Pseudo-random bytes. */
    uint32_t x = 2463534242u;
    for (n = 0; n < SZ; n++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[n] = (char)(x >> 24);
    }
    assert_int_equal(ew_text_classify(f->ctx, f->lex, NULL, buf, SZ, &r), 0);
    free(buf);
}

/* 10,000 classifications with one context: after the first pass the heap must
 * not grow (run under valgrind too). */
static void test_no_growth(void **state)
{
    struct fx *f = *state;
    static const char *const texts[] = {
        "好看",
        "在哪买?",
        "👍👍",
        "哈哈哈哈",
        "I bought the blue one and it faded after one wash",
        "面料有点薄，夏天穿刚好",
        "ＮＩＣＥ！",
        "好\xff看",
        "支持支持好看",
        "2333",
    };
    enum { NT = sizeof texts / sizeof texts[0] };
    struct ew_text_result r;
    unsigned counts[EW_TEXT__COUNT] = {0};

    for (size_t i = 0; i < NT; i++)
        assert_int_equal(ew_text_classify(f->ctx, f->lex, NULL, texts[i], strlen(texts[i]), &r), 0);
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < 10000; i++) {
        const char *s = texts[i % NT];
        assert_int_equal(ew_text_classify(f->ctx, f->lex, NULL, s, strlen(s), &r), 0);
        counts[r.cls]++;
    }
    struct mallinfo2 after = mallinfo2();
    assert_int_equal(after.uordblks, before.uordblks);
    assert_int_equal(counts[EW_TEXT_SUBSTANTIVE], 3000);
    assert_int_equal(counts[EW_TEXT_GENERIC], 5000);
    assert_int_equal(counts[EW_TEXT_REPEATED], 1000);
    assert_int_equal(counts[EW_TEXT_EMPTY], 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_class_names),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_generic),
        cmocka_unit_test(test_generic_segmentation),
        cmocka_unit_test(test_repeated),
        cmocka_unit_test(test_short),
        cmocka_unit_test(test_substantive),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_lexicon_from_list),
        cmocka_unit_test(test_lexicon_load_dir),
        cmocka_unit_test(test_lexicon_shipped),
        cmocka_unit_test(test_zero_and_invalid),
        cmocka_unit_test(test_large_input),
        cmocka_unit_test(test_no_growth),
    };
    return cmocka_run_group_tests_name("text", tests, fx_setup, fx_teardown);
}
