/* Token sampling: greedy, temperature, top-k, top-p, with a per-sampler seeded generator.
 *
 * The distribution is softmax(logits / T) over the top_k most likely tokens, then cut to the
 * smallest most-likely prefix with mass >= top_p, renormalised. Candidates are ordered by
 * logit (descending), ties by id (ascending), so results are reproducible everywhere.
 * Exponentials are taken in double of (l - max) / T, so tiny temperatures cannot overflow.
 * NaN logits count as -inf, +inf as the largest float. All scratch is allocated once at creation. */
#include "llm/sampler.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct cand {
    float v;
    int32_t id;
} cand;

struct fr_sampler {
    fr_sampler_params p;
    int32_t n_vocab;
    uint64_t s[4];
    cand *c;    /* [n_vocab] candidates */
    double *w;  /* [n_vocab] their weights */
};

fr_sampler_params fr_sampler_default_params(void) {
    fr_sampler_params p;
    memset(&p, 0, sizeof p);
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.seed = 42;
    return p;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void fr_sampler_reseed(fr_sampler *s, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        s->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t fr_sampler_next_u64(fr_sampler *s) {
    uint64_t *t = s->s;
    uint64_t r = rotl(t[1] * 5, 7) * 9;
    uint64_t u = t[1] << 17;
    t[2] ^= t[0];
    t[3] ^= t[1];
    t[1] ^= t[2];
    t[0] ^= t[3];
    t[2] ^= u;
    t[3] = rotl(t[3], 45);
    return r;
}

double fr_sampler_uniform(fr_sampler *s) {
    return (double)(fr_sampler_next_u64(s) >> 11) * 0x1.0p-53;
}

fr_status fr_sampler_create(const fr_sampler_params *params, int32_t n_vocab, fr_sampler **out,
                            fr_error *err) {
    if (!out)
        return fr_fail(err, FR_E_ARG, "fr_sampler_create: NULL out");
    *out = NULL;
    fr_sampler_params p = params ? *params : fr_sampler_default_params();
    if (!(p.temperature >= 0.0f) || isinf(p.temperature))
        return fr_fail(err, FR_E_ARG, "temperature %g must be finite and >= 0",
                       (double)p.temperature);
    if (!(p.top_p > 0.0f && p.top_p <= 1.0f))
        return fr_fail(err, FR_E_ARG, "top_p %g must be in (0, 1]", (double)p.top_p);
    if (n_vocab < 1)
        return fr_fail(err, FR_E_ARG, "n_vocab %d must be at least 1", n_vocab);
    fr_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return fr_fail(err, FR_E_NOMEM, "fr_sampler_create: out of memory");
    s->p = p;
    s->n_vocab = n_vocab;
    s->c = malloc(sizeof *s->c * (size_t)n_vocab);
    s->w = malloc(sizeof *s->w * (size_t)n_vocab);
    if (!s->c || !s->w) {
        fr_sampler_free(s);
        return fr_fail(err, FR_E_NOMEM, "fr_sampler_create: out of memory");
    }
    fr_sampler_reseed(s, p.seed);
    *out = s;
    return FR_OK;
}

void fr_sampler_free(fr_sampler *s) {
    if (!s)
        return;
    free(s->c);
    free(s->w);
    free(s);
}

/* NaN ranks lowest; +inf is clamped so that (v - max) stays finite. */
static float clean(float v) {
    return isnan(v) ? -INFINITY : v > FLT_MAX ? FLT_MAX : v;
}

int32_t fr_sampler_argmax(const float *logits, int32_t n) {
    if (n < 1)
        return -1;
    int32_t best = 0;
    float bv = clean(logits[0]);
    for (int32_t i = 1; i < n; i++) {
        float v = clean(logits[i]);
        if (v > bv) {
            bv = v;
            best = i;
        }
    }
    return best;
}

/* a ranks before b. */
static int better(const cand *a, const cand *b) {
    return a->v > b->v || (a->v == b->v && a->id < b->id);
}

static int cmp_cand(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    if (better(a, b))
        return -1;
    if (better(b, a))
        return 1;
    return 0;
}

/* Min-heap on "better": the root is the worst kept candidate. */
static void sift_down(cand *h, int32_t n, int32_t i) {
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && better(&h[w], &h[l]))
            w = l;
        if (r < n && better(&h[w], &h[r]))
            w = r;
        if (w == i)
            return;
        cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* Fills s->c[0..m) and s->w[0..m) (normalised) with the kept candidates; returns m >= 1.
 * Temperature must be > 0. */
static int32_t build(fr_sampler *s, const float *logits) {
    int32_t n = s->n_vocab, m;
    cand *c = s->c;
    double *w = s->w;
    bool sorted = false;
    if (s->p.top_k > 0 && s->p.top_k < n) {
        int32_t k = s->p.top_k;
        for (int32_t i = 0; i < k; i++)
            c[i] = (cand){clean(logits[i]), i};
        for (int32_t i = k / 2 - 1; i >= 0; i--)
            sift_down(c, k, i);
        for (int32_t i = k; i < n; i++) {
            cand x = {clean(logits[i]), i};
            if (better(&x, &c[0])) {
                c[0] = x;
                sift_down(c, k, 0);
            }
        }
        qsort(c, (size_t)k, sizeof *c, cmp_cand);
        m = k;
        sorted = true;
    } else {
        for (int32_t i = 0; i < n; i++)
            c[i] = (cand){clean(logits[i]), i};
        m = n;
    }
    float vmax = -INFINITY;
    for (int32_t i = 0; i < m; i++)
        vmax = c[i].v > vmax ? c[i].v : vmax;
    double inv_t = 1.0 / (double)s->p.temperature, z = 0.0;
    for (int32_t i = 0; i < m; i++) {
        w[i] = vmax == -INFINITY ? 1.0 : exp(((double)c[i].v - (double)vmax) * inv_t);
        z += w[i];
    }
    if (s->p.top_p < 1.0f && m > 1) {
        double p = (double)s->p.top_p;
        if (!sorted) {
            /* Tokens below (1-p)/(m-1) of the mass cannot be in the nucleus: together they
             * weigh less than 1-p. Drop them before sorting. */
            double thresh = (1.0 - p) / (double)(m - 1) * z;
            int32_t j = 0;
            for (int32_t i = 0; i < m; i++)
                if (w[i] >= thresh)
                    c[j++] = c[i];
            m = j;
            qsort(c, (size_t)m, sizeof *c, cmp_cand);
            for (int32_t i = 0; i < m; i++)
                w[i] = vmax == -INFINITY ? 1.0 : exp(((double)c[i].v - (double)vmax) * inv_t);
        }
        double cum = 0.0;
        int32_t keep = m;
        for (int32_t i = 0; i < m; i++) {
            cum += w[i] / z;
            if (cum >= p) {
                keep = i + 1;
                break;
            }
        }
        m = keep;
        z = 0.0;
        for (int32_t i = 0; i < m; i++)
            z += w[i];
    }
    for (int32_t i = 0; i < m; i++)
        w[i] /= z;
    return m;
}

int32_t fr_sampler_sample(fr_sampler *s, const float *logits, int32_t n_vocab) {
    if (!s || !logits || n_vocab != s->n_vocab)
        return -1;
    if (s->p.temperature == 0.0f)
        return fr_sampler_argmax(logits, n_vocab);
    int32_t m = build(s, logits);
    double u = fr_sampler_uniform(s), cum = 0.0;
    for (int32_t i = 0; i < m; i++) {
        cum += s->w[i];
        if (u < cum)
            return s->c[i].id;
    }
    return s->c[m - 1].id;
}

fr_status fr_sampler_probs(fr_sampler *s, const float *logits, int32_t n_vocab, float *probs,
                           fr_error *err) {
    if (!s || !logits || !probs)
        return fr_fail(err, FR_E_ARG, "fr_sampler_probs: NULL argument");
    if (n_vocab != s->n_vocab)
        return fr_fail(err, FR_E_ARG, "fr_sampler_probs: %d logits for a sampler of %d",
                       n_vocab, s->n_vocab);
    memset(probs, 0, sizeof(float) * (size_t)n_vocab);
    if (s->p.temperature == 0.0f) {
        probs[fr_sampler_argmax(logits, n_vocab)] = 1.0f;
        return FR_OK;
    }
    int32_t m = build(s, logits);
    for (int32_t i = 0; i < m; i++)
        probs[s->c[i].id] = (float)s->w[i];
    return FR_OK;
}

int32_t fr_sampler_sample_weights(fr_sampler *s, const float *weights, int32_t n) {
    if (!s || !weights || n < 1)
        return -1;
    double z = 0.0;
    for (int32_t i = 0; i < n; i++)
        if (weights[i] > 0.0f)
            z += weights[i];
    if (!(z > 0.0) || isinf(z))
        return -1;
    double u = fr_sampler_uniform(s) * z, cum = 0.0;
    int32_t last = -1;
    for (int32_t i = 0; i < n; i++) {
        if (!(weights[i] > 0.0f))
            continue;
        cum += weights[i];
        last = i;
        if (u < cum)
            return i;
    }
    return last;
}
