# Embeds cost/profiles/*.json into ${CMAKE_CURRENT_BINARY_DIR}/profiles_data.cpp (shared by cost/CMakeLists.txt
# and gpu/standalone). Expects MLAPS_ROOT or PROJECT_SOURCE_DIR; sets MLAPS_COST_PROFILES_CPP.
if(NOT MLAPS_ROOT)
  set(MLAPS_ROOT ${PROJECT_SOURCE_DIR})
endif()
set(_cost_dir ${MLAPS_ROOT}/cost)
file(READ ${_cost_dir}/profiles/mi355x-asm.json MLAPS_PROFILE_MI355X_ASM)
file(READ ${_cost_dir}/profiles/h200-mlaps.json MLAPS_PROFILE_H200_MLAPS)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  ${_cost_dir}/profiles/mi355x-asm.json ${_cost_dir}/profiles/h200-mlaps.json)
set(MLAPS_COST_PROFILES_CPP ${CMAKE_CURRENT_BINARY_DIR}/profiles_data.cpp)
configure_file(${_cost_dir}/profiles_data.cpp.in ${MLAPS_COST_PROFILES_CPP} @ONLY)
set(MLAPS_COST_SOURCES ${_cost_dir}/model.cpp ${_cost_dir}/profile.cpp ${_cost_dir}/fit.cpp ${_cost_dir}/fit_report.cpp ${_cost_dir}/report.cpp
  ${MLAPS_COST_PROFILES_CPP})
