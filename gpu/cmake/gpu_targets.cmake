# The GPU targets, shared by the project build (gpu/CMakeLists.txt) and the standalone device build
# (gpu/standalone/CMakeLists.txt). Expects: MLAPS_GPU_FLAVOUR (CUDA or HIP), MLAPS_ROOT (repository root),
# targets mlaps_options, mlaps_scheduler, mlaps_sim. The conformance harness that runs these targets against
# the emulator is conformance/conformance_targets.cmake.
set(_gpu_dir ${MLAPS_ROOT}/gpu)
set(_gpu_kernel_sources ${_gpu_dir}/prefill.hip ${_gpu_dir}/reduce.hip ${_gpu_dir}/launcher.hip)

if(MLAPS_GPU_FLAVOUR STREQUAL "CUDA")
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
    set(CMAKE_CUDA_ARCHITECTURES 90 CACHE STRING "CUDA architectures of the GPU backend" FORCE)
  endif()
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 20)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)  # CMake 3.25 predates nvcc 13's C++20 support
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
  endif()
  # .hip sources are CUDA for nvcc: the language property makes CMake pass `-x cu`.
  set_source_files_properties(${_gpu_kernel_sources} PROPERTIES LANGUAGE CUDA)
  # Bit-faithful numerics: no contraction of a*b+c into fma (the model calls fma explicitly); IEEE division
  # and denormals are nvcc's defaults (no --use_fast_math).
  set(_gpu_flags --fmad=false -prec-div=true -ftz=false)
  set(_gpu_lang CUDA)
else()
  if(NOT DEFINED CMAKE_HIP_ARCHITECTURES OR CMAKE_HIP_ARCHITECTURES STREQUAL "")
    set(CMAKE_HIP_ARCHITECTURES "gfx942;gfx950" CACHE STRING "HIP architectures of the GPU backend" FORCE)
  endif()
  enable_language(HIP)
  set(CMAKE_HIP_STANDARD 20)
  set(CMAKE_HIP_STANDARD_REQUIRED ON)
  set_source_files_properties(${_gpu_kernel_sources} PROPERTIES LANGUAGE HIP)
  set(_gpu_flags -ffp-contract=off -fno-fast-math)
  set(_gpu_lang HIP)
endif()

add_library(mlaps_gpu ${_gpu_kernel_sources})
target_include_directories(mlaps_gpu PUBLIC ${MLAPS_ROOT})
target_compile_options(mlaps_gpu PRIVATE $<$<COMPILE_LANGUAGE:${_gpu_lang}>:${_gpu_flags}>)
target_link_libraries(mlaps_gpu PUBLIC mlaps_sim mlaps_scheduler)
if(MLAPS_GPU_FLAVOUR STREQUAL "CUDA")
  find_package(CUDAToolkit REQUIRED)
  target_link_libraries(mlaps_gpu PUBLIC CUDA::cudart)
  set_target_properties(mlaps_gpu PROPERTIES CUDA_RUNTIME_LIBRARY Shared)
else()
  find_package(hip CONFIG REQUIRED)
  target_link_libraries(mlaps_gpu PUBLIC hip::host)
endif()

# Vendor code-object loader: AMD only (hipModuleLoad / hipModuleLaunchKernel on gfx950 .co files).
if(MLAPS_GPU_FLAVOUR STREQUAL "HIP")
  set_source_files_properties(${_gpu_dir}/vendor_loader/vendor_loader.hip PROPERTIES LANGUAGE HIP)
  add_executable(mlaps-vendor-loader ${_gpu_dir}/vendor_loader/vendor_loader.hip)
  target_link_libraries(mlaps-vendor-loader PRIVATE mlaps_gpu mlaps_sim mlaps_scheduler)
endif()
