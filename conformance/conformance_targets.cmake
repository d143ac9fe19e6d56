# The GPU conformance targets, shared by the project build (conformance/CMakeLists.txt) and the standalone
# device build (gpu/standalone/CMakeLists.txt). Expects: MLAPS_ROOT (repository root); targets mlaps_gpu
# (gpu/cmake/gpu_targets.cmake), mlaps_options, mlaps_scheduler, mlaps_sim, mlaps_workloads,
# nlohmann_json::nlohmann_json, CLI11::CLI11; optionally mlaps_reference with mlaps_bridge; MLAPS_BUILD_TESTS and GTest for the
# unit tests (the device ones skip themselves without a GPU).
set(_conf_dir ${MLAPS_ROOT}/conformance)

# The harness: suites of named problems, GPU vs emulator bit for bit, reports; and its one front end.
add_library(mlaps_conformance ${_conf_dir}/conformance.cpp ${_conf_dir}/front_end.cpp)
target_include_directories(mlaps_conformance PUBLIC ${MLAPS_ROOT})
target_link_libraries(mlaps_conformance PUBLIC mlaps_gpu mlaps_sim mlaps_scheduler mlaps_options
                                        PRIVATE mlaps_workloads nlohmann_json::nlohmann_json CLI11::CLI11)
if(TARGET mlaps_reference)
  # The float64 reference as a second, tolerance-based check of the GPU results.
  target_link_libraries(mlaps_conformance PRIVATE mlaps_reference mlaps_bridge)
  target_compile_definitions(mlaps_conformance PRIVATE MLAPS_CONFORMANCE_WITH_REFERENCE=1)
endif()
if(TARGET mlaps_cost)
  # The cost model's calibration run (mlaps-gpu-conformance --calibrate) links the cost library.
  target_sources(mlaps_conformance PRIVATE ${_conf_dir}/calibrate.cpp ${_conf_dir}/policy_timing.cpp)
  target_link_libraries(mlaps_conformance PRIVATE mlaps_cost fmt::fmt)
  target_compile_definitions(mlaps_conformance PRIVATE MLAPS_CONFORMANCE_WITH_COST=1)
endif()
add_executable(mlaps-gpu-conformance ${_conf_dir}/conformance_main.cpp)
target_link_libraries(mlaps-gpu-conformance PRIVATE mlaps_conformance mlaps_options)

if(MLAPS_BUILD_TESTS AND TARGET GTest::gtest_main)
  add_executable(mlaps_conformance_tests ${_conf_dir}/tests/gpu_conformance_test.cpp)
  target_link_libraries(mlaps_conformance_tests PRIVATE mlaps_conformance mlaps_gpu mlaps_workloads mlaps_ledger
                                                mlaps_options GTest::gtest_main)
  if(TARGET mlaps_cost)
    target_link_libraries(mlaps_conformance_tests PRIVATE fmt::fmt)
    target_compile_definitions(mlaps_conformance_tests PRIVATE MLAPS_CONFORMANCE_WITH_COST=1)
  endif()
  gtest_discover_tests(mlaps_conformance_tests NO_PRETTY_VALUES DISCOVERY_TIMEOUT 60)
endif()
