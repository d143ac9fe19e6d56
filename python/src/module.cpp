// The _mlaps extension module: problems, plans (numpy views of upstream's arrays), validate, policies, the
// workload table, upstream's drop-ins (dropins.cpp) and the emulator / reference / comparison (run.cpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <fmt/format.h>

#include "arrays.h"
#include "bindings.h"
#include "cost/plan_for.h"
#include "cost/profile.h"
#include "cost/report.h"
#include "scheduler/dump.h"
#include "scheduler/plan_json.h"
#include "scheduler/policy.h"
#include "scheduler/sizing.h"
#include "scheduler/validate.h"
#include "scheduler/version.h"
#include "workloads/workloads.h"

namespace mlaps::py {

namespace pyb = pybind11;
using namespace pybind11::literals;

void throw_value_error(const InputError& e, const char* const (*rename)[2], int n) {
  std::string msg = e.what();
  for (int i = 0; i < n; ++i) {
    const std::string from = rename[i][0];
    if (msg.compare(0, from.size(), from) == 0 && msg.size() > from.size() &&
        (msg[from.size()] == ':' || msg[from.size()] == '[' || msg[from.size()] == '.')) {
      msg = rename[i][1] + msg.substr(from.size());
      break;
    }
  }
  throw ArgError(msg);
}

namespace {

// A numpy view of `n` rows of `cols` int32 at `data`, kept alive by `owner`.
pyb::array view_i32(const int32_t* data, size_t n, int cols, pyb::handle owner) {
  std::vector<pyb::ssize_t> shape{static_cast<pyb::ssize_t>(n)}, strides{4};
  if (n == 0)
    return pyb::array_t<int32_t>(cols > 1 ? std::vector<pyb::ssize_t>{0, cols}
                                          : std::vector<pyb::ssize_t>{0});
  if (cols > 1) {
    shape.push_back(cols);
    strides = {4 * cols, 4};
  }
  return pyb::array(pyb::dtype::of<int32_t>(), shape, strides, data, owner);
}

Policy policy_arg(const std::string& name) {
  try {
    return policy_named(name);
  } catch (const InputError& e) {
    throw_value_error(e);
  }
}

Capacity capacity_of(const Problem& p, SizingFormula f) {
  try {
    return compute_capacity(SizingInputs::from_problem(p), f);
  } catch (const InputError& e) {
    throw_value_error(e);
  }
}

SizingFormula sizing_arg(const std::optional<std::string>& s, Policy policy) {
  if (!s) return policy.traits().sizing;
  if (*s == "legacy") return SizingFormula::kLegacy;
  if (*s == "pr3606") return SizingFormula::kPr3606;
  throw ArgError(fmt::format("sizing: '{}' is not one of legacy, pr3606", *s));
}

PyPlan make_py_plan(const Problem& p, const std::string& policy) {
  const Policy pol = policy_arg(policy);
  try {
    return PyPlan{p, make_plan(p, pol)};
  } catch (const InputError& e) {
    throw_value_error(e);
  }
}

pyb::list validate_py(const Problem& p, const PyPlan& plan, const std::optional<std::string>& contract,
                      const std::optional<std::string>& sizing) {
  // As `mlaps check`: no contract = the execution contract (+ upstream's shape where the plan's policy
  // claims it); buffers = the contract's (or the plan's) policy's unless sizing names a formula.
  ValidateOptions vo;
  if (contract) vo.contract = policy_arg(*contract);
  if (sizing) {
    vo.capacity = capacity_of(
        p,
        sizing_arg(sizing, vo.contract.value_or(find_policy(plan.plan.policy).value_or(default_policy()))));
  }
  pyb::list out;
  for (const Violation& v : validate(p, plan.plan, vo)) {
    out.append(pyb::dict("invariant"_a = v.invariant, "detail"_a = v.detail, "tg"_a = v.tg, "head"_a = v.head,
                         "qo_start"_a = v.qo_start, "qo_end"_a = v.qo_end, "work"_a = v.work,
                         "contract"_a = contract_name(v.contract)));
  }
  return out;
}

// What a plan costs on a device profile: `mlaps cost --format json`'s keys. Without a plan, the problem is
// planned with `policy` as `mlaps cost` plans it (a cost-aware policy for the profile's terms).
pyb::object cost_py(const Problem& p, const PyPlan* plan, const std::string& policy,
                    const std::string& profile, bool tg_us) {
  constexpr const char* rename[][2] = {{"--profile", "profile"}};
  try {
    const cost::CostProfile prof = cost::load_profile(profile);
    cost::PlanCost c;
    if (plan) {
      c = cost::evaluate(p, plan->plan, prof);
    } else {
      const Policy pol = policy_arg(policy);
      const PlanningCosts pcosts = cost::planning_costs(prof);
      c = cost::evaluate(p, make_plan(p, pol, &pcosts), prof);
    }
    return pyb::module_::import("json").attr("loads")(cost::cost_json(c, tg_us).dump());
  } catch (const InputError& e) {
    throw_value_error(e, rename, 1);
  }
}

pyb::list policies_py() {
  // The policy table (scheduler/policy.h): the keys of `mlaps policies --format json`.
  pyb::list out;
  for (const PolicyDef& d : policies()) {
    out.append(pyb::dict("name"_a = std::string(d.name), "summary"_a = std::string(d.summary),
                         "upstream_shape"_a = d.traits.upstream_shape,
                         "reduce"_a = std::string(reduce_name(d.traits.reduce)),
                         "sizing"_a = std::string(sizing_name(d.traits.sizing)),
                         "need_lse"_a = std::string(lse_rule_name(d.traits.need_lse))));
  }
  return out;
}

pyb::dict workload_dict(const Workload& w) {
  return pyb::dict("name"_a = w.name, "description"_a = w.description, "problem"_a = w.problem,
                   "policy"_a = std::string(w.policy_hint.name()), "valid_for_aiter"_a = w.valid_for_aiter,
                   "ledger"_a = w.ledger_id, "small"_a = w.small);
}

}  // namespace

}  // namespace mlaps::py

PYBIND11_MODULE(_mlaps, m) {
  using namespace mlaps;
  using namespace mlaps::py;
  m.doc() = "mlaps: AITER's persistent-scheduled MLA prefill on the CPU (scheduler, emulator, reference)";
  m.attr("__version__") = std::string(kVersion);
  pyb::register_exception_translator([](std::exception_ptr ep) {
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const InputError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  pyb::class_<Problem>(m, "Problem",
                       "A scheduling problem (scheduler/problem.h): indptrs, heads, causal, CU count, tiles")
      .def(pyb::init<>())
      .def_static(
          "from_lengths",
          [](const std::vector<int32_t>& qo, const std::vector<int32_t>& kv, int32_t heads, bool causal,
             int32_t num_cu, int32_t gqa, int32_t block_size) {
            try {
              return Problem::from_lengths(qo, kv, heads, causal, num_cu, gqa, block_size);
            } catch (const InputError& e) {
              throw_value_error(e);
            }
          },
          "qo_lens"_a, "kv_lens"_a, "heads"_a = 1, "causal"_a = true, "num_cu"_a = 256, "gqa"_a = 1,
          "block_size"_a = 1)
      .def_static("from_json", &problem_from_json_text, "text"_a)
      .def("to_json", &problem_to_json_text)
      .def(
          "validate", [](const Problem& p) { validate_problem(p); },
          "raises ValueError naming the field for any input upstream cannot take")
      .def_readwrite("qo_indptr", &Problem::qo_indptr)
      .def_readwrite("kv_indptr", &Problem::kv_indptr)
      .def_readwrite("context_lens", &Problem::context_lens)
      .def_readwrite("num_heads_k", &Problem::num_heads_k)
      .def_readwrite("gqa_ratio", &Problem::gqa_ratio)
      .def_readwrite("block_size", &Problem::block_size)
      .def_readwrite("causal", &Problem::causal)
      .def_readwrite("num_cu", &Problem::num_cu)
      .def_readwrite("tile_q", &Problem::tile_q)
      .def_readwrite("tile_kv", &Problem::tile_kv)
      .def_readwrite("allow_causal_qo_gt_kv", &Problem::allow_causal_qo_gt_kv)
      .def_readwrite("need_lse", &Problem::need_lse)
      .def_property_readonly("batch", &Problem::batch)
      .def_property_readonly("num_heads_q", &Problem::num_heads_q)
      .def_property_readonly("num_tokens", &Problem::num_tokens)
      .def("__repr__", [](const Problem& p) { return "mlaps.Problem(" + problem_to_json_text(p) + ")"; });

  pyb::class_<PyPlan>(
      m, "Plan", "Upstream's PS metadata, trimmed to used lengths; the arrays are numpy views of the plan")
      .def_property_readonly("policy", [](const PyPlan& p) { return p.plan.policy; })
      .def_property_readonly("problem", [](const PyPlan& p) { return p.problem; })
      .def_property_readonly("work_indptr",
                             [](pyb::object self) {
                               const Plan& p = self.cast<const PyPlan&>().plan;
                               return view_i32(p.work_indptr.data(), p.work_indptr.size(), 1, self);
                             })
      .def_property_readonly("work_info",
                             [](pyb::object self) {
                               const Plan& p = self.cast<const PyPlan&>().plan;
                               return view_i32(reinterpret_cast<const int32_t*>(p.work_info.data()),
                                               p.work_info.size(), 8, self);
                             })
      .def_property_readonly("reduce_indptr",
                             [](pyb::object self) {
                               const Plan& p = self.cast<const PyPlan&>().plan;
                               return view_i32(p.reduce_indptr.data(), p.reduce_indptr.size(), 1, self);
                             })
      .def_property_readonly("reduce_final_map",
                             [](pyb::object self) {
                               const Plan& p = self.cast<const PyPlan&>().plan;
                               return view_i32(reinterpret_cast<const int32_t*>(p.reduce_final_map.data()),
                                               p.reduce_final_map.size(), 2, self);
                             })
      .def_property_readonly("reduce_partial_map",
                             [](pyb::object self) {
                               const Plan& p = self.cast<const PyPlan&>().plan;
                               return view_i32(p.reduce_partial_map.data(), p.reduce_partial_map.size(), 1,
                                               self);
                             })
      .def_property_readonly("num_works", [](const PyPlan& p) { return p.plan.num_works(); })
      .def_property_readonly("num_reduce_entries",
                             [](const PyPlan& p) { return p.plan.num_reduce_entries(); })
      .def(
          "to_json",
          [](const PyPlan& p, const std::optional<std::string>& sizing, int indent) {
            const SizingFormula f = sizing_arg(sizing, find_policy(p.plan.policy).value_or(default_policy()));
            return plan_to_json_text(p.plan, capacity_of(p.problem, f), f, indent);
          },
          "sizing"_a = pyb::none(), "indent"_a = -1,
          "the JSON of `mlaps plan --format json` (capacity by the policy's formula unless sizing is given)")
      .def("__repr__", [](const PyPlan& p) {
        return fmt::format("mlaps.Plan(policy={}, works={}, reduce_entries={}, partials={})", p.plan.policy,
                           p.plan.num_works(), p.plan.num_reduce_entries(), p.plan.reduce_partial_map.size());
      });

  m.def("plan", &make_py_plan, "problem"_a, "policy"_a = std::string(default_policy().name()),
        "schedule a problem (make_plan) with a policy of the table (`policies()`)");
  m.def("validate", &validate_py, "problem"_a, "plan"_a, "contract"_a = pyb::none(), "sizing"_a = pyb::none(),
        "every broken invariant as a dict with `mlaps check --format json`'s fields (invariant, contract, "
        "detail, tg, head, qo_start, qo_end, work); empty when the plan holds the contract (None: as `mlaps "
        "check` without --contract)");
  m.def(
      "cost", &cost_py, "problem"_a, "plan"_a = pyb::none(), pyb::kw_only(),
      "policy"_a = std::string(default_policy().name()), "profile"_a = std::string(cost::kDefaultProfile),
      "tg_us"_a = true,
      "what a plan costs on a device profile (a built-in name or a JSON file), as a dict with `mlaps cost "
      "--format json`'s keys (tg_us: one value per TG); without a plan, the problem is planned with `policy` "
      "for that profile, as `mlaps cost` does");
  m.def("policies", &policies_py,
        "the policy table, as `mlaps policies --format json`: name, summary, upstream_shape, reduce, sizing, "
        "need_lse");
  m.def(
      "workloads",
      [] {
        pyb::list out;
        for (const Workload& w : workloads()) out.append(workload_dict(w));
        return out;
      },
      "the named workload table (`mlaps workloads`), one dict per workload with its Problem");
  m.def(
      "workload",
      [](const std::string& name) {
        try {
          return workload(name).problem;
        } catch (const InputError& e) {
          throw_value_error(e);
        }
      },
      "name"_a, "the Problem of a named workload");
  m.def(
      "read_aiter_dump",
      [](const std::string& dir, int32_t heads, bool causal) {
        try {
          AiterDump d = read_aiter_dump(dir);
          d.problem.causal = causal;
          if (heads > 0) d.problem.num_heads_k = heads;
          return PyPlan{d.problem, d.plan};
        } catch (const InputError& e) {
          throw_value_error(e);
        }
      },
      "dir"_a, "heads"_a = 0, "causal"_a = true,
      "a plan read from upstream's metadata dump (--dump_metadata); .problem holds its problem");

  add_dropins(m);
  add_run(m);
}
