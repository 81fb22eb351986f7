// Batch normalisation followed by ReLU6 over oneDNN's blocked nChw8c or nChw16c activations, forward and
// backward, in as few passes over memory as the maths allows (two each way). Our C, run on the
// OpenMP threads oneDNN uses, so that a worker's thread count covers these kernels too.
#ifndef KP_NORMALIZED_RELU6_H
#define KP_NORMALIZED_RELU6_H

#include <stddef.h>

/// Shapes: every tensor is [n][C / width][plane][width] elements, `width` 8 (nChw8c) or 16 (nChw16c):
/// channel c is lane c % width of block c / width; `plane` = H * W. `groups` = C / 8 (C padded to a
/// whole number of blocks), and per-channel vectors have groups * 8 entries. Work is split over
/// (image, channel block) pairs, and every sum is added in one fixed order, so results do not
/// depend on the thread count.

/// A tensor the kernels read: f32 elements, or bf16 ones when `bf16` is non-zero (widened exactly).
typedef struct {
    const void *data;
    int bf16;
} kp_input;

/// A tensor the kernels write: f32 elements, or bf16 ones (rounded to nearest even) when `bf16`.
typedef struct {
    void *data;
    int bf16;
} kp_output;

/// The batch mean and biased variance of each channel of `x` over n * plane values, in double
/// precision from a shifted single pass. `scratch`: 2 * 8 * n * groups doubles.
void kp_channel_statistics(kp_input x, size_t n, size_t groups, size_t plane, size_t width, double *scratch,
                           double *mean, double *variance);

/// y = min(max(scale * x + shift, 0), 6), per channel `scale` and `shift`. `y` may be `x` when
/// both have one element type.
void kp_scale_shift_relu6(kp_input x, kp_output y, size_t n, size_t groups, size_t plane, size_t width,
                          const float *scale, const float *shift);

/// With g = dy where 0 < scale * x + shift < 6 and 0 elsewhere (ReLU6's derivative, taken where
/// the forward's output is strictly inside (0, 6)): per channel, sum g and sum g * (x - centre).
/// `scratch`: 2 * 8 * n * groups doubles.
void kp_relu6_gradient_sums(kp_input x, kp_input dy, size_t n, size_t groups, size_t plane, size_t width,
                            const float *scale, const float *shift, const float *centre, double *scratch, double *sum,
                            double *centredSum);

/// dx = g * scale + offset + slope * (x - centre), g as in kp_relu6_gradient_sums, per channel
/// `offset`, `slope` and `centre` (`offset` NULL for zero; `slope` NULL for zero, and then `centre`
/// is not read). `dx` may be `dy` when both have one element type.
void kp_relu6_input_gradient(kp_input x, kp_input dy, kp_output dx, size_t n, size_t groups, size_t plane, size_t width,
                             const float *scale, const float *shift, const float *offset, const float *slope,
                             const float *centre);

#endif
