// Batch norm + ReLU6 kernels over nChw8c and nChw16c: one 8-lane vector per spatial position and
// group of 8 channels (half an nChw16c position), one task per (image, group), run on libgomp's threads (the pool oneDNN's kernels use, sized by
// omp_set_num_threads on the calling thread). Compiled twice, for AVX2 and for baseline x86-64,
// and picked at load time; neither uses FMA, so a product and a sum round as they are written.
#include "normalized_relu6.h"
#include <string.h>

// libgomp's entry points (Debian's oneDNN links libgomp; its ABI is GCC's, stable since GCC 4.9).
extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);
extern int omp_get_max_threads(void);

typedef float v8f __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));
typedef double v4d __attribute__((vector_size(32)));

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

/// Where task i = image * groups + group starts: its group's first 8 channels at position 0 of that
/// image, in a [n][groups * 8 / width][plane][width] tensor.
static inline size_t group_offset(size_t i, size_t groups, size_t plane, size_t width) {
    size_t group = i % groups, per_block = width / 8;
    return (i / groups) * groups * plane * 8 + (group / per_block) * plane * width + (group % per_block) * 8;
}

// MARK: Sums

/// Per channel of one (image, group) plane of `plane` positions, the sums of two terms, which
/// TERMS(h, first, second) sets for position h: four positions at a time into four pairs of f32
/// sums (the adds' latency, not memory, bounds one pair), each chunk's total added to f64 ones,
/// stored at `out` (8 doubles of the first sums, then 8 of the second).
#define PAIR_SUMS(plane, out, TERMS) do { \
        v4d s1_[2] = {{0}, {0}}, s2_[2] = {{0}, {0}}; \
        for (size_t h0_ = 0; h0_ < (plane); h0_ += CHUNK) { \
            size_t h1_ = h0_ + CHUNK < (plane) ? h0_ + CHUNK : (plane), h_ = h0_; \
            v8f c1_[4] = {{0}, {0}, {0}, {0}}, c2_[4] = {{0}, {0}, {0}, {0}}, f_, g_; \
            for (; h_ + 4 <= h1_; h_ += 4) { \
                for (int u_ = 0; u_ < 4; u_++) { TERMS(h_ + u_, f_, g_); c1_[u_] += f_; c2_[u_] += g_; } \
            } \
            for (; h_ < h1_; h_++) { TERMS(h_, f_, g_); c1_[0] += f_; c2_[0] += g_; } \
            v8f t1_ = (c1_[0] + c1_[1]) + (c1_[2] + c1_[3]), t2_ = (c2_[0] + c2_[1]) + (c2_[2] + c2_[3]); \
            s1_[0] += LOW4(t1_); s1_[1] += HIGH4(t1_); \
            s2_[0] += LOW4(t2_); s2_[1] += HIGH4(t2_); \
        } \
        memcpy((out), s1_, sizeof s1_); \
        memcpy((out) + 8, s2_, sizeof s2_); \
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

// MARK: Forward

typedef struct {
    const float *x;
    size_t groups, plane, width;
    double *scratch;
} statistics_t;

/// Task i = image * groups + group: the sums of x - k and (x - k)^2 over one plane of one group,
/// k being the group's first value in image 0 (a shift that keeps the variance's cancellation small).
KP_CLONES static void statistics_task(const void *p, size_t i) {
    const statistics_t *a = p;
    const size_t w = a->width;
    const v8f k = LOAD8(a->x + group_offset(i % a->groups, a->groups, a->plane, w));
    const float *x = a->x + group_offset(i, a->groups, a->plane, w);
#define STATISTICS_TERMS(h, first, second) do { v8f d_ = LOAD8(x + (h) * w) - k; first = d_; second = d_ * d_; } while (0)
    PAIR_SUMS(a->plane, a->scratch + i * 16, STATISTICS_TERMS);
#undef STATISTICS_TERMS
}

void kp_channel_statistics(const float *x, size_t n, size_t groups, size_t plane, size_t width, double *scratch,
                           double *mean, double *variance) {
    statistics_t a = {x, groups, plane, width, scratch};
    parallel(n * groups, n * groups * plane * 8, statistics_task, &a);
    sum_over_images(scratch, n, groups, mean, variance);
    double count = (double)(n * plane);
    for (size_t c = 0; c < groups * 8; c++) {
        double shifted = mean[c] / count, v = variance[c] / count - shifted * shifted;
        mean[c] = (double)x[group_offset(c / 8, groups, plane, width) + c % 8] + shifted;
        variance[c] = v > 0 ? v : 0;
    }
}

typedef struct {
    const float *x;
    float *y;
    size_t groups, plane, width;
    const float *scale, *shift;
    int stream;
} affine_t;

KP_CLONES static void affine_task(const void *p, size_t i) {
    const affine_t *a = p;
    size_t b = i % a->groups, w = a->width, start = group_offset(i, a->groups, a->plane, w);
    const v8f s = LOAD8(a->scale + b * 8), t = LOAD8(a->shift + b * 8);
    const float *x = a->x + start;
    float *y = a->y + start;
    if (a->stream) {
        for (size_t h = 0; h < a->plane; h++) STREAM8(y + h * w, RELU6(s * LOAD8(x + h * w) + t));
        fence();
    } else {
        for (size_t h = 0; h < a->plane; h++) STORE8(y + h * w, RELU6(s * LOAD8(x + h * w) + t));
    }
}

void kp_scale_shift_relu6(const float *x, float *y, size_t n, size_t groups, size_t plane, size_t width, const float *scale,
                          const float *shift) {
    size_t floats = n * groups * plane * 8;
    affine_t a = {x, y, groups, plane, width, scale, shift, floats >= STREAM_FROM};
    parallel(n * groups, floats, affine_task, &a);
}

// MARK: Backward

typedef struct {
    const float *x, *dy;
    size_t groups, plane, width;
    const float *scale, *shift, *centre;
    double *scratch;
} gradient_sums_t;

KP_CLONES static void gradient_sums_task(const void *p, size_t i) {
    const gradient_sums_t *a = p;
    size_t b = i % a->groups, w = a->width, start = group_offset(i, a->groups, a->plane, w);
    const v8f s = LOAD8(a->scale + b * 8), t = LOAD8(a->shift + b * 8), m = LOAD8(a->centre + b * 8);
    const float *x = a->x + start, *dy = a->dy + start;
#define GRADIENT_TERMS(h, first, second) do { \
        v8f x_ = LOAD8(x + (h) * w); \
        first = RELU6_GRADIENT(s * x_ + t, LOAD8(dy + (h) * w)); \
        second = first * (x_ - m); \
    } while (0)
    PAIR_SUMS(a->plane, a->scratch + i * 16, GRADIENT_TERMS);
#undef GRADIENT_TERMS
}

void kp_relu6_gradient_sums(const float *x, const float *dy, size_t n, size_t groups, size_t plane, size_t width, const float *scale,
                            const float *shift, const float *centre, double *scratch, double *sum, double *centredSum) {
    gradient_sums_t a = {x, dy, groups, plane, width, scale, shift, centre, scratch};
    parallel(n * groups, n * groups * plane * 8, gradient_sums_task, &a);
    sum_over_images(scratch, n, groups, sum, centredSum);
}

typedef struct {
    const float *x, *dy;
    float *dx;
    size_t groups, plane, width;
    const float *scale, *shift, *offset, *slope, *centre;
    int stream;
} input_gradient_t;

KP_CLONES static void input_gradient_task(const void *p, size_t i) {
    const input_gradient_t *a = p;
    size_t b = i % a->groups, w = a->width, start = group_offset(i, a->groups, a->plane, w);
    const v8f zero = {0};
    const v8f s = LOAD8(a->scale + b * 8), t = LOAD8(a->shift + b * 8);
    const v8f o = a->offset ? LOAD8(a->offset + b * 8) : zero, k = a->slope ? LOAD8(a->slope + b * 8) : zero;
    const v8f m = a->slope ? LOAD8(a->centre + b * 8) : zero;
    const float *x = a->x + start, *dy = a->dy + start;
    float *dx = a->dx + start;
#define INPUT_GRADIENT_LOOP(store, value) \
    for (size_t h = 0; h < a->plane; h++) { \
        v8f xv = LOAD8(x + h * w); \
        v8f g = RELU6_GRADIENT(s * xv + t, LOAD8(dy + h * w)); \
        store(dx + h * w, value); \
    }
    if (a->slope && a->stream) {
        INPUT_GRADIENT_LOOP(STREAM8, g * s + o + k * (xv - m))
        fence();
    } else if (a->slope) {
        INPUT_GRADIENT_LOOP(STORE8, g * s + o + k * (xv - m))
    } else if (a->stream) {
        INPUT_GRADIENT_LOOP(STREAM8, g * s + o)
        fence();
    } else {
        INPUT_GRADIENT_LOOP(STORE8, g * s + o)
    }
#undef INPUT_GRADIENT_LOOP
}

void kp_relu6_input_gradient(const float *x, const float *dy, float *dx, size_t n, size_t groups, size_t plane, size_t width,
                             const float *scale, const float *shift, const float *offset, const float *slope,
                             const float *centre) {
    size_t floats = n * groups * plane * 8;
    input_gradient_t a = {x, dy, dx, groups, plane, width, scale, shift, offset, slope, centre, floats >= STREAM_FROM};
    parallel(n * groups, floats, input_gradient_task, &a);
}
