#pragma once
// The pieces of the _mlaps extension module, registered by module.cpp.
#include <pybind11/pybind11.h>

#include <string>

#include "scheduler/error.h"
#include "scheduler/plan.h"
#include "scheduler/problem.h"

namespace mlaps::py {

// A plan with the problem it was made for (Plan.to_json needs the problem's sizing).
struct PyPlan {
  Problem problem;
  Plan plan;
};

void add_dropins(pybind11::module_& m);  // get_ps_metadata_info_v1, get_ps_metadata_v1
void add_run(pybind11::module_& m);      // emulate, reference, compare, isa_path, per_tensor_quant

// Rethrows an InputError as a ValueError whose field is renamed through `rename` (upstream's argument names).
[[noreturn]] void throw_value_error(const InputError& e, const char* const (*rename)[2] = nullptr, int n = 0);

}  // namespace mlaps::py
