/* Pixel-mode TREC (trec.h, "Pixel mode") without the Python twins: argument checks, the
 * fast path of every isa against the scalar reference on random data (bit-identical,
 * float and int8), and the definition checked by another route: the bucket ids recomputed
 * here, the centroid map built here and run through the dense CONV_2D of src/cnn must
 * give the TREC output (int8 bit-exactly, float within rounding), and with distinct
 * pixels in distinct buckets that is the dense convolution of the input itself. */
#include "trec_testutil.h"

#include "core/error.h"
#include "reuse/trec_internal.h"

typedef struct px_conf {
    fr_cnn_geom g;
    fr_trec_params p;
    int K, J, CG; /* J = taps * CG, CG channel groups of sub_len = in_c / CG */
    size_t N, npix; /* rows, input pixels */
} px_conf;

/* A random divisor of n: 1 half of the time, n now and then. */
static int random_divisor(tr_rng *r, int n) {
    if (tr_int(r, 0, 1)) return 1;
    for (;;) {
        const int d = tr_int(r, 1, n);
        if (n % d == 0) return d;
    }
}

static void random_conf(tr_rng *r, px_conf *c, int max_hw, int max_c) {
    for (;;) {
        /* kernels up to 5 x 5 (any shape), and 7 x 7 now and then: more than 32 taps take
         * the row walk instead of the per-cluster tap masks */
        const int big = tr_int(r, 0, 5) == 0;
        const int kh = big ? 7 : tr_int(r, 1, 5), kw = big ? 7 : tr_int(r, 1, 5);
        const int s = tr_int(r, 1, 2), d = tr_int(r, 1, 2);
        const fr_cnn_padding pad = tr_int(r, 0, 2) ? FR_CNN_PAD_SAME : FR_CNN_PAD_VALID;
        const int out_c = tr_int(r, 0, 3) ? tr_int(r, 1, 20) : tr_int(r, 60, 70);
        if (fr_cnn_geom_init(&c->g, "conv", pad, tr_int(r, 1, 3), tr_int(r, 1, max_hw),
                             tr_int(r, 1, max_hw), tr_int(r, 1, max_c), out_c, kh, kw, s, s, d, d,
                             1, NULL) == FR_OK)
            break;
    }
    c->K = c->g.k_h * c->g.k_w * c->g.in_c;
    memset(&c->p, 0, sizeof c->p);
    c->p.pixel = 1;
    c->CG = random_divisor(r, c->g.in_c);
    c->p.sub_len = c->g.in_c / c->CG;
    c->p.hash_bits = tr_int(r, 0, 4) == 0 ? 16 : tr_int(r, 1, 10);
    c->p.scope = tr_int(r, 0, 1) ? FR_TREC_SCOPE_BATCH : FR_TREC_SCOPE_IMAGE;
    c->J = c->g.k_h * c->g.k_w * c->CG;
    c->N = (size_t)c->g.batch * c->g.out_h * c->g.out_w;
    c->npix = (size_t)c->g.batch * c->g.in_h * c->g.in_w;
}


/* Pixel q's group (its image, or 0 for the batch scope). */
static size_t group_of(const px_conf *c, size_t q) {
    return c->p.scope == FR_TREC_SCOPE_BATCH ? 0 : q / ((size_t)c->g.in_h * c->g.in_w);
}

/* The partial-product sets the definition asks for: per scope group, channel group and
 * tap, the distinct buckets of the pixels that the group's rows read through that tap
 * (im2col walk); ids[q * CG + cg]. */
static int64_t used_clusters(const px_conf *c, const uint16_t *ids) {
    const fr_cnn_geom *g = &c->g;
    const int groups = c->p.scope == FR_TREC_SCOPE_BATCH ? 1 : g->batch;
    const int per = g->batch / groups;
    int64_t total = 0;
    uint8_t *seen = malloc((size_t)1 << 16);
    for (int grp = 0; grp < groups; grp++)
        for (int cg = 0; cg < c->CG; cg++)
        for (int fy = 0; fy < g->k_h; fy++)
            for (int fx = 0; fx < g->k_w; fx++) {
                memset(seen, 0, (size_t)1 << 16);
                for (int b = grp * per; b < (grp + 1) * per; b++)
                    for (int oy = 0; oy < g->out_h; oy++)
                        for (int ox = 0; ox < g->out_w; ox++) {
                            const int iy = oy * g->stride_h - g->pad_top + fy * g->dil_h;
                            const int ix = ox * g->stride_w - g->pad_left + fx * g->dil_w;
                            if (iy < 0 || iy >= g->in_h || ix < 0 || ix >= g->in_w) continue;
                            const size_t q = ((size_t)b * g->in_h + iy) * g->in_w + ix;
                            const uint16_t id = ids[q * c->CG + cg];
                            total += !seen[id];
                            seen[id] = 1;
                        }
            }
    free(seen);
    return total;
}

/* ---- argument checks and stats ------------------------------------------------------- */

static void test_pixel_check(void **state) {
    (void)state;
    fr_cnn_geom g;
    fr_error err = {0};
    assert_int_equal(fr_cnn_geom_init(&g, "conv", FR_CNN_PAD_SAME, 1, 8, 8, 4, 8, 3, 3, 1, 1, 1,
                                      1, 1, &err),
                     FR_OK);
    float proj[16 * 4];
    fr_trec_params p = {.sub_len = 4, .hash_bits = 4, .proj_f32 = proj, .pixel = 1};
    assert_int_equal(fr_trec_check(&p, &g, 0, "conv3", &err), FR_OK);
    p.sub_len = 12;
    assert_int_equal(fr_trec_check(&p, &g, 0, "conv3", &err), FR_E_ARG);
    assert_non_null(strstr(err.msg, "conv3"));
    assert_non_null(strstr(err.msg, "pixel"));
    p.sub_len = 3; /* must divide in_c */
    assert_int_equal(fr_trec_check(&p, &g, 0, "conv3", &err), FR_E_ARG);
    p.sub_len = 2; /* two channel groups */
    assert_int_equal(fr_trec_check(&p, &g, 0, "conv3", &err), FR_OK);
    /* one zero projection: every pixel in bucket 2^H - 1, one cluster per image */
    float zero[4 * 4] = {0};
    fr_trec_params z = {.sub_len = 4, .hash_bits = 4, .proj_f32 = zero, .pixel = 1};
    tr_rng r = {7};
    float *x = rand_f32(&r, 64 * 4, 1.0f), *w = rand_f32(&r, 8 * 36, 0.3f);
    float y[64 * 8];
    uint16_t ids[64];
    uint32_t cps[9];
    void *scr = tr_scratch(fr_trec_conv_f32_scratch_bytes(&z, &g));
    fr_trec_stats st = {.bucket_ids = ids, .clusters_per_sub = cps};
    fr_cnn_range_f32 act = {-1e30f, 1e30f};
    fr_trec_conv_f32(fr_isa_best(), &z, &g, act, x, w, NULL, y, scr, &st);
    for (int i = 0; i < 64; i++) assert_int_equal(ids[i], 15);
    for (int j = 0; j < 9; j++) assert_int_equal(cps[j], 1);
    assert_int_equal(st.rows, 64);
    assert_int_equal(st.n_sub, 9);
    assert_int_equal(st.clusters, 9);
    assert_int_equal(st.macs_dense, (int64_t)64 * 36 * 8);
    assert_int_equal(st.macs_reuse, (int64_t)9 * 4 * 8);
    assert_int_equal(st.macs_hash, (int64_t)64 * 4 * 4);
    /* the output of a row is the conv of the mean pixel over the taps inside the image */
    float mean[4] = {0};
    for (int q = 0; q < 64; q++)
        for (int t = 0; t < 4; t++) mean[t] += x[q * 4 + t] / 64.0f;
    for (int o = 0; o < 8; o++) {
        double want = 0; /* row (0, 0): taps (1..2, 1..2) inside */
        for (int fy = 1; fy < 3; fy++)
            for (int fx = 1; fx < 3; fx++)
                for (int t = 0; t < 4; t++) want += mean[t] * w[o * 36 + (fy * 3 + fx) * 4 + t];
        assert_float_equal(y[o], want, 1e-4);
    }
    free(x), free(w), free(scr);
}

/* ---- fast path == reference ---------------------------------------------------------- */

/* One float case: the fast path of every isa against the reference on random data with
 * repeated pixels (every third pixel a copy of the first); returns the number of distinct
 * bucket ids of image 0's channel group 0. */
static int check_f32_case(tr_rng *r, px_conf *c) {
    const size_t n_in = c->npix * c->g.in_c;
    float *x = rand_f32(r, n_in, 1.0f);
    for (size_t i = 0; i + 2 * (size_t)c->g.in_c <= n_in; i += 3 * (size_t)c->g.in_c)
        memcpy(x + i, x, (size_t)c->g.in_c * sizeof *x);
    float *w = rand_f32(r, (size_t)c->g.out_c * c->K, 0.3f);
    float *bias = tr_int(r, 0, 3) ? rand_f32(r, (size_t)c->g.out_c, 0.1f) : NULL;
    float *proj = rand_f32(r, (size_t)c->p.hash_bits * c->g.in_c, 1.0f);
    float *off = tr_int(r, 0, 1) ? rand_f32(r, (size_t)c->p.hash_bits * c->CG, 0.5f) : NULL;
    c->p.proj_f32 = proj;
    c->p.offset_f32 = off;
    assert_int_equal(fr_trec_check(&c->p, &c->g, 0, "conv", NULL), FR_OK);
    fr_cnn_range_f32 act = {tr_int(r, 0, 1) ? 0.0f : -1e30f, 1e30f};
    const size_t sb = fr_trec_conv_f32_scratch_bytes(&c->p, &c->g);
    void *scr = tr_scratch(sb);
    const size_t ny = c->N * c->g.out_c;
    float *y1 = malloc(ny * sizeof *y1), *y2 = malloc(ny * sizeof *y2);
    const size_t nid = c->npix * c->CG;
    uint16_t *id1 = malloc(nid * 2), *id2 = malloc(nid * 2);
    uint32_t *cp1 = malloc(c->J * 4), *cp2 = malloc(c->J * 4);
    fr_trec_stats s1 = {.bucket_ids = id1, .clusters_per_sub = cp1};
    fr_trec_conv_f32_ref(&c->p, &c->g, act, x, w, bias, y1, scr, &s1);
    for (int isa = 0; isa < FR_ISA_COUNT; isa++) {
        if (!fr_isa_supported((fr_isa)isa)) continue;
        fr_trec_stats s2 = {.bucket_ids = id2, .clusters_per_sub = cp2};
        memset(scr, 0xC3, sb);
        memset(y2, 0, ny * sizeof *y2);
        fr_trec_conv_f32((fr_isa)isa, &c->p, &c->g, act, x, w, bias, y2, scr, &s2);
        assert_memory_equal(id1, id2, nid * 2);
        assert_memory_equal(cp1, cp2, (size_t)c->J * 4);
        assert_memory_equal(y1, y2, ny * sizeof *y1);
        assert_int_equal(s1.clusters, s2.clusters);
        assert_int_equal(s1.macs_reuse, s2.macs_reuse);
        assert_int_equal(s1.macs_hash, s2.macs_hash);
        /* with the filter given t-major (params.filter_t): less scratch, same bits */
        tr_check_filter_t_f32((fr_isa)isa, &c->p, &c->g, act, x, w, bias, y1, ny, sb);
    }
    uint8_t *seen = calloc((size_t)1 << 16, 1);
    int distinct = 0;
    for (size_t q = 0; q < (size_t)c->g.in_h * c->g.in_w; q++) { /* channel group 0 */
        distinct += !seen[id1[q * c->CG]];
        seen[id1[q * c->CG]] = 1;
    }
    free(seen);
    free(x), free(w), free(bias), free(proj), free(off), free(scr), free(y1), free(y2);
    free(id1), free(id2), free(cp1), free(cp2);
    return distinct;
}

static void test_pixel_fast_equals_ref_f32(void **state) {
    (void)state;
    tr_rng r = {0x9182736ull};
    for (int it = 0; it < 60; it++) {
        px_conf c;
        random_conf(&r, &c, 10, it % 3 == 0 ? 70 : 9);
        check_f32_case(&r, &c);
    }
}

/* A SAME square layer of one image in pixel mode, scope one image: k x k taps on hw x hw
 * pixels, in_c -> out_c, CG channel groups, H hash bits. */
static void square_conf(px_conf *c, int k, int hw, int in_c, int out_c, int CG, int H) {
    assert_int_equal(fr_cnn_geom_init(&c->g, "conv", FR_CNN_PAD_SAME, 1, hw, hw, in_c, out_c, k,
                                      k, 1, 1, 1, 1, 1, NULL),
                     FR_OK);
    c->K = k * k * in_c;
    memset(&c->p, 0, sizeof c->p);
    c->p.pixel = 1;
    c->CG = CG;
    c->p.sub_len = in_c / CG;
    c->p.hash_bits = H;
    c->p.scope = FR_TREC_SCOPE_IMAGE;
    c->J = k * k * CG;
    c->N = (size_t)hw * hw;
    c->npix = c->N;
}

/* Layers whose partial products of all taps exceed FR_TREC_PART_BUDGET: the fast path
 * keeps a chunk of taps at a time (trec_f32_body.h, fr_trec_tap_chunk), from one tap to
 * most of them. Several chunks per call must have happened in most cases. */
static void test_pixel_fast_equals_ref_f32_chunks(void **state) {
    (void)state;
    tr_rng r = {0x7a9c4b1dull};
    int chunked = 0;
    const int cases = 8;
    for (int it = 0; it < cases; it++) {
        px_conf c;
        const int k = tr_int(&r, 3, 5), hw = tr_int(&r, 20, 28), out_c = tr_int(&r, 60, 70);
        const int in_c = tr_int(&r, 4, 16), CG = in_c % 2 == 0 && it % 2 ? 2 : 1;
        square_conf(&c, k, hw, in_c, out_c, CG, tr_int(&r, 6, 12));
        const int nc = check_f32_case(&r, &c);
        fr_trec_layout lo;
        fr_trec_layout_init(&lo, &c.p, &c.g, 0);
        chunked += fr_trec_tap_chunk(lo.part_floats, nc, out_c, k * k) < k * k;
    }
    assert_true(chunked >= cases / 2);
}

/* One int8 case: the reference and every isa's fast path (with and without stats, and
 * with the taps packed ahead where the isa has a kernel for it) bit-identical. Returns how
 * many packed runs there were; *n_buckets (when not NULL): the distinct bucket ids of the
 * first image's pixels in channel group 0 (its clusters when the scope is one image). */
static int check_s8_case_n(tr_rng *r, px_conf *c_, int *n_buckets) {
    px_conf c = *c_;
    int n_packed = 0;
    const size_t n_in = c.npix * c.g.in_c;
    int8_t *x = rand_s8(r, n_in, -128, 127);
    for (size_t i = 0; i < n_in / 2; i++) x[i] = (int8_t)(x[i] / 64 * 64);
    int8_t *w = rand_s8(r, (size_t)c.g.out_c * c.K, -127, 127);
    int32_t *bias = NULL;
    if (tr_int(r, 0, 3)) {
        bias = malloc((size_t)c.g.out_c * 4);
        for (int o = 0; o < c.g.out_c; o++) bias[o] = tr_int(r, -20000, 20000);
    }
    int8_t *proj = rand_s8(r, (size_t)c.p.hash_bits * c.g.in_c, -128, 127);
    int32_t *off = NULL;
    if (tr_int(r, 0, 1)) {
        off = malloc((size_t)c.p.hash_bits * c.CG * 4);
        for (int i = 0; i < c.p.hash_bits * c.CG; i++)
            off[i] = i == 0 ? INT32_MAX : i == 1 ? INT32_MIN : tr_int(r, -40000, 40000);
    }
    c.p.proj_s8 = proj;
    c.p.offset_s32 = off;
    assert_int_equal(fr_trec_check(&c.p, &c.g, 1, "conv", NULL), FR_OK);
    tr_q q;
    random_requant(r, &q, c.g.out_c);
    const size_t sb = fr_trec_conv_s8_scratch_bytes(&c.p, &c.g);
    void *scr = tr_scratch(sb);
    const size_t ny = c.N * c.g.out_c;
    int8_t *y1 = malloc(ny), *y2 = malloc(ny);
    const size_t nid = c.npix * c.CG;
    uint16_t *id1 = malloc(nid * 2), *id2 = malloc(nid * 2);
    fr_trec_stats s1 = {.bucket_ids = id1};
    fr_trec_conv_s8_ref(&c.p, &c.g, &q.q, x, w, bias, y1, scr, &s1);
    if (n_buckets) {
        static uint8_t seen[1 << 16];
        memset(seen, 0, sizeof seen);
        *n_buckets = 0;
        for (int i = 0; i < c.g.in_h * c.g.in_w; i++)
            if (!seen[id1[(size_t)i * c.CG]]++) ++*n_buckets;
    }
    for (int isa = 0; isa < FR_ISA_COUNT; isa++) {
        if (!fr_isa_supported((fr_isa)isa)) continue;
        fr_trec_stats s2 = {.bucket_ids = id2};
        memset(scr, 0x5A, sb);
        memset(id2, 0, nid * 2);
        fr_trec_conv_s8((fr_isa)isa, &c.p, &c.g, &q.q, x, w, bias, y2, scr, &s2);
        assert_memory_equal(id1, id2, nid * 2);
        assert_memory_equal(y1, y2, ny);
        assert_int_equal(s1.clusters, s2.clusters);
        fr_trec_conv_s8((fr_isa)isa, &c.p, &c.g, &q.q, x, w, bias, y2, scr, NULL);
        assert_memory_equal(y1, y2, ny);
        /* every tap's slice packed ahead (params.taps_s8) where this isa has a kernel
         * for it: same bytes, same scratch */
        const size_t tb = fr_trec_taps_s8_bytes((fr_isa)isa, &c.p, &c.g);
        if (tb) {
            void *taps = tr_scratch(tb);
            fr_trec_taps_s8_pack((fr_isa)isa, &c.p, &c.g, w, taps);
            fr_trec_params pt = c.p;
            pt.taps_s8 = taps;
            memset(scr, 0x5A, sb);
            memset(y2, 0, ny);
            fr_trec_conv_s8((fr_isa)isa, &pt, &c.g, &q.q, x, w, bias, y2, scr, NULL);
            assert_memory_equal(y1, y2, ny);
            n_packed++;
            free(taps);
        }
    }
    free(x), free(w), free(bias), free(proj), free(off), free(scr), free(y1), free(y2);
    free(id1), free(id2);
    return n_packed;
}
static int check_s8_case(tr_rng *r, px_conf *c) {
    return check_s8_case_n(r, c, NULL);
}

static void test_pixel_fast_equals_ref_s8(void **state) {
    (void)state;
    tr_rng r = {0x51e55eedull};
    int n_packed = 0;
    for (int it = 0; it < 60; it++) {
        px_conf c;
        random_conf(&r, &c, 10, it % 3 == 0 ? 70 : 9);
        n_packed += check_s8_case(&r, &c);
    }
    /* the VNNI kernel's packed taps were exercised (L a multiple of 4 in part of the
     * cases) wherever this CPU has that kernel */
    if (fr_isa_supported(FR_ISA_AVX512)) assert_true(n_packed > 0);
}

/* A layer whose rows' int32 sums exceed FR_TREC_ACC_BUDGET (SAME convs of 20..34 square
 * images, 17..70 outputs, 3x3 to 7x7): int8 pixel mode accumulates a chunk of output
 * channels at a time (fr_trec_oc_chunk; the last chunk shorter when out_c is not a
 * multiple of 16), with one or two channel groups. in_c = 4 * (1 .. max_c4). */
static void big_conf(tr_rng *r, px_conf *c, int it, int max_c4) {
    for (;;) {
        const int k = tr_int(r, 1, 3) * 2 + 1, hw = tr_int(r, 20, 34), batch = tr_int(r, 1, 4);
        const int out_c = tr_int(r, 17, 70), in_c = 4 * tr_int(r, 1, max_c4);
        const fr_trec_scope scope = tr_int(r, 0, 2) ? FR_TREC_SCOPE_BATCH : FR_TREC_SCOPE_IMAGE;
        const int64_t G = (int64_t)hw * hw * (scope == FR_TREC_SCOPE_BATCH ? batch : 1);
        if (G * out_c * 4 <= FR_TREC_ACC_BUDGET) continue;
        assert_int_equal(fr_cnn_geom_init(&c->g, "conv", FR_CNN_PAD_SAME, batch, hw, hw, in_c,
                                          out_c, k, k, 1, 1, 1, 1, 1, NULL),
                         FR_OK);
        c->K = k * k * in_c;
        memset(&c->p, 0, sizeof c->p);
        c->p.pixel = 1;
        c->CG = it % 3 == 2 ? 2 : 1;
        c->p.sub_len = in_c / c->CG;
        c->p.hash_bits = tr_int(r, 3, 9);
        c->p.scope = scope;
        c->J = k * k * c->CG;
        c->N = (size_t)batch * hw * hw;
        c->npix = c->N;
        return;
    }
}

static void test_pixel_fast_equals_ref_s8_chunks(void **state) {
    (void)state;
    tr_rng r = {0x0c0c4a11ull};
    int chunked = 0;
    const int cases = 8;
    for (int it = 0; it < cases; it++) {
        px_conf c;
        big_conf(&r, &c, it, 8);
        fr_trec_layout lo;
        fr_trec_layout_init(&lo, &c.p, &c.g, 1);
        chunked += lo.oc_chunk < c.g.out_c;
        check_s8_case(&r, &c);
    }
    assert_int_equal(chunked, cases);
}

/* Layers whose partial products of all taps exceed FR_TREC_S8_PART_BUDGET (7x7 kernels on
 * 30..36 square images, 40..64 outputs, 8 to 10 hash bits): the int8 fast path keeps a
 * chunk of taps at a time (fr_trec_tap_chunk) and adds each row's sums over a chunk in
 * registers; with one channel group and every tap in one chunk it requantises each line as
 * soon as it is summed. Several chunks per call must have happened in most cases. */
static void test_pixel_fast_equals_ref_s8_tap_chunks(void **state) {
    (void)state;
    tr_rng r = {0x7e57c4a2ull};
    int chunked = 0;
    const int cases = 6;
    for (int it = 0; it < cases; it++) {
        px_conf c;
        const int k = 7, hw = tr_int(&r, 30, 36), out_c = tr_int(&r, 40, 64);
        const int in_c = 4 * tr_int(&r, 1, 2);
        square_conf(&c, k, hw, in_c, out_c, it % 3 == 2 ? 2 : 1, tr_int(&r, 8, 10));
        int nc = 0;
        check_s8_case_n(&r, &c, &nc);
        fr_trec_layout lo;
        fr_trec_layout_init(&lo, &c.p, &c.g, 1);
        chunked += fr_trec_tap_chunk(lo.slot_bytes / 4, nc, lo.oc_chunk, k * k) < k * k;
    }
    assert_true(chunked >= cases / 2);
}

/* ---- the definition by another route: centroid map + dense conv ---------------------- */

/* int8: the ids recomputed (exact), the centroid map (x-domain, int8) built from them,
 * run through fr_cnn_conv_s8_ref: bit-exact with TREC. */
static void check_s8_map_case(tr_rng *r, px_conf *c_) {
    px_conf c = *c_;
    const int L = c.p.sub_len, H = c.p.hash_bits, CG = c.CG, C = c.g.in_c;
    int8_t *x = rand_s8(r, c.npix * C, -128, 127);
    int8_t *w = rand_s8(r, (size_t)c.g.out_c * c.K, -127, 127);
    int32_t *bias = malloc((size_t)c.g.out_c * 4);
    for (int o = 0; o < c.g.out_c; o++) bias[o] = tr_int(r, -20000, 20000);
    int8_t *proj = rand_s8(r, (size_t)H * C, -128, 127);
    int32_t *off = malloc((size_t)H * CG * 4);
    for (int h = 0; h < H * CG; h++) off[h] = tr_int(r, -3000, 3000);
    c.p.proj_s8 = proj;
    c.p.offset_s32 = off;
    tr_q q;
    random_requant(r, &q, c.g.out_c);
    void *scr = tr_scratch(fr_trec_conv_s8_scratch_bytes(&c.p, &c.g));
    const size_t ny = c.N * c.g.out_c;
    int8_t *y1 = malloc(ny), *y2 = malloc(ny), *xm = malloc(c.npix * C);
    uint16_t *ids = malloc(c.npix * CG * 2);
    fr_trec_stats st = {.bucket_ids = ids};
    fr_trec_conv_s8(fr_isa_best(), &c.p, &c.g, &q.q, x, w, bias, y1, scr, &st);
    int64_t *sum = malloc(sizeof *sum * L);
    for (size_t a = 0; a < c.npix; a++)
        for (int cg = 0; cg < CG; cg++) {
            const int8_t *P = proj + (size_t)cg * H * L, *xa = x + a * C + cg * L;
            unsigned id = 0;
            for (int h = 0; h < H; h++) {
                int64_t dot = off[cg * H + h];
                for (int t = 0; t < L; t++)
                    dot += (int64_t)P[h * L + t] * (xa[t] - q.q.input_zp);
                if (dot >= 0) id |= 1u << h;
            }
            assert_int_equal(ids[a * CG + cg], id);
            int64_t n = 0;
            for (int t = 0; t < L; t++) sum[t] = 0;
            for (size_t b = 0; b < c.npix; b++) {
                if (group_of(&c, b) != group_of(&c, a) || ids[b * CG + cg] != id) continue;
                n++;
                for (int t = 0; t < L; t++) sum[t] += x[b * C + cg * L + t] - q.q.input_zp;
            }
            for (int t = 0; t < L; t++) {
                const int64_t s = sum[t];
                const int64_t cm = s >= 0 ? (s + n / 2) / n : -((-s + n / 2) / n);
                xm[a * C + cg * L + t] = (int8_t)(cm + q.q.input_zp);
            }
        }
    assert_int_equal(st.clusters, used_clusters(&c, ids));
    fr_cnn_conv_s8_ref(&c.g, &q.q, xm, w, bias, y2);
    assert_memory_equal(y1, y2, ny);
    free(x), free(w), free(bias), free(proj), free(off), free(scr), free(y1), free(y2);
    free(xm), free(ids), free(sum);
}

static void test_pixel_centroid_map_s8(void **state) {
    (void)state;
    tr_rng r = {0xc0ffeeull};
    for (int it = 0; it < 40; it++) {
        px_conf c;
        random_conf(&r, &c, 9, it % 4 == 0 ? 40 : 8);
        if (c.p.hash_bits > 8) c.p.hash_bits = tr_int(&r, 1, 6); /* real clusters */
        check_s8_map_case(&r, &c);
    }
    /* and layers accumulated a chunk of output channels at a time (big_conf) */
    for (int it = 0; it < 3; it++) {
        px_conf c;
        big_conf(&r, &c, it, 1);
        check_s8_map_case(&r, &c);
    }
}

/* float: the centroid map from the ids (means in double, rounded to float) through
 * fr_cnn_conv_f32_ref, within rounding; with H = 16 and distinct random pixels (every
 * bucket pure) the dense conv of the input itself. */
static void test_pixel_centroid_map_f32(void **state) {
    (void)state;
    tr_rng r = {0xf10a7ull};
    int pure_checked = 0;
    for (int it = 0; it < 40; it++) {
        px_conf c;
        random_conf(&r, &c, 9, it % 2 == 0 ? 40 : 8);
        /* odd: few buckets (real clusters); even: 16 hyperplanes with offsets, in 4 or more
         * dimensions, which mostly give every pixel its own bucket */
        if (it % 2) {
            if (c.p.hash_bits > 8) c.p.hash_bits = tr_int(&r, 1, 6);
        } else {
            c.p.hash_bits = 16;
        }
        const int L = c.p.sub_len, H = c.p.hash_bits, CG = c.CG, C = c.g.in_c;
        float *x = rand_f32(&r, c.npix * C, 1.0f);
        float *w = rand_f32(&r, (size_t)c.g.out_c * c.K, 0.3f);
        float *bias = rand_f32(&r, (size_t)c.g.out_c, 0.1f);
        float *proj = rand_f32(&r, (size_t)H * C, 1.0f);
        float *off = malloc((size_t)H * CG * 4);
        for (int h = 0; h < H * CG; h++) off[h] = 0.3f * tr_gauss(&r);
        c.p.proj_f32 = proj;
        c.p.offset_f32 = it % 2 ? NULL : off;
        fr_cnn_range_f32 act = {-1e30f, 1e30f};
        void *scr = tr_scratch(fr_trec_conv_f32_scratch_bytes(&c.p, &c.g));
        const size_t ny = c.N * c.g.out_c;
        float *y1 = malloc(ny * 4), *y2 = malloc(ny * 4), *xm = malloc(c.npix * C * 4);
        uint16_t *ids = malloc(c.npix * CG * 2);
        fr_trec_stats st = {.bucket_ids = ids};
        fr_trec_conv_f32(fr_isa_best(), &c.p, &c.g, act, x, w, bias, y1, scr, &st);
        double *sum = malloc(sizeof *sum * L);
        int pure = 1;
        for (size_t a = 0; a < c.npix; a++)
            for (int cg = 0; cg < CG; cg++) {
                const uint16_t id = ids[a * CG + cg];
                double n = 0;
                for (int t = 0; t < L; t++) sum[t] = 0;
                for (size_t b = 0; b < c.npix; b++) {
                    if (group_of(&c, b) != group_of(&c, a) || ids[b * CG + cg] != id) continue;
                    if (b != a) pure = 0;
                    n++;
                    for (int t = 0; t < L; t++) sum[t] += x[b * C + cg * L + t];
                }
                for (int t = 0; t < L; t++) xm[a * C + cg * L + t] = (float)(sum[t] / n);
            }
        assert_int_equal(st.clusters, used_clusters(&c, ids));
        assert_int_equal(st.macs_reuse, st.clusters * L * c.g.out_c);
        fr_cnn_conv_f32_ref(&c.g, act, xm, w, bias, y2);
        for (size_t i = 0; i < ny; i++)
            if (fabsf(y1[i] - y2[i]) > 1e-4f * (1.0f + fabsf(y2[i])))
                fail_msg("centroid map: output %zu is %.9g, conv %.9g", i, y1[i], y2[i]);
        if (pure && c.npix > 1) { /* the dense convolution of the input */
            fr_cnn_conv_f32_ref(&c.g, act, x, w, bias, y2);
            for (size_t i = 0; i < ny; i++)
                if (fabsf(y1[i] - y2[i]) > 1e-5f * (1.0f + fabsf(y2[i])))
                    fail_msg("dense identity: output %zu is %.9g, conv %.9g", i, y1[i], y2[i]);
            pure_checked++;
        }
        free(x), free(w), free(bias), free(proj), free(off), free(scr), free(y1), free(y2);
        free(xm), free(ids), free(sum);
    }
    print_message("dense identity checked on %d of 40 cases\n", pure_checked);
    assert_true(pure_checked >= 5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pixel_check),
        cmocka_unit_test(test_pixel_fast_equals_ref_f32),
        cmocka_unit_test(test_pixel_fast_equals_ref_f32_chunks),
        cmocka_unit_test(test_pixel_fast_equals_ref_s8),
        cmocka_unit_test(test_pixel_fast_equals_ref_s8_chunks),
        cmocka_unit_test(test_pixel_fast_equals_ref_s8_tap_chunks),
        cmocka_unit_test(test_pixel_centroid_map_s8),
        cmocka_unit_test(test_pixel_centroid_map_f32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
