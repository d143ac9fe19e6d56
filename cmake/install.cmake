# `cmake --install`: the four libraries and their headers, the `mlaps` command, the Python module
# (python/CMakeLists.txt) and the CMake package (mlapsConfig.cmake, mlapsConfigVersion.cmake, the exported
# targets mlaps::scheduler, mlaps::sim, mlaps::reference, mlaps::bridge). Headers keep their in-tree paths under
# include/mlaps, so consumers write #include "scheduler/plan.h" as the project does.
include(CMakePackageConfigHelpers)

set(MLAPS_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/mlaps CACHE STRING
    "where the mlaps CMake package goes, relative to the prefix")

install(TARGETS mlaps_scheduler mlaps_sim mlaps_reference mlaps_bridge EXPORT mlapsTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/mlaps)
install(TARGETS mlaps RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(_dir scheduler sim reference bridge)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${_dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/mlaps/${_dir}
          FILES_MATCHING PATTERN "*.h" PATTERN "tests" EXCLUDE)
endforeach()
install(FILES ${PROJECT_BINARY_DIR}/generated/scheduler/version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/mlaps/scheduler)
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE ${PROJECT_SOURCE_DIR}/CHANGELOG.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/mlaps)

install(EXPORT mlapsTargets NAMESPACE mlaps:: DESTINATION ${MLAPS_INSTALL_CMAKEDIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/mlapsConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/mlapsConfig.cmake INSTALL_DESTINATION ${MLAPS_INSTALL_CMAKEDIR})
# 0.x: a new minor version may break the API, so a request for 0.2 accepts 0.2.* only.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/mlapsConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/mlapsConfig.cmake ${PROJECT_BINARY_DIR}/mlapsConfigVersion.cmake
        DESTINATION ${MLAPS_INSTALL_CMAKEDIR})

# The package test: install into a fresh prefix, build cmake/consumer against it, run a plan through it.
# (Not under the sanitizers: the installed libraries would need the sanitizer runtime in the consumer.)
# The settings of this build, for `cmake -DWORK_DIR=<empty or new dir> -P <build>/package-test.cmake` (ctest
# and .ci/run, which installs into a fresh temporary prefix).
file(GENERATE OUTPUT ${PROJECT_BINARY_DIR}/package-test.cmake CONTENT
"set(BUILD_DIR [[${PROJECT_BINARY_DIR}]])
set(SOURCE_DIR [[${PROJECT_SOURCE_DIR}]])
set(VERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
set(Python3_EXECUTABLE [[${Python3_EXECUTABLE}]])
set(PYTHON_DIR [[${MLAPS_PYTHON_INSTALL_DIR}]])
set(CXX [[${CMAKE_CXX_COMPILER}]])
set(GENERATOR [[${CMAKE_GENERATOR}]])
include([[${PROJECT_SOURCE_DIR}/cmake/package_test.cmake]])
")
if(MLAPS_BUILD_TESTS AND NOT MLAPS_SANITIZE)
  add_test(NAME package_consumer
           COMMAND ${CMAKE_COMMAND} -DWORK_DIR=${PROJECT_BINARY_DIR}/package-test
                   -P ${PROJECT_BINARY_DIR}/package-test.cmake)
  set_tests_properties(package_consumer PROPERTIES LABELS package TIMEOUT 300 RUN_SERIAL TRUE)
endif()
