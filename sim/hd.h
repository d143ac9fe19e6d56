#pragma once
// MLAPS_HD marks code compiled for host and device from the same source (nvcc, hipcc/clang, or plain C++).
#if defined(__CUDACC__) || defined(__HIPCC__) || defined(__HIP__)
#define MLAPS_HD __host__ __device__
#define MLAPS_DEVICE_COMPILER 1
#else
#define MLAPS_HD
#define MLAPS_DEVICE_COMPILER 0
#endif
