#pragma once
// The vendor header: the GPU sources are written in the HIP dialect. Under hipcc / clang -x hip (AMD) the
// HIP names are native; under nvcc (NVIDIA) this header maps them onto the CUDA runtime. Debian's
// HIP-on-NVIDIA headers do not build with CUDA 13 (DESIGN.md), hence this thin layer instead.
//
// Only the subset the project uses is mapped. Kernels must not assume a wave size: use kWaveSize, and the
// shuffle wrappers below, which always take an explicit lane mask on NVIDIA.
#include <cstdint>

#if defined(__HIP_PLATFORM_AMD__) || (defined(__HIP__) && defined(__clang__) && !defined(__CUDA__))
#define MLAPS_GPU_HIP 1
#define MLAPS_GPU_CUDA 0
#include <hip/hip_runtime.h>
#elif defined(__CUDACC__)
#define MLAPS_GPU_HIP 0
#define MLAPS_GPU_CUDA 1
#include <cuda_runtime.h>
#else
#error "gpu_vendor.h: unknown GPU compiler (need hipcc/clang -x hip for AMD or nvcc for NVIDIA)"
#endif

// ---------------------------------------------------------------------------------------------------------
// Wave (warp) size, a compile-time constant of the device pass. The host pass sees the target's value too
// where it is knowable (it is only used for launch shapes).
namespace mlaps::gpu {
#if MLAPS_GPU_CUDA
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 300
#error "gpu_vendor.h: NVIDIA targets below sm_30 are not supported"
#endif
inline constexpr int kWaveSize = 32;
#else
#if defined(__HIP_DEVICE_COMPILE__)
#if defined(__gfx940__) || defined(__gfx941__) || defined(__gfx942__) || defined(__gfx950__) || \
    defined(__gfx90a__) || defined(__gfx908__) || defined(__gfx906__) || defined(__gfx900__)
inline constexpr int kWaveSize = 64;  // gfx9 (CDNA): wave64
#elif defined(__GFX10__) || defined(__GFX11__) || defined(__GFX12__)
#error "gpu_vendor.h: RDNA targets (wave32 by default) are not supported by this project"
#else
#error "gpu_vendor.h: unknown AMD target; add its wave size here"
#endif
#else
inline constexpr int kWaveSize = 64;  // host pass of the AMD flavour: the project targets gfx9 only
#endif
#endif
}  // namespace mlaps::gpu

// ---------------------------------------------------------------------------------------------------------
// CUDA mapping of the HIP runtime names.
#if MLAPS_GPU_CUDA
using hipError_t = cudaError_t;
using hipStream_t = cudaStream_t;
using hipEvent_t = cudaEvent_t;
using hipDeviceProp_t = cudaDeviceProp;
using hipMemcpyKind = cudaMemcpyKind;
using hipFuncAttribute = cudaFuncAttribute;

#define hipSuccess cudaSuccess
#define hipErrorNoDevice cudaErrorNoDevice
#define hipMemcpyHostToDevice cudaMemcpyHostToDevice
#define hipMemcpyDeviceToHost cudaMemcpyDeviceToHost
#define hipMemcpyDeviceToDevice cudaMemcpyDeviceToDevice
#define hipFuncAttributeMaxDynamicSharedMemorySize cudaFuncAttributeMaxDynamicSharedMemorySize

#define hipGetErrorName cudaGetErrorName
#define hipGetErrorString cudaGetErrorString
#define hipGetLastError cudaGetLastError
#define hipPeekAtLastError cudaPeekAtLastError
#define hipGetDeviceCount cudaGetDeviceCount
#define hipGetDevice cudaGetDevice
#define hipSetDevice cudaSetDevice
#define hipGetDeviceProperties cudaGetDeviceProperties
#define hipDeviceSynchronize cudaDeviceSynchronize
#define hipMalloc cudaMalloc
#define hipFree cudaFree
#define hipMemcpy cudaMemcpy
#define hipMemcpyAsync cudaMemcpyAsync
#define hipMemset cudaMemset
#define hipMemsetAsync cudaMemsetAsync
#define hipStreamCreate cudaStreamCreate
#define hipStreamDestroy cudaStreamDestroy
#define hipStreamSynchronize cudaStreamSynchronize
#define hipEventCreate cudaEventCreate
#define hipEventDestroy cudaEventDestroy
#define hipEventRecord cudaEventRecord
#define hipEventSynchronize cudaEventSynchronize
#define hipEventElapsedTime cudaEventElapsedTime
#define hipFuncSetAttribute(fn, attr, value) cudaFuncSetAttribute(fn, attr, value)

// hipLaunchKernelGGL(kernel, grid, block, shared_bytes, stream, args...) -> kernel<<<...>>>(args...)
#define hipLaunchKernelGGL(kernel, grid, block, shmem, stream, ...) \
  kernel<<<(grid), (block), (shmem), (stream)>>>(__VA_ARGS__)
#endif  // MLAPS_GPU_CUDA

// ---------------------------------------------------------------------------------------------------------
// Device helpers with one spelling for both vendors.
#if defined(__CUDACC__) || defined(__HIPCC__) || defined(__HIP__)
namespace mlaps::gpu {

// Full-wave lane mask for shuffles. NVIDIA requires explicit masks (the mask-less forms are gone); AMD's
// __shfl_xor takes none.
__device__ inline float shfl_xor(float v, int lane_mask, int width) {
#if MLAPS_GPU_CUDA
  return __shfl_xor_sync(0xFFFFFFFFu, v, lane_mask, width);
#else
  return __shfl_xor(v, lane_mask, width);
#endif
}
__device__ inline int shfl_xor(int v, int lane_mask, int width) {
#if MLAPS_GPU_CUDA
  return __shfl_xor_sync(0xFFFFFFFFu, v, lane_mask, width);
#else
  return __shfl_xor(v, lane_mask, width);
#endif
}

// A device-wide clock for timing inside kernels: %globaltimer (ns) on NVIDIA, wall_clock64() on AMD (ticks
// at hipDeviceAttributeWallClockRate kHz; the host converts, see timer_ticks_per_us in launcher.hip).
__device__ inline uint64_t global_timer() {
#if MLAPS_GPU_CUDA
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
#elif defined(__HIP_DEVICE_COMPILE__)
  return static_cast<uint64_t>(wall_clock64());
#else
  return 0;  // the host pass of a __device__ function (HIP 5.2 declares wall_clock64 for the device only)
#endif
}

}  // namespace mlaps::gpu
#endif
