/* TREC kernels without the Python twins: argument checks, the fast path against the
 * scalar reference on random data (bit-identical, float and int8), the dense identity
 * (buckets holding identical sub-vectors only give the CONV_2D of src/cnn: int8
 * bit-exactly, float up to summation order), the one-bucket limit and the statistics. */
#include "trec_testutil.h"

#include "core/error.h"

typedef struct tr_conf {
    fr_cnn_geom g;
    fr_trec_params p;
    int K, J;
    size_t N;
} tr_conf;

/* A random small geometry (SAME or VALID padding by TFLite's rules). */
static void random_conf(tr_rng *r, tr_conf *c, int max_h) {
    fr_error err = {0};
    for (;;) {
        const int k = tr_int(r, 1, 3), s = tr_int(r, 1, 2), d = tr_int(r, 1, 2);
        const int in_h = tr_int(r, 1, max_h), in_w = tr_int(r, 1, max_h);
        const fr_cnn_padding pad = tr_int(r, 0, 1) ? FR_CNN_PAD_SAME : FR_CNN_PAD_VALID;
        if (fr_cnn_geom_init(&c->g, "conv", pad, tr_int(r, 1, 3), in_h, in_w, tr_int(r, 1, 6),
                             tr_int(r, 1, 9), k, k, s, s, d, d, 1, &err) != FR_OK)
            continue;
        break;
    }
    c->K = c->g.k_h * c->g.k_w * c->g.in_c;
    memset(&c->p, 0, sizeof c->p);
    c->p.sub_len = tr_int(r, 1, c->K);
    c->p.hash_bits = tr_int(r, 0, 4) == 0 ? 16 : tr_int(r, 1, 10);
    c->p.scope = tr_int(r, 0, 1) ? FR_TREC_SCOPE_BATCH : FR_TREC_SCOPE_IMAGE;
    c->J = fr_trec_num_sub(c->K, c->p.sub_len);
    c->N = (size_t)c->g.batch * c->g.out_h * c->g.out_w;
}


/* ---- argument checks ---------------------------------------------------------------- */

static void test_check(void **state) {
    (void)state;
    fr_cnn_geom g;
    fr_error err = {0};
    assert_int_equal(fr_cnn_geom_init(&g, "conv", FR_CNN_PAD_SAME, 1, 8, 8, 4, 8, 3, 3, 1, 1, 1,
                                      1, 1, &err),
                     FR_OK);
    float proj[16 * 36];
    int8_t proj8[16 * 36];
    fr_trec_params p = {.sub_len = 9, .hash_bits = 4, .proj_f32 = proj, .proj_s8 = proj8};
    assert_int_equal(fr_trec_check(&p, &g, 0, "conv3", &err), FR_OK);
    assert_int_equal(fr_trec_check(&p, &g, 1, "conv3", &err), FR_OK);
    assert_int_equal(fr_trec_num_sub(36, 9), 4);
    assert_int_equal(fr_trec_num_sub(36, 10), 4);
    assert_int_equal(fr_trec_num_sub(36, 36), 1);
    assert_int_equal(fr_trec_num_sub(0, 3), 0);

    fr_trec_params bad = p;
    bad.hash_bits = 0;
    assert_int_equal(fr_trec_check(&bad, &g, 0, "conv3", &err), FR_E_ARG);
    assert_non_null(strstr(err.msg, "conv3"));
    assert_non_null(strstr(err.msg, "hash_bits"));
    bad.hash_bits = 17;
    assert_int_equal(fr_trec_check(&bad, &g, 0, "conv3", &err), FR_E_ARG);
    bad = p;
    bad.sub_len = 0;
    assert_int_equal(fr_trec_check(&bad, &g, 0, "conv3", &err), FR_E_ARG);
    assert_non_null(strstr(err.msg, "sub_len"));
    bad.sub_len = 37;
    assert_int_equal(fr_trec_check(&bad, &g, 0, "conv3", &err), FR_E_ARG);
    bad = p;
    bad.scope = (fr_trec_scope)7;
    assert_int_equal(fr_trec_check(&bad, &g, 0, "conv3", &err), FR_E_ARG);
    bad = p;
    bad.proj_f32 = NULL;
    assert_int_equal(fr_trec_check(&bad, &g, 0, "conv3", &err), FR_E_ARG);
    assert_int_equal(fr_trec_check(&bad, &g, 1, "conv3", &err), FR_OK);
    bad = p;
    bad.proj_s8 = NULL;
    assert_int_equal(fr_trec_check(&bad, &g, 1, "conv3", &err), FR_E_ARG);
    assert_int_equal(fr_trec_check(NULL, &g, 0, "conv3", &err), FR_E_ARG);
    assert_int_equal(fr_trec_check(&p, NULL, 0, NULL, &err), FR_E_ARG);
    fr_cnn_geom gd = g;
    gd.depth_mult = 2;
    assert_int_equal(fr_trec_check(&p, &gd, 0, "dw", &err), FR_E_UNSUPPORTED);
    gd = g;
    gd.k_h = 0;
    assert_int_not_equal(fr_trec_check(&p, &gd, 0, "conv3", &err), FR_OK);
    /* err may be NULL */
    assert_int_equal(fr_trec_check(&bad, &g, 1, "conv3", NULL), FR_E_ARG);
    /* scratch: grows with 2^H; the int8 one covers its accumulators (64 rows x 8 channels) */
    fr_trec_params p16 = p;
    p16.hash_bits = 16;
    assert_true(fr_trec_conv_f32_scratch_bytes(&p16, &g) >= 65536 * 4);
    assert_true(fr_trec_conv_s8_scratch_bytes(&p, &g) >= 64 * 8 * 4 + ((size_t)4 << p.hash_bits));
    /* ... and with clusters x max(L, out_c), not clusters x (L + out_c): a cluster's
     * partial products replace its sums. From H = 5 to H = 6 (32 to 64 clusters; L 9,
     * out_c 8) the scratch grows by 32 slots of 9 floats and 32 more entries of the
     * per-bucket and per-cluster arrays (1536 bytes), under 32 x (9 + 8) floats. */
    fr_trec_params p5 = p, p6 = p;
    p5.hash_bits = 5;
    p6.hash_bits = 6;
    const size_t grow = fr_trec_conv_f32_scratch_bytes(&p6, &g) - fr_trec_conv_f32_scratch_bytes(&p5, &g);
    print_message("scratch growth from H = 5 to 6: %zu bytes\n", grow);
    assert_true(grow < (size_t)32 * (9 + 8) * 4);
}

/* ---- fast path == reference ------------------------------------------------------- */

static void test_fast_equals_ref_f32(void **state) {
    (void)state;
    tr_rng r = {0x1234567ull};
    for (int it = 0; it < 60; it++) {
        tr_conf c;
        random_conf(&r, &c, 9);
        const size_t n_in = (size_t)c.g.batch * c.g.in_h * c.g.in_w * c.g.in_c;
        float *x = rand_f32(&r, n_in, 1.0f);
        /* some repeated pixels: buckets with identical members */
        for (size_t i = 0; i + 2 * (size_t)c.g.in_c <= n_in; i += 3 * (size_t)c.g.in_c)
            memcpy(x + i, x, (size_t)c.g.in_c * sizeof *x);
        float *w = rand_f32(&r, (size_t)c.g.out_c * c.K, 0.3f);
        float *bias = tr_int(&r, 0, 3) ? rand_f32(&r, (size_t)c.g.out_c, 0.1f) : NULL;
        float *proj = rand_f32(&r, (size_t)c.p.hash_bits * c.K, 1.0f);
        c.p.proj_f32 = proj;
        float *off = tr_int(&r, 0, 1) ? rand_f32(&r, (size_t)c.J * c.p.hash_bits, 0.5f) : NULL;
        c.p.offset_f32 = off;
        assert_int_equal(fr_trec_check(&c.p, &c.g, 0, "conv", NULL), FR_OK);
        fr_cnn_range_f32 act = {tr_int(&r, 0, 1) ? 0.0f : -1e30f, 1e30f};
        const size_t sb = fr_trec_conv_f32_scratch_bytes(&c.p, &c.g);
        void *scr = tr_scratch(sb);
        const size_t ny = c.N * c.g.out_c;
        float *y1 = malloc(ny * sizeof *y1), *y2 = malloc(ny * sizeof *y2);
        uint16_t *id1 = malloc(c.N * c.J * 2), *id2 = malloc(c.N * c.J * 2);
        uint32_t *cp1 = malloc(c.J * 4), *cp2 = malloc(c.J * 4);
        fr_trec_stats s1 = {.bucket_ids = id1, .clusters_per_sub = cp1};
        fr_trec_stats s2 = {.bucket_ids = id2, .clusters_per_sub = cp2};
        fr_trec_conv_f32_ref(&c.p, &c.g, act, x, w, bias, y1, scr, &s1);
        memset(scr, 0xC3, sb);
        fr_trec_conv_f32(fr_isa_best(), &c.p, &c.g, act, x, w, bias, y2, scr, &s2);
        assert_memory_equal(id1, id2, c.N * c.J * 2);
        assert_memory_equal(cp1, cp2, (size_t)c.J * 4);
        assert_memory_equal(y1, y2, ny * sizeof *y1);
        assert_int_equal(s1.clusters, s2.clusters);
        assert_int_equal(s1.macs_reuse, s2.macs_reuse);
        /* every supported isa (portable C, AVX2 kernels), with NULL stats too */
        for (int isa = 0; isa < FR_ISA_COUNT; isa++) {
            if (!fr_isa_supported((fr_isa)isa)) continue;
            memset(y2, 0, ny * sizeof *y2);
            fr_trec_conv_f32((fr_isa)isa, &c.p, &c.g, act, x, w, bias, y2, scr, NULL);
            assert_memory_equal(y1, y2, ny * sizeof *y1);
            /* the filter given t-major (params.filter_t): no transposition, less scratch */
            tr_check_filter_t_f32((fr_isa)isa, &c.p, &c.g, act, x, w, bias, y1, ny, sb);
        }
        free(x), free(w), free(bias), free(proj), free(off), free(scr), free(y1), free(y2);
        free(id1), free(id2), free(cp1), free(cp2);
    }
}

static void test_fast_equals_ref_s8(void **state) {
    (void)state;
    tr_rng r = {0xfeedbeefull};
    for (int it = 0; it < 60; it++) {
        tr_conf c;
        random_conf(&r, &c, 9);
        const size_t n_in = (size_t)c.g.batch * c.g.in_h * c.g.in_w * c.g.in_c;
        int8_t *x = rand_s8(&r, n_in, -128, 127);
        for (size_t i = 0; i < n_in / 2; i++) x[i] = (int8_t)(x[i] / 64 * 64);
        int8_t *w = rand_s8(&r, (size_t)c.g.out_c * c.K, -127, 127);
        int32_t *bias = NULL;
        if (tr_int(&r, 0, 3)) {
            bias = malloc((size_t)c.g.out_c * 4);
            for (int o = 0; o < c.g.out_c; o++) bias[o] = tr_int(&r, -20000, 20000);
        }
        int8_t *proj = rand_s8(&r, (size_t)c.p.hash_bits * c.K, -128, 127);
        c.p.proj_s8 = proj;
        int32_t *off = NULL;
        if (tr_int(&r, 0, 1)) {
            off = malloc((size_t)c.J * c.p.hash_bits * 4);
            for (int i = 0; i < c.J * c.p.hash_bits; i++)
                off[i] = i == 0 ? INT32_MAX : i == 1 ? INT32_MIN : tr_int(&r, -40000, 40000);
        }
        c.p.offset_s32 = off;
        assert_int_equal(fr_trec_check(&c.p, &c.g, 1, "conv", NULL), FR_OK);
        tr_q q;
        random_requant(&r, &q, c.g.out_c);
        const size_t sb = fr_trec_conv_s8_scratch_bytes(&c.p, &c.g);
        void *scr = tr_scratch(sb);
        const size_t ny = c.N * c.g.out_c;
        int8_t *y1 = malloc(ny), *y2 = malloc(ny);
        uint16_t *id1 = malloc(c.N * c.J * 2), *id2 = malloc(c.N * c.J * 2);
        fr_trec_stats s1 = {.bucket_ids = id1}, s2 = {.bucket_ids = id2};
        fr_trec_conv_s8_ref(&c.p, &c.g, &q.q, x, w, bias, y1, scr, &s1);
        memset(scr, 0xC3, sb);
        fr_trec_conv_s8(fr_isa_best(), &c.p, &c.g, &q.q, x, w, bias, y2, scr, &s2);
        assert_memory_equal(id1, id2, c.N * c.J * 2);
        assert_memory_equal(y1, y2, ny);
        assert_int_equal(s1.clusters, s2.clusters);
        /* every supported isa (portable C, AVX2, AVX-512 VNNI), ids and outputs */
        for (int isa = 0; isa < FR_ISA_COUNT; isa++) {
            if (!fr_isa_supported((fr_isa)isa)) continue;
            fr_trec_stats s3 = {.bucket_ids = id2};
            memset(scr, 0x5A, sb);
            memset(id2, 0, c.N * c.J * 2);
            fr_trec_conv_s8((fr_isa)isa, &c.p, &c.g, &q.q, x, w, bias, y2, scr, &s3);
            assert_memory_equal(id1, id2, c.N * c.J * 2);
            assert_memory_equal(y1, y2, ny);
            assert_int_equal(s1.clusters, s3.clusters);
            fr_trec_conv_s8((fr_isa)isa, &c.p, &c.g, &q.q, x, w, bias, y2, scr, NULL);
            assert_memory_equal(y1, y2, ny);
        }
        free(x), free(w), free(bias), free(proj), free(off), free(scr), free(y1), free(y2);
        free(id1), free(id2);
    }
}

/* ---- dense identity ------------------------------------------------------------------- */

/* Where element k of im2col row r comes from (*inside = 0: padding). */
static void im2col_at(const fr_cnn_geom *g, size_t r, int k, int *inside, size_t *src) {
    const int ox = (int)(r % (size_t)g->out_w);
    const int oy = (int)((r / (size_t)g->out_w) % (size_t)g->out_h);
    const size_t b = r / ((size_t)g->out_w * g->out_h);
    const int fy = k / (g->k_w * g->in_c), fx = (k / g->in_c) % g->k_w, ic = k % g->in_c;
    const int iy = oy * g->stride_h - g->pad_top + fy * g->dil_h;
    const int ix = ox * g->stride_w - g->pad_left + fx * g->dil_w;
    *inside = iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w;
    *src = *inside ? ((b * g->in_h + iy) * g->in_w + ix) * g->in_c + ic : 0;
}

/* Are all members of every bucket identical sub-vectors? (ids from the stats; the scope
 * group of row r is r / G.) */

static int buckets_pure(const tr_conf *c, const uint16_t *ids, const float *xf,
                        const int8_t *x8, int zp) {
    const size_t G = c->p.scope == FR_TREC_SCOPE_BATCH ? c->N : c->N / c->g.batch;
    for (size_t r1 = 0; r1 < c->N; r1++)
        for (size_t r2 = r1 + 1; r2 < c->N && r2 / G == r1 / G; r2++)
            for (int j = 0; j < c->J; j++) {
                if (ids[r1 * c->J + j] != ids[r2 * c->J + j]) continue;
                const int k0 = j * c->p.sub_len;
                const int k1 = k0 + c->p.sub_len < c->K ? k0 + c->p.sub_len : c->K;
                for (int k = k0; k < k1; k++) {
                    int in1, in2;
                    size_t s1, s2;
                    im2col_at(&c->g, r1, k, &in1, &s1);
                    im2col_at(&c->g, r2, k, &in2, &s2);
                    float v1, v2;
                    if (xf) {
                        v1 = in1 ? xf[s1] : 0.0f;
                        v2 = in2 ? xf[s2] : 0.0f;
                    } else {
                        v1 = (float)(in1 ? x8[s1] - zp : 0);
                        v2 = (float)(in2 ? x8[s2] - zp : 0);
                    }
                    if (v1 != v2) return 0;
                }
            }
    return 1;
}

static void test_dense_identity_f32(void **state) {
    (void)state;
    tr_rng r = {0xabcdef01ull};
    int checked = 0;
    for (int it = 0; it < 40 && checked < 12; it++) {
        tr_conf c;
        random_conf(&r, &c, 8);
        c.p.hash_bits = 16;
        if (c.p.sub_len < 3 && c.K >= 3) c.p.sub_len = 3;
        c.J = fr_trec_num_sub(c.K, c.p.sub_len);
        const size_t n_in = (size_t)c.g.batch * c.g.in_h * c.g.in_w * c.g.in_c;
        float *x = rand_f32(&r, n_in, 1.0f);
        float *w = rand_f32(&r, (size_t)c.g.out_c * c.K, 0.3f);
        float *bias = rand_f32(&r, (size_t)c.g.out_c, 0.1f);
        float *proj = rand_f32(&r, (size_t)16 * c.K, 1.0f);
        c.p.proj_f32 = proj;
        fr_cnn_range_f32 act = {-1e30f, 1e30f};
        void *scr = tr_scratch(fr_trec_conv_f32_scratch_bytes(&c.p, &c.g));
        const size_t ny = c.N * c.g.out_c;
        float *y1 = malloc(ny * sizeof *y1), *y2 = malloc(ny * sizeof *y2);
        uint16_t *ids = malloc(c.N * c.J * 2);
        fr_trec_stats st = {.bucket_ids = ids};
        fr_trec_conv_f32(fr_isa_best(), &c.p, &c.g, act, x, w, bias, y1, scr, &st);
        if (buckets_pure(&c, ids, x, NULL, 0)) {
            fr_cnn_conv_f32_ref(&c.g, act, x, w, bias, y2);
            for (size_t i = 0; i < ny; i++)
                if (fabsf(y1[i] - y2[i]) > 1e-5f * (1.0f + fabsf(y2[i])))
                    fail_msg("dense identity: output %zu is %.9g, conv %.9g", i, y1[i], y2[i]);
            checked++;
        }
        free(x), free(w), free(bias), free(proj), free(scr), free(y1), free(y2), free(ids);
    }
    assert_true(checked >= 10);
}

static void test_dense_identity_s8(void **state) {
    (void)state;
    tr_rng r = {0x77aa55ull};
    int checked = 0;
    for (int it = 0; it < 40 && checked < 12; it++) {
        tr_conf c;
        random_conf(&r, &c, 8);
        c.p.hash_bits = 16;
        if (c.p.sub_len < 3 && c.K >= 3) c.p.sub_len = 3;
        c.J = fr_trec_num_sub(c.K, c.p.sub_len);
        const size_t n_in = (size_t)c.g.batch * c.g.in_h * c.g.in_w * c.g.in_c;
        int8_t *x = rand_s8(&r, n_in, -128, 127);
        int8_t *w = rand_s8(&r, (size_t)c.g.out_c * c.K, -127, 127);
        int32_t *bias = malloc((size_t)c.g.out_c * 4);
        for (int o = 0; o < c.g.out_c; o++) bias[o] = tr_int(&r, -20000, 20000);
        int8_t *proj = rand_s8(&r, (size_t)16 * c.K, -128, 127);
        c.p.proj_s8 = proj;
        tr_q q;
        random_requant(&r, &q, c.g.out_c);
        void *scr = tr_scratch(fr_trec_conv_s8_scratch_bytes(&c.p, &c.g));
        const size_t ny = c.N * c.g.out_c;
        int8_t *y1 = malloc(ny), *y2 = malloc(ny);
        uint16_t *ids = malloc(c.N * c.J * 2);
        fr_trec_stats st = {.bucket_ids = ids};
        fr_trec_conv_s8(fr_isa_best(), &c.p, &c.g, &q.q, x, w, bias, y1, scr, &st);
        if (buckets_pure(&c, ids, NULL, x, q.q.input_zp)) {
            fr_cnn_conv_s8_ref(&c.g, &q.q, x, w, bias, y2);
            assert_memory_equal(y1, y2, ny);
            checked++;
        }
        free(x), free(w), free(bias), free(proj), free(scr), free(y1), free(y2), free(ids);
    }
    assert_true(checked >= 10);
}

/* ---- one bucket: zero projections put every sub-vector in bucket 2^H - 1 -------------- */

static void test_one_bucket(void **state) {
    (void)state;
    tr_rng r = {42};
    fr_cnn_geom g;
    assert_int_equal(fr_cnn_geom_init(&g, "conv", FR_CNN_PAD_VALID, 2, 5, 5, 2, 3, 3, 3, 1, 1,
                                      1, 1, 1, NULL),
                     FR_OK);
    const int K = 18, N = 2 * 9;
    float *x = rand_f32(&r, 2 * 25 * 2, 1.0f), *w = rand_f32(&r, 3 * K, 1.0f);
    float proj[3 * 18] = {0};
    fr_trec_params p = {.sub_len = 4, .hash_bits = 3, .scope = FR_TREC_SCOPE_IMAGE,
                        .proj_f32 = proj};
    const int J = fr_trec_num_sub(K, 4);
    assert_int_equal(J, 5);
    void *scr = tr_scratch(fr_trec_conv_f32_scratch_bytes(&p, &g));
    float y[18 * 3];
    uint16_t ids[18 * 5];
    uint32_t cps[5];
    fr_trec_stats st = {.bucket_ids = ids, .clusters_per_sub = cps};
    fr_cnn_range_f32 act = {-1e30f, 1e30f};
    fr_trec_conv_f32_ref(&p, &g, act, x, w, NULL, y, scr, &st);
    for (int i = 0; i < N * J; i++) assert_int_equal(ids[i], 7);
    for (int j = 0; j < J; j++) assert_int_equal(cps[j], 2); /* one per image */
    assert_int_equal(st.clusters, 2 * J);
    assert_int_equal(st.rows, N);
    assert_int_equal(st.n_sub, J);
    assert_int_equal(st.macs_dense, (int64_t)N * K * 3);
    assert_int_equal(st.macs_reuse, (int64_t)2 * K * 3);
    assert_int_equal(st.macs_hash, (int64_t)N * K * 3);
    assert_int_equal(st.adds, (int64_t)N * K + (int64_t)N * J * 3);
    /* every row of an image gets the conv of the image's mean patch */
    for (int b = 0; b < 2; b++) {
        double mean[18] = {0};
        for (int i = 0; i < 9; i++)
            for (int k = 0; k < K; k++) {
                int in;
                size_t src;
                im2col_at(&g, (size_t)b * 9 + i, k, &in, &src);
                mean[k] += x[src] / 9.0;
            }
        for (int o = 0; o < 3; o++) {
            double want = 0;
            for (int k = 0; k < K; k++) want += mean[k] * w[o * K + k];
            for (int i = 0; i < 9; i++)
                assert_float_equal(y[(b * 9 + i) * 3 + o], want, 1e-4);
        }
    }
    /* batch scope: one cluster per sub-vector for the whole batch */
    p.scope = FR_TREC_SCOPE_BATCH;
    free(scr);
    scr = tr_scratch(fr_trec_conv_f32_scratch_bytes(&p, &g));
    fr_trec_conv_f32(fr_isa_best(), &p, &g, act, x, w, NULL, y, scr, &st);
    assert_int_equal(st.clusters, J);
    for (int i = 1; i < N; i++) assert_memory_equal(y, y + i * 3, 3 * sizeof(float));
    free(x), free(w), free(scr);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_fast_equals_ref_f32),
        cmocka_unit_test(test_fast_equals_ref_s8),
        cmocka_unit_test(test_dense_identity_f32),
        cmocka_unit_test(test_dense_identity_s8),
        cmocka_unit_test(test_one_bucket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
