/* libFuzzer target for the GGUF reader: open the input as a buffer, walk every key (format
 * each value, read every array element, nested arrays included) and every tensor, close. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gguf/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t walk_arr(const fr_gguf_arr *a, int depth) {
    uint64_t acc = a->n;
    for (uint64_t i = 0; i < a->n; i++) {
        if (a->type == FR_GGUF_STRING) {
            fr_gguf_str s;
            if (fr_gguf_arr_str(a, i, &s, NULL) != FR_OK) __builtin_trap();
            if (s.len) acc += (uint8_t)s.ptr[0] + (uint8_t)s.ptr[s.len - 1];
        } else if (a->type == FR_GGUF_ARRAY) {
            fr_gguf_arr sub;
            if (fr_gguf_arr_sub(a, i, &sub, NULL) != FR_OK) __builtin_trap();
            if (depth > 16) __builtin_trap();
            acc += walk_arr(&sub, depth + 1);
        } else {
            acc += (uint64_t)fr_gguf_arr_i64(a, i);
            acc += (uint64_t)(fr_gguf_arr_f64(a, i) != 0.0);
        }
    }
    return acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fr_gguf *g = NULL;
    fr_error err = {0};
    if (fr_gguf_open_buffer(data, size, "fuzz.gguf", &g, &err) != FR_OK) {
        if (g || err.msg[0] == '\0' || !strstr(err.msg, "fuzz.gguf") || strchr(err.msg, '\n'))
            __builtin_trap();
        return 0;
    }
    volatile uint64_t acc = fr_gguf_version(g) + fr_gguf_alignment(g);
    char buf[512];
    for (int64_t i = 0; i < fr_gguf_n_kv(g); i++) {
        fr_gguf_str key = fr_gguf_key(g, i);
        if (key.len) acc += (uint8_t)key.ptr[key.len - 1];
        fr_gguf_kv_format(g, i, buf, sizeof buf);
        acc += strlen(buf);
        if (fr_gguf_kv_type(g, i) == FR_GGUF_ARRAY) {
            fr_gguf_arr a;
            if (fr_gguf_kv_arr(g, i, &a, NULL) != FR_OK) __builtin_trap();
            acc += walk_arr(&a, 0);
        }
        /* Getters by name must agree with the index (keys are unique). */
        if (key.len < sizeof buf && !memchr(key.ptr, 0, key.len)) {
            memcpy(buf, key.ptr, key.len);
            buf[key.len] = '\0';
            if (fr_gguf_find_key(g, buf) != i) __builtin_trap();
            uint32_t u;
            int64_t v;
            float f;
            bool b;
            fr_gguf_str s;
            acc += fr_gguf_get_u32(g, buf, &u, NULL) + fr_gguf_get_i64(g, buf, &v, NULL) +
                   fr_gguf_get_f32(g, buf, &f, NULL) + fr_gguf_get_bool(g, buf, &b, NULL) +
                   fr_gguf_get_str(g, buf, &s, NULL);
        }
    }
    const uint8_t *base = fr_gguf_data_base(g);
    for (int64_t i = 0; i < fr_gguf_n_tensors(g); i++) {
        const fr_gguf_tensor *t = fr_gguf_tensor_at(g, i);
        const uint8_t *p = t->data;
        if (p < base || p + t->size > data + size || t->size == 0) __builtin_trap();
        acc += p[0] + p[t->size - 1] + t->n_dims + t->ne[0] + t->type;
        if (t->name.len < sizeof buf && !memchr(t->name.ptr, 0, t->name.len)) {
            memcpy(buf, t->name.ptr, t->name.len);
            buf[t->name.len] = '\0';
            if (fr_gguf_find_tensor(g, buf) != t) __builtin_trap();
        }
    }
    (void)acc;
    fr_gguf_close(g);
    return 0;
}
