# The per-ISA flags of the fast prefill's translation units (sim/prefill_{generic,avx2,avx512}.cpp), in one
# place for the main build (sim/CMakeLists.txt) and the fuzz build (proptests/fuzz/CMakeLists.txt).
#
#   mlaps_isa_units(<result-var> <sim-dir>)
#
# On x86-64 with a compiler that takes the flags: sets each unit's COMPILE_OPTIONS (each names its instruction
# set in full, so with -march=native too the AVX2 unit holds no AVX-512 and the generic one no AVX) and sets
# <result-var> to ON; the caller then compiles all three units and defines MLAPS_ISA_UNITS_X86=1 for them and
# for the dispatcher (sim/emulate.cpp), and sets <result-var>_AVX2_FLAGS to the AVX2 unit's flags (the
# test-only keys-in-lanes unit, sim/tests/CMakeLists.txt, builds with them). Elsewhere <result-var> is OFF:
# the generic unit only.
include_guard(GLOBAL)
include(CheckCXXCompilerFlag)
function(mlaps_isa_units result_var sim_dir)
  set(${result_var} OFF PARENT_SCOPE)
  if(NOT CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
    return()
  endif()
  set(_avx2 -mavx2 -mfma -mf16c -mno-avx512f)
  set(_avx512 -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c -mprefer-vector-width=512)
  string(REPLACE ";" " " _probe "-mno-avx ${_avx2} ${_avx512}")
  check_cxx_compiler_flag("${_probe}" MLAPS_HAS_ISA_FLAGS)
  if(NOT MLAPS_HAS_ISA_FLAGS)
    return()
  endif()
  set_source_files_properties(${sim_dir}/prefill_generic.cpp PROPERTIES COMPILE_OPTIONS "-mno-avx")
  set_source_files_properties(${sim_dir}/prefill_avx2.cpp PROPERTIES COMPILE_OPTIONS "${_avx2}")
  set_source_files_properties(${sim_dir}/prefill_avx512.cpp PROPERTIES COMPILE_OPTIONS "${_avx512}")
  set(${result_var} ON PARENT_SCOPE)
  set(${result_var}_AVX2_FLAGS "${_avx2}" PARENT_SCOPE)
endfunction()
