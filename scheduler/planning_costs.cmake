# The default profile's planning terms (scheduler/planning_costs.h, default_planning_costs()), read from its JSON so that the
# profile file stays their one home.
# Shared by scheduler/CMakeLists.txt, the standalone GPU build (gpu/standalone) and the fuzz build: writes
# OUT_DIR/scheduler/default_planning_costs.h from ROOT/cost/profiles/mi355x-asm.json.
function(mlaps_default_planning_costs root out_dir)
  set(MLAPS_PC_FILE ${root}/cost/profiles/mi355x-asm.json)
  file(READ ${MLAPS_PC_FILE} _pc_json)
  string(JSON MLAPS_PC_name GET "${_pc_json}" name)
  foreach(_k slots rows_per_pass row_quantum reduce_slots)
    string(JSON MLAPS_PC_${_k} GET "${_pc_json}" ${_k})
  endforeach()
  string(JSON MLAPS_PC_reduce_fill ERROR_VARIABLE _pc_no_fill GET "${_pc_json}" reduce_fill)
  if(_pc_no_fill)
    set(MLAPS_PC_reduce_fill false)
  elseif(MLAPS_PC_reduce_fill)
    set(MLAPS_PC_reduce_fill true)
  else()
    set(MLAPS_PC_reduce_fill false)
  endif()
  foreach(_k tg_us item_us q_row_us pass_full_us pass_masked_us pass_empty_us row_full_us row_masked_us row_empty_us
          write_partial_row_us write_direct_row_us reduce_block_us reduce_simple_read_us reduce_massive_read_us
          reduce_write_row_us)
    string(JSON MLAPS_PC_${_k} GET "${_pc_json}" coefficients ${_k} value)
  endforeach()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${MLAPS_PC_FILE})
  configure_file(${root}/scheduler/default_planning_costs.h.in ${out_dir}/scheduler/default_planning_costs.h @ONLY)
endfunction()
