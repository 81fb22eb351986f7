// CRC-32C (Castagnoli) with the SSE4.2 crc32 instruction, for Sources/Model/Checksum.swift.
#ifndef KEYPOINTS_CRC32C_H
#define KEYPOINTS_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has the SSE4.2 crc32 instruction (checked once by the caller), else 0.
int kp_crc32c_hardware(void);

/// Advances the CRC-32C register `state` (not inverted: the caller inverts before and after) over
/// `count` bytes at `bytes`. Call only when kp_crc32c_hardware() is 1.
uint32_t kp_crc32c_update(uint32_t state, const void *bytes, size_t count);

#endif
