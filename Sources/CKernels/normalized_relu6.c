// Batch norm + ReLU6 kernels over nChw8c and nChw16c: one 8-lane vector per spatial position and
// group of 8 channels (half an nChw16c position), one task per (image, channel block) so that each
// cache line is read by one task, run on libgomp's threads (the pool oneDNN's kernels use, sized by
// omp_set_num_threads on the calling thread). Compiled twice, for AVX2 and for baseline x86-64,
// and picked at load time; neither uses FMA, so a product and a sum round as they are written.
// Any tensor may hold bf16 instead of f32 (what bf16 convolutions read and write); the maths is f32
// and f64 either way, and bf16 results are rounded to nearest even.
#include "normalized_relu6.h"
#include <stdint.h>
#include <string.h>

// libgomp's entry points (Debian's oneDNN links libgomp; its ABI is GCC's, stable since GCC 4.9).
extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);
extern int omp_get_max_threads(void);

typedef float v8f __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));
typedef double v4d __attribute__((vector_size(32)));
typedef unsigned v8u __attribute__((vector_size(32)));
typedef uint16_t v8h __attribute__((vector_size(16)));

#if defined(__x86_64__) && defined(__clang__)
#define KP_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define KP_CLONES
#endif

/// Positions summed in f32 before their sum is added to the f64 totals.
enum { CHUNK = 64 };
/// Below this many floats a tensor is done on the calling thread (a fork costs more).
enum { SERIAL_BELOW = 1 << 15 };
/// From this many floats (32 MB, an L3 cache) outputs are written past the caches: the next layer
/// cannot find them there anyway, and a plain store would first read each line in.
enum { STREAM_FROM = 1 << 23 };

// Macros, not functions: a function taking or returning a 32-byte vector would have a different
// ABI in the AVX2 and the baseline clones.
#define LOAD8(p) ({ v8f v_; memcpy(&v_, (p), sizeof v_); v_; })
#define STORE8(p, v) do { v8f v_ = (v); memcpy((p), &v_, sizeof v_); } while (0)
/// A store past the caches; `p` must be 32-byte aligned (every group of 8 channels at a position is).
#define STREAM8(p, v) __builtin_nontemporal_store((v), (v8f *)(void *)(p))
#define LOW4(v) __builtin_convertvector(__builtin_shufflevector((v), (v), 0, 1, 2, 3), v4d)
#define HIGH4(v) __builtin_convertvector(__builtin_shufflevector((v), (v), 4, 5, 6, 7), v4d)
#define SIX ((v8f){6, 6, 6, 6, 6, 6, 6, 6})

/// 8 bf16 values at `p` widened to f32 (exactly: a bf16 is the top half of an f32).
#define LOAD_BF16(p) ({ v8h w16_; memcpy(&w16_, (p), sizeof w16_); (v8f)(__builtin_convertvector(w16_, v8u) << 16); })
/// `v` rounded to bf16, to nearest with ties to even; a NaN stays a (quiet) NaN.
#define TO_BF16(v) ({ \
    v8f f_ = (v); v8u b_ = (v8u)f_; \
    v8u r_ = (b_ + 0x7fffu + ((b_ >> 16) & 1u)) >> 16; \
    v8u nan_ = (v8u)(f_ != f_); \
    __builtin_convertvector((nan_ & ((b_ >> 16) | 0x40u)) | (~nan_ & r_), v8h); })
/// 8 values of a tensor whose elements are f32, or bf16 when `bf16`; `i` counts elements.
#define LOAD_ANY(p, i, bf16) ((bf16) ? LOAD_BF16((const uint16_t *)(p) + (i)) : LOAD8((const float *)(p) + (i)))
/// Stores 8 values at element `i` of an f32 or bf16 tensor, past the caches when `stream` (then
/// `p + i` is aligned: 32 bytes in f32, 16 in bf16, as every group of 8 channels at a position is).
#define STORE_ANY(p, i, v, bf16, stream) do { \
        if (bf16) { \
            v8h o_ = TO_BF16(v); uint16_t *q_ = (uint16_t *)(p) + (i); \
            if (stream) __builtin_nontemporal_store(o_, (v8h *)(void *)q_); else memcpy(q_, &o_, sizeof o_); \
        } else if (stream) { \
            STREAM8((float *)(p) + (i), (v)); \
        } else { \
            STORE8((float *)(p) + (i), (v)); \
        } \
    } while (0)

/// min(max(z, 0), 6), keeping a NaN a NaN (so that a diverged step still shows in the loss).
#define RELU6(z) ({ \
    v8f z_ = (z); \
    z_ = (v8f)((v8i)z_ & ~(z_ < 0)); \
    v8i above_ = z_ > SIX; \
    (v8f)(((v8i)SIX & above_) | ((v8i)z_ & ~above_)); })

/// dy where 0 < z < 6, else 0.
#define RELU6_GRADIENT(z, dy) ({ v8f w_ = (z); (v8f)((v8i)(dy) & ((w_ > 0) & (w_ < SIX))); })

/// Orders this thread's streamed stores before what follows (the end of the parallel region).
static inline void fence(void) {
#if defined(__x86_64__)
    __builtin_ia32_sfence();
#endif
}

// MARK: Threads

typedef struct {
    void (*task)(const void *args, size_t index);
    const void *args;
    size_t count;
} share_t;

/// One thread's contiguous share of the tasks.
static void run_share(void *p) {
    const share_t *s = p;
    size_t t = (size_t)omp_get_thread_num(), threads = (size_t)omp_get_num_threads();
    for (size_t i = s->count * t / threads; i < s->count * (t + 1) / threads; i++) s->task(s->args, i);
}

/// Runs task(args, i) for i in 0..<count, on the OpenMP threads when `floats` is large enough.
static void parallel(size_t count, size_t floats, void (*task)(const void *, size_t), const void *args) {
    if (count < 2 || floats < SERIAL_BELOW || omp_get_max_threads() < 2) {
        for (size_t i = 0; i < count; i++) task(args, i);
        return;
    }
    share_t s = {task, args, count};
    GOMP_parallel(run_share, &s, 0, 0);
}

/// Where the group of 8 channels `group` of image `image` starts (its first channel at position 0)
/// in a [n][groups * 8 / width][plane][width] tensor.
static inline size_t group_offset(size_t image, size_t group, size_t groups, size_t plane, size_t width) {
    size_t per_block = width / 8;
    return image * groups * plane * 8 + (group / per_block) * plane * width + (group % per_block) * 8;
}

/// Task i's image and first group: tasks are (image, block of width / 8 groups), i = image * blocks + block.
#define TASK_GROUPS(i, groups, width, image, first, count) \
    const size_t count = (width) / 8, blocks_ = (groups) / count, image = (i) / blocks_, first = (i) % blocks_ * count

// MARK: Sums

/// Per channel of `count` (1 or 2) groups over one image's plane of `plane` positions, the sums of
/// two terms, which TERMS(h, q, first, second) sets for position h of the group q: four positions
/// at a time into four pairs of f32 sums (the adds' latency, not memory, bounds one pair), each
/// chunk's total added to f64 ones, stored at `out` (per group, 8 doubles of the first sums, then 8
/// of the second). The groups take turns chunk by chunk, so a block's cache lines are read once.
#define PAIR_SUMS(plane, count, out, TERMS) do { \
        v4d s1_[2][2] = {{{0}, {0}}, {{0}, {0}}}, s2_[2][2] = {{{0}, {0}}, {{0}, {0}}}; \
        for (size_t h0_ = 0; h0_ < (plane); h0_ += CHUNK) { \
            size_t h1_ = h0_ + CHUNK < (plane) ? h0_ + CHUNK : (plane); \
            for (size_t q_ = 0; q_ < (count); q_++) { \
                size_t h_ = h0_; \
                v8f c1_[4] = {{0}, {0}, {0}, {0}}, c2_[4] = {{0}, {0}, {0}, {0}}, f_, g_; \
                for (; h_ + 4 <= h1_; h_ += 4) { \
                    for (int u_ = 0; u_ < 4; u_++) { TERMS(h_ + u_, q_, f_, g_); c1_[u_] += f_; c2_[u_] += g_; } \
                } \
                for (; h_ < h1_; h_++) { TERMS(h_, q_, f_, g_); c1_[0] += f_; c2_[0] += g_; } \
                v8f t1_ = (c1_[0] + c1_[1]) + (c1_[2] + c1_[3]), t2_ = (c2_[0] + c2_[1]) + (c2_[2] + c2_[3]); \
                s1_[q_][0] += LOW4(t1_); s1_[q_][1] += HIGH4(t1_); \
                s2_[q_][0] += LOW4(t2_); s2_[q_][1] += HIGH4(t2_); \
            } \
        } \
        for (size_t q_ = 0; q_ < (count); q_++) { \
            memcpy((out) + q_ * 16, s1_[q_], sizeof s1_[q_]); \
            memcpy((out) + q_ * 16 + 8, s2_[q_], sizeof s2_[q_]); \
        } \
    } while (0)

/// Per channel (groups * 8), the two sums of every image's plane in `scratch`, added in image order.
static void sum_over_images(const double *scratch, size_t n, size_t groups, double *first, double *second) {
    for (size_t b = 0; b < groups; b++) {
        for (size_t c = 0; c < 8; c++) {
            double s1 = 0, s2 = 0;
            for (size_t image = 0; image < n; image++) {
                s1 += scratch[(image * groups + b) * 16 + c];
                s2 += scratch[(image * groups + b) * 16 + 8 + c];
            }
            first[b * 8 + c] = s1;
            second[b * 8 + c] = s2;
        }
    }
}

/// Element `i` of `t` as an f32.
static inline float element(kp_input t, size_t i) {
    if (!t.bf16) return ((const float *)t.data)[i];
    uint32_t bits = (uint32_t)((const uint16_t *)t.data)[i] << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

// MARK: Forward

typedef struct {
    kp_input x;
    size_t groups, plane, width;
    double *scratch;
} statistics_t;

/// Task i (one image, one block): per group, the sums of x - k and (x - k)^2 over the plane, k
/// being the group's first value in image 0 (a shift that keeps the variance's cancellation small).
KP_CLONES static void statistics_task(const void *p, size_t i) {
    const statistics_t *a = p;
    const size_t w = a->width;
    TASK_GROUPS(i, a->groups, w, image, first, count);
    const size_t start = group_offset(image, first, a->groups, a->plane, w);
    const void *x = a->x.data;
    const int x16 = a->x.bf16;
    v8f k[2];
    for (size_t q = 0; q < count; q++) k[q] = LOAD_ANY(x, group_offset(0, first + q, a->groups, a->plane, w), x16);
#define STATISTICS_TERMS(h, q, first, second) do { \
        v8f d_ = LOAD_ANY(x, start + (h) * w + (q) * 8, x16) - k[q]; first = d_; second = d_ * d_; \
    } while (0)
    PAIR_SUMS(a->plane, count, a->scratch + (image * a->groups + first) * 16, STATISTICS_TERMS);
#undef STATISTICS_TERMS
}

void kp_channel_statistics(kp_input x, size_t n, size_t groups, size_t plane, size_t width, double *scratch,
                           double *mean, double *variance) {
    statistics_t a = {x, groups, plane, width, scratch};
    parallel(n * groups * 8 / width, n * groups * plane * 8, statistics_task, &a);
    sum_over_images(scratch, n, groups, mean, variance);
    double count = (double)(n * plane);
    for (size_t c = 0; c < groups * 8; c++) {
        double shifted = mean[c] / count, v = variance[c] / count - shifted * shifted;
        mean[c] = (double)element(x, group_offset(0, c / 8, groups, plane, width) + c % 8) + shifted;
        variance[c] = v > 0 ? v : 0;
    }
}

typedef struct {
    kp_input x;
    kp_output y;
    size_t groups, plane, width;
    const float *scale, *shift;
    int stream;
} affine_t;

KP_CLONES static void affine_task(const void *p, size_t i) {
    const affine_t *a = p;
    const size_t w = a->width;
    TASK_GROUPS(i, a->groups, w, image, first, count);
    const size_t start = group_offset(image, first, a->groups, a->plane, w);
    v8f s[2], t[2];
    for (size_t q = 0; q < count; q++) { s[q] = LOAD8(a->scale + (first + q) * 8); t[q] = LOAD8(a->shift + (first + q) * 8); }
    const void *x = a->x.data;
    const int x16 = a->x.bf16, y16 = a->y.bf16, stream = a->stream;
    for (size_t h = 0; h < a->plane; h++) {
        for (size_t q = 0; q < count; q++) {
            size_t e = start + h * w + q * 8;
            STORE_ANY(a->y.data, e, RELU6(s[q] * LOAD_ANY(x, e, x16) + t[q]), y16, stream);
        }
    }
    if (stream) fence();
}

void kp_scale_shift_relu6(kp_input x, kp_output y, size_t n, size_t groups, size_t plane, size_t width,
                          const float *scale, const float *shift) {
    size_t floats = n * groups * plane * 8;
    affine_t a = {x, y, groups, plane, width, scale, shift, floats >= STREAM_FROM};
    parallel(n * groups * 8 / width, floats, affine_task, &a);
}

// MARK: Backward

typedef struct {
    kp_input x, dy;
    size_t groups, plane, width;
    const float *scale, *shift, *centre;
    double *scratch;
} gradient_sums_t;

KP_CLONES static void gradient_sums_task(const void *p, size_t i) {
    const gradient_sums_t *a = p;
    const size_t w = a->width;
    TASK_GROUPS(i, a->groups, w, image, first, count);
    const size_t start = group_offset(image, first, a->groups, a->plane, w);
    v8f s[2], t[2], m[2];
    for (size_t q = 0; q < count; q++) {
        size_t c = (first + q) * 8;
        s[q] = LOAD8(a->scale + c); t[q] = LOAD8(a->shift + c); m[q] = LOAD8(a->centre + c);
    }
    const void *x = a->x.data, *dy = a->dy.data;
    const int x16 = a->x.bf16, dy16 = a->dy.bf16;
#define GRADIENT_TERMS(h, q, first, second) do { \
        size_t e_ = start + (h) * w + (q) * 8; \
        v8f x_ = LOAD_ANY(x, e_, x16); \
        first = RELU6_GRADIENT(s[q] * x_ + t[q], LOAD_ANY(dy, e_, dy16)); \
        second = first * (x_ - m[q]); \
    } while (0)
    PAIR_SUMS(a->plane, count, a->scratch + (image * a->groups + first) * 16, GRADIENT_TERMS);
#undef GRADIENT_TERMS
}

void kp_relu6_gradient_sums(kp_input x, kp_input dy, size_t n, size_t groups, size_t plane, size_t width,
                            const float *scale, const float *shift, const float *centre, double *scratch, double *sum,
                            double *centredSum) {
    gradient_sums_t a = {x, dy, groups, plane, width, scale, shift, centre, scratch};
    parallel(n * groups * 8 / width, n * groups * plane * 8, gradient_sums_task, &a);
    sum_over_images(scratch, n, groups, sum, centredSum);
}

typedef struct {
    kp_input x, dy;
    kp_output dx;
    size_t groups, plane, width;
    const float *scale, *shift, *offset, *slope, *centre;
    int stream;
} input_gradient_t;

KP_CLONES static void input_gradient_task(const void *p, size_t i) {
    const input_gradient_t *a = p;
    const size_t w = a->width;
    TASK_GROUPS(i, a->groups, w, image, first, count);
    const size_t start = group_offset(image, first, a->groups, a->plane, w);
    const v8f zero = {0};
    v8f s[2], t[2], o[2], k[2], m[2];
    for (size_t q = 0; q < count; q++) {
        size_t c = (first + q) * 8;
        s[q] = LOAD8(a->scale + c); t[q] = LOAD8(a->shift + c);
        o[q] = a->offset ? LOAD8(a->offset + c) : zero;
        k[q] = a->slope ? LOAD8(a->slope + c) : zero;
        m[q] = a->slope ? LOAD8(a->centre + c) : zero;
    }
    const void *x = a->x.data, *dy = a->dy.data;
    const int x16 = a->x.bf16, dy16 = a->dy.bf16, dx16 = a->dx.bf16, stream = a->stream;
#define INPUT_GRADIENT_LOOP(value) \
    for (size_t h = 0; h < a->plane; h++) { \
        for (size_t q = 0; q < count; q++) { \
            size_t e = start + h * w + q * 8; \
            v8f xv = LOAD_ANY(x, e, x16); \
            v8f g = RELU6_GRADIENT(s[q] * xv + t[q], LOAD_ANY(dy, e, dy16)); \
            STORE_ANY(a->dx.data, e, value, dx16, stream); \
        } \
    }
    if (a->slope) {
        INPUT_GRADIENT_LOOP(g * s[q] + o[q] + k[q] * (xv - m[q]))
    } else {
        INPUT_GRADIENT_LOOP(g * s[q] + o[q])
    }
#undef INPUT_GRADIENT_LOOP
    if (stream) fence();
}

void kp_relu6_input_gradient(kp_input x, kp_input dy, kp_output dx, size_t n, size_t groups, size_t plane, size_t width,
                             const float *scale, const float *shift, const float *offset, const float *slope,
                             const float *centre) {
    size_t floats = n * groups * plane * 8;
    input_gradient_t a = {x, dy, dx, groups, plane, width, scale, shift, offset, slope, centre, floats >= STREAM_FROM};
    parallel(n * groups * 8 / width, floats, input_gradient_task, &a);
}
