/* TREC against its independent twins (tools/py/trec.py): the float cases come from the
 * PyTorch module, the int8 cases from the NumPy integer reference (some with hyperplane
 * offsets). Every case is run
 * through the scalar reference and the fast path; both must give the twin's bucket id
 * for every sub-vector of every row, the float output within float tolerance and the
 * int8 output bit-exactly. */
#include "trec_testutil.h"

#include "core/error.h"

#define CASES_PATH FR_BINARY_DIR "/trec_cases.bin"

static int generate(void **state) {
    (void)state;
    const char *cmd = FR_PYTHON " " FR_SOURCE_DIR "/tools/py/trec.py gen-tests " CASES_PATH;
    int rc = system(cmd);
    if (rc != 0) {
        print_error("generator failed (%d): %s\n", rc, cmd);
        return -1;
    }
    return 0;
}

static void case_geom(tr_case *c, fr_cnn_geom *g, fr_trec_params *p, int *act, int *kind) {
    const int32_t *gv = tr_get(c, "geom", 'i')->data;
    const int32_t *tv = tr_get(c, "trec", 'i')->data;
    memset(g, 0, sizeof *g);
    g->batch = gv[0];
    g->in_h = gv[1];
    g->in_w = gv[2];
    g->in_c = gv[3];
    g->out_c = gv[4];
    g->k_h = gv[5];
    g->k_w = gv[6];
    g->stride_h = gv[7];
    g->stride_w = gv[8];
    g->dil_h = gv[9];
    g->dil_w = gv[10];
    g->pad_top = gv[11];
    g->pad_left = gv[12];
    g->out_h = gv[13];
    g->out_w = gv[14];
    g->depth_mult = 1;
    memset(p, 0, sizeof *p);
    p->sub_len = tv[0];
    p->hash_bits = tv[1];
    p->scope = (fr_trec_scope)tv[2];
    *act = tv[3];
    *kind = tv[4];
    /* a sixth value marks pixel mode (ids then per input pixel) */
    p->pixel = tr_get(c, "trec", 'i')->n >= 6 ? tv[5] : 0;
}

/* Bucket ids a case has: N * J (rows x sub-vectors), or one per input pixel and channel
 * group (in_c / L of them). */
static size_t n_ids(const fr_cnn_geom *g, const fr_trec_params *p, size_t N, int J) {
    return p->pixel ? (size_t)g->batch * g->in_h * g->in_w * (size_t)(g->in_c / p->sub_len)
                    : N * (size_t)J;
}

static void check_ids(const uint16_t *got, tr_array *want, size_t n, int J, const char *what,
                      int ci) {
    assert_int_equal(want->n, n);
    const uint16_t *w = want->data;
    for (size_t i = 0; i < n; i++)
        if (got[i] != w[i])
            fail_msg("case %d %s: bucket id %zu (row %zu sub %zu, or pixel %zu) is %u, twin "
                     "says %u", ci, what, i, i / (size_t)J, i % (size_t)J, i,
                     (unsigned)got[i], (unsigned)w[i]);
}

static void run_f32_case(tr_case *c, int ci) {
    fr_cnn_geom g;
    fr_trec_params p;
    int act, kind;
    case_geom(c, &g, &p, &act, &kind);
    p.proj_f32 = tr_get(c, "proj", 'f')->data;
    tr_array *off = tr_find(c, "offset", 'f');
    if (off) p.offset_f32 = off->data;
    fr_error err = {0};
    assert_int_equal(fr_trec_check(&p, &g, 0, "case", &err), FR_OK);
    fr_cnn_range_f32 range;
    assert_int_equal(fr_cnn_act_range_f32((fr_cnn_act)act, &range, &err), FR_OK);
    const size_t N = (size_t)g.batch * g.out_h * g.out_w;
    const int K = g.k_h * g.k_w * g.in_c;
    const int J = fr_trec_num_sub(K, p.sub_len);
    const float *x = tr_get(c, "input", 'f')->data;
    const float *w = tr_get(c, "filter", 'f')->data;
    const float *bias = tr_get(c, "bias", 'f')->data;
    tr_array *want = tr_get(c, "output", 'f');
    assert_int_equal(want->n, N * g.out_c);
    const float *wy = want->data;
    const size_t sb = fr_trec_conv_f32_scratch_bytes(&p, &g);
    void *scratch = tr_scratch(sb);
    float *y_ref = malloc(N * g.out_c * sizeof(float));
    float *y_fast = malloc(N * g.out_c * sizeof(float));
    const size_t nid = n_ids(&g, &p, N, J);
    uint16_t *ids_ref = malloc(nid * sizeof(uint16_t));
    uint16_t *ids_fast = malloc(nid * sizeof(uint16_t));
    uint32_t *cps = malloc(J * sizeof(uint32_t));
    fr_trec_stats st_ref = {.bucket_ids = ids_ref, .clusters_per_sub = cps};
    fr_trec_stats st_fast = {.bucket_ids = ids_fast};
    fr_trec_conv_f32_ref(&p, &g, range, x, w, bias, y_ref, scratch, &st_ref);
    memset(scratch, 0x5A, sb);
    fr_trec_conv_f32(fr_isa_best(), &p, &g, range, x, w, bias, y_fast, scratch, &st_fast);
    check_ids(ids_ref, tr_get(c, "ids", 'h'), nid, J, "ref", ci);
    check_ids(ids_fast, tr_get(c, "ids", 'h'), nid, J, "fast", ci);
    assert_int_equal(st_ref.clusters, ((int32_t *)tr_get(c, "clusters", 'i')->data)[0]);
    assert_int_equal(st_fast.clusters, st_ref.clusters);
    int64_t sum = 0;
    for (int j = 0; j < J; j++) sum += cps[j];
    assert_int_equal(sum, st_ref.clusters);
    double max_err = 0;
    for (size_t i = 0; i < N * g.out_c; i++) {
        const double e = fabs((double)y_ref[i] - wy[i]);
        if (e > max_err) max_err = e;
        if (e > 1e-4 * (1.0 + fabs(wy[i])))
            fail_msg("case %d (kind %d): output %zu is %.9g, PyTorch says %.9g", ci, kind, i,
                     y_ref[i], wy[i]);
    }
    assert_memory_equal(y_ref, y_fast, N * g.out_c * sizeof(float));
    print_message("case %d f32 kind %d%s%s: L %d H %d scope %d, %zu rows, %lld clusters, "
                  "MACs %lld of %lld dense, max |err| %.2g\n",
                  ci, kind, off ? " +offsets" : "", p.pixel ? " pixel" : "", p.sub_len, p.hash_bits, (int)p.scope, N, (long long)st_ref.clusters,
                  (long long)st_ref.macs_reuse, (long long)st_ref.macs_dense, max_err);
    free(scratch);
    free(y_ref);
    free(y_fast);
    free(ids_ref);
    free(ids_fast);
    free(cps);
}

static void run_s8_case(tr_case *c, int ci) {
    fr_cnn_geom g;
    fr_trec_params p;
    int act, kind;
    case_geom(c, &g, &p, &act, &kind);
    p.proj_s8 = tr_get(c, "proj", 'b')->data;
    tr_array *off = tr_find(c, "offset", 'i');
    if (off) p.offset_s32 = off->data;
    fr_error err = {0};
    assert_int_equal(fr_trec_check(&p, &g, 1, "case", &err), FR_OK);
    const int32_t *qv = tr_get(c, "q", 'i')->data;
    fr_cnn_requant q = {.input_zp = qv[0],
                        .output_zp = qv[1],
                        .act_min = qv[2],
                        .act_max = qv[3],
                        .mult = tr_get(c, "mult", 'i')->data,
                        .shift = tr_get(c, "shift", 'i')->data,
                        .per_channel = 1};
    const size_t N = (size_t)g.batch * g.out_h * g.out_w;
    const int K = g.k_h * g.k_w * g.in_c;
    const int J = fr_trec_num_sub(K, p.sub_len);
    const int8_t *x = tr_get(c, "input", 'b')->data;
    const int8_t *w = tr_get(c, "filter", 'b')->data;
    const int32_t *bias = tr_get(c, "bias", 'i')->data;
    tr_array *want = tr_get(c, "output", 'b');
    assert_int_equal(want->n, N * g.out_c);
    const size_t sb = fr_trec_conv_s8_scratch_bytes(&p, &g);
    void *scratch = tr_scratch(sb);
    int8_t *y_ref = malloc(N * g.out_c);
    int8_t *y_fast = malloc(N * g.out_c);
    const size_t nid = n_ids(&g, &p, N, J);
    uint16_t *ids_ref = malloc(nid * sizeof(uint16_t));
    uint16_t *ids_fast = malloc(nid * sizeof(uint16_t));
    fr_trec_stats st_ref = {.bucket_ids = ids_ref};
    fr_trec_stats st_fast = {.bucket_ids = ids_fast};
    fr_trec_conv_s8_ref(&p, &g, &q, x, w, bias, y_ref, scratch, &st_ref);
    memset(scratch, 0x5A, sb);
    fr_trec_conv_s8(fr_isa_best(), &p, &g, &q, x, w, bias, y_fast, scratch, &st_fast);
    check_ids(ids_ref, tr_get(c, "ids", 'h'), nid, J, "ref", ci);
    check_ids(ids_fast, tr_get(c, "ids", 'h'), nid, J, "fast", ci);
    const int8_t *wy = want->data;
    for (size_t i = 0; i < N * g.out_c; i++)
        if (y_ref[i] != wy[i])
            fail_msg("case %d int8: output %zu is %d, NumPy says %d", ci, i, y_ref[i], wy[i]);
    assert_memory_equal(y_ref, y_fast, N * g.out_c);
    assert_int_equal(st_fast.clusters, st_ref.clusters);
    print_message("case %d s8%s%s: L %d H %d scope %d, %zu rows, %lld clusters, MACs %lld "
                  "of %lld dense\n",
                  ci, off ? " +offsets" : "", p.pixel ? " pixel" : "", p.sub_len, p.hash_bits, (int)p.scope, N, (long long)st_ref.clusters,
                  (long long)st_ref.macs_reuse, (long long)st_ref.macs_dense);
    free(scratch);
    free(y_ref);
    free(y_fast);
    free(ids_ref);
    free(ids_fast);
}

static void test_against_twins(void **state) {
    (void)state;
    tr_file tf;
    tr_open(&tf, CASES_PATH);
    int n_f32 = 0, n_s8 = 0, n_pixel = 0, n_groups = 0;
    for (uint32_t ci = 0; ci < tf.n_cases; ci++) {
        tr_case c;
        tr_read_case(&tf, &c);
        tr_array *tv = tr_get(&c, "trec", 'i');
        const int kind = ((int32_t *)tv->data)[4];
        const int pixel = tv->n >= 6 && ((int32_t *)tv->data)[5];
        n_pixel += pixel;
        /* channel groups: L (trec[0]) below in_c (geom[3]) */
        n_groups += pixel && ((int32_t *)tv->data)[0] < ((int32_t *)tr_get(&c, "geom", 'i')->data)[3];
        if (kind == 2) {
            run_s8_case(&c, (int)ci);
            n_s8++;
        } else {
            run_f32_case(&c, (int)ci);
            n_f32++;
        }
        tr_case_free(&c);
    }
    fclose(tf.f);
    assert_true(n_f32 >= 18);
    assert_true(n_s8 >= 12);
    assert_true(n_pixel >= 25);
    assert_true(n_groups >= 10);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_twins),
    };
    return cmocka_run_group_tests(tests, generate, NULL);
}
