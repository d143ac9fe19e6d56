// `mlaps plan` and `mlaps check`.
#include <cstdio>
#include <iostream>

#include <fmt/format.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/inspect.h"
#include "cli/render.h"
#include "cost/profile.h"
#include "scheduler/dump.h"
#include "scheduler/error.h"
#include "scheduler/files.h"
#include "scheduler/limits.h"
#include "scheduler/plan_json.h"
#include "scheduler/sizing.h"
#include "scheduler/validate.h"
#include "scheduler/version.h"

namespace mlaps::cli {

namespace {

struct Loaded {
  Problem problem;
  Plan plan;
  std::optional<Capacity> dump_capacity;  // sizes found on disk, when read from a dump
  std::optional<DumpRecord> record;       // the dump's problem.json, when present
};

// Either plans the problem given as options, or reads a dump: its problem.json when present, the options
// given explicitly override it; what was neither recorded nor given is assumed and said on stderr.
Loaded load_or_plan(const ProblemArgs& a, const CLI::App& app) {
  Loaded l;
  if (a.from_dump()) {
    if (app.count("--qo-lens") || app.count("--kv-lens") || !a.problem_file.empty() || !a.workload.empty()) {
      throw InputError("--from-aiter-dump",
                       "cannot be combined with --qo-lens/--kv-lens/--problem/--workload");
    }
    LoadedDump d = load_dump(a.aiter_dump_dir, a.overrides(app));
    if (!d.notes.empty()) {
      std::fprintf(stderr, "mlaps: note: %s has no %s; assumed: %s\n", a.aiter_dump_dir.c_str(),
                   kDumpProblemFile, fmt::format("{}", fmt::join(d.notes, "; ")).c_str());
    }
    l.problem = std::move(d.problem);
    l.plan = std::move(d.plan);
    l.dump_capacity = d.capacity;
    l.record = std::move(d.record);
  } else {
    l.problem = a.problem(app);
    l.plan = make_plan(l.problem, a.parsed_policy());
  }
  return l;
}

// --max-kvlen / --batch-size when given: range-checked.
struct SizingOverrides {
  std::optional<int32_t> max_kvlen, batch_size;
};
SizingOverrides sizing_overrides(const CLI::App& app, int max_kvlen, int batch_size) {
  SizingOverrides s;
  if (app.count("--max-kvlen")) {
    check_range("--max-kvlen", max_kvlen, 1, INT32_MAX);
    s.max_kvlen = max_kvlen;
  }
  if (app.count("--batch-size")) {
    check_range("--batch-size", batch_size, 1, kMaxSequences);
    s.batch_size = batch_size;
  }
  return s;
}

// The buffers a plan must fit: --sizing's formula when given, else the policy's (policy_capacity).
Capacity capacity_for(const Problem& p, const std::string& sizing, Policy policy, const SizingOverrides& o) {
  SizingInputs in = SizingInputs::from_problem(p);
  if (o.max_kvlen) in.max_kvlen = *o.max_kvlen;
  if (o.batch_size) in.batch_size = *o.batch_size;
  const std::optional<SizingFormula> f =
      sizing.empty() ? std::nullopt : std::optional(parse_sizing_formula(sizing, "--sizing"));
  try {
    return f ? compute_capacity(in, *f) : policy_capacity(policy, in);
  } catch (const InputError& e) {
    if (!o.max_kvlen && !o.batch_size) throw;
    throw InputError("--max-kvlen/--batch-size", e.what() + e.field().size() + 2);
  }
}

// The plan's policy (a dump's may be unknown: then the default's).
Policy plan_policy(const Plan& plan) {
  return find_policy(plan.policy).value_or(default_policy());
}

}  // namespace

void add_plan_command(CLI::App& root, CommandRunner& runner) {
  auto* app =
      root.add_subcommand("plan", "schedule a problem: upstream's PS metadata (JSON, text table, SVG)");
  struct Opts {
    ProblemArgs a;
    std::string format = "text", svg, dump_out, sizing, profile = cost::kDefaultProfile;
    int max_kvlen = 0, batch_size = 0;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  o->a.add_to(*app, true);
  app->add_option("--format", o->format, "output: text | json")->capture_default_str();
  app->add_option("--profile", o->profile,
                  "text: each TG's modelled time on this cost profile (name or FILE.json)")
      ->capture_default_str();
  app->add_option("--svg", o->svg, "also draw the plan across thread groups into FILE.svg");
  app->add_option(
      "--write-aiter-dump", o->dump_out,
      "write the padded upstream buffers (*.bin) and problem.json into DIR, loadable by "
      "--load_metadata; only these files are written (a folder holding other files: see --force)");
  app->add_flag("--force", o->force,
                "write the dump into a folder that holds other files too (they are left untouched)");
  app->add_option("--sizing", o->sizing,
                  "buffer formula: legacy | pr3606 (default: the policy's, `mlaps policies`)");
  app->add_option("--max-kvlen", o->max_kvlen, "pr3606 sizing: static max_kvlen bound (default: problem's)");
  app->add_option("--batch-size", o->batch_size, "sizing: batch size B (default: problem's)");
  runner.on(app, [o, app]() -> int {
    if (o->format != "text" && o->format != "json") {
      throw InputError("--format", fmt::format("'{}' is not one of text, json", o->format));
    }
    const SizingOverrides so = sizing_overrides(*app, o->max_kvlen, o->batch_size);
    // Every output path is checked before anything is computed or written.
    auto outputs = [&](const Loaded* l, const Capacity* cap, SizingFormula f) {
      OutputSet out;
      if (!o->dump_out.empty()) {
        std::vector<DirFile> files;
        if (l) {
          const DumpRecord rec{l->problem, plan_policy(l->plan), f, so.max_kvlen, so.batch_size};
          files = aiter_dump_files(l->problem, l->plan, *cap, &rec);
        } else {
          for (const char* n : kDumpFiles) files.push_back({n, {}});
          files.push_back({kDumpProblemFile, {}});
        }
        out.add_dir("--write-aiter-dump", o->dump_out, std::move(files), o->force);
      }
      if (!o->svg.empty()) out.add_file("--svg", o->svg, Blob::copy(l ? plan_svg(l->problem, l->plan) : ""));
      return out;
    };
    outputs(nullptr, nullptr, SizingFormula::kPr3606).check();
    const Loaded l = load_or_plan(o->a, *app);
    // A plan read from outside is drawn only once its index arrays are safe to walk.
    if (o->a.from_dump()) require_safe_structure(l.plan, l.problem.num_cu, o->a.aiter_dump_dir);
    const Policy pol = plan_policy(l.plan);
    const SizingFormula f = !o->sizing.empty() ? parse_sizing_formula(o->sizing, "--sizing")
                            : l.record         ? l.record->sizing
                                               : pol.traits().sizing;
    const Capacity cap = l.dump_capacity ? *l.dump_capacity : capacity_for(l.problem, o->sizing, pol, so);
    // Produce every artefact before writing any, so a failure leaves nothing half-written.
    std::optional<cost::PlanCost> pc;
    if (o->format == "text") {
      const cost::CostProfile prof = cost::load_profile(o->profile);
      try {
        pc = cost::evaluate(l.problem, l.plan, prof);
      } catch (const InputError& e) {  // a dump whose plan does not fit its problem: table without times
        std::fprintf(stderr, "mlaps: note: no modelled TG times: %s\n", e.what());
      }
    }
    const std::string out = o->format == "json" ? plan_to_json_text(l.plan, cap, f) + "\n"
                                                : plan_text(l.problem, l.plan, cap, pc ? &*pc : nullptr);
    outputs(&l, &cap, f).commit();
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  });
}

void add_check_command(CLI::App& root, CommandRunner& runner) {
  auto* app = root.add_subcommand(
      "check", "validate a plan (made here or read from an upstream dump): every broken invariant, named");
  struct Opts {
    ProblemArgs a;
    std::string contract, sizing, format = "text";
    int max_kvlen = 0, batch_size = 0;
    int64_t max_violations = 100;
  };
  auto o = std::make_shared<Opts>();
  o->a.add_to(*app, true);
  app->add_option("--contract", o->contract,
                  "hold the plan to this policy's contract (" + policy_names(" | ") +
                      "; default: the #3606 contract, every tile has a reduce entry)");
  app->add_option("--sizing", o->sizing,
                  "buffer formula the plan must fit: legacy | pr3606 (default: the contract's policy's)");
  app->add_option("--max-kvlen", o->max_kvlen, "pr3606 sizing: static max_kvlen bound (default: problem's)");
  app->add_option("--batch-size", o->batch_size, "sizing: batch size B (default: problem's)");
  app->add_option("--format", o->format, "output: text | json")->capture_default_str();
  app->add_option("--max-violations", o->max_violations,
                  "list at most N violations (0: all); the counts per invariant and the exit status always "
                  "cover all of them")
      ->capture_default_str();
  runner.on(app, [o, app]() -> int {
    if (o->format != "text" && o->format != "json") {
      throw InputError("--format", fmt::format("'{}' is not one of text, json", o->format));
    }
    if (o->max_violations < 0) throw InputError("--max-violations", "must be >= 0 (0 lists all)");
    std::optional<Policy> contract;
    if (!o->contract.empty()) contract = policy_named(o->contract, "--contract");
    const SizingOverrides so = sizing_overrides(*app, o->max_kvlen, o->batch_size);
    const Loaded l = load_or_plan(o->a, *app);
    ValidateOptions vo;
    vo.contract = contract;
    vo.capacity = l.dump_capacity
                      ? *l.dump_capacity
                      : capacity_for(l.problem, o->sizing, contract.value_or(plan_policy(l.plan)), so);
    // The contracts that apply (validate.h): the execution contract always (with the pre-#3606 rules when
    // --contract names a legacy-reduce policy), upstream's shape when the policy claims it.
    const std::optional<Policy> own = find_policy(l.plan.policy);
    const bool shape = contract ? contract->traits().upstream_shape : own && own->traits().upstream_shape;
    const bool pre_fix = contract && contract->traits().reduce == ReduceVersion::kLegacy;
    std::string held = pre_fix ? "execution (pre-#3606 rules)"
                       : !l.problem.need_lse
                           ? "execution (#3606, need_lse = false: whole tiles may be direct)"
                           : "execution (#3606)";
    if (shape) held += " + upstream-shape";
    if (contract) held = fmt::format("{} ({})", contract->name(), held);
    const auto violations = validate(l.problem, l.plan, vo);
    const auto ledger = ledger_lookup(l.problem, l.plan, violations);
    // A broken plan of many tiles and heads can break one invariant hundreds of thousands of times: list the
    // first --max-violations, count them all.
    const size_t listed = o->max_violations == 0
                              ? violations.size()
                              : std::min(violations.size(), static_cast<size_t>(o->max_violations));
    if (o->format == "json") {
      nlohmann::json j;
      j["mlaps_version"] = std::string(kVersion);
      j["ok"] = violations.empty();
      j["policy"] = l.plan.policy;
      j["contract"] = contract ? nlohmann::json(std::string(contract->name())) : nlohmann::json(nullptr);
      j["contracts"] = nlohmann::json::array({contract_name(Contract::kExecution)});
      if (shape) j["contracts"].push_back(contract_name(Contract::kUpstreamShape));
      j["pre_3606_rules"] = pre_fix;
      j["need_lse"] = l.problem.need_lse;
      j["ledger"] = ledger.empty() ? nlohmann::json(nullptr) : nlohmann::json(ledger);
      j["violations_total"] = violations.size();
      auto& arr = j["violations"] = nlohmann::json::array();  // the first `listed`
      for (size_t i = 0; i < listed; ++i) {
        const Violation& v = violations[i];
        arr.push_back({{"invariant", v.invariant},
                       {"contract", contract_name(v.contract)},
                       {"detail", v.detail},
                       {"tg", v.tg},
                       {"head", v.head},
                       {"qo_start", v.qo_start},
                       {"qo_end", v.qo_end},
                       {"work", v.work}});
      }
      std::cout << j.dump(2) << "\n";
    } else {
      for (size_t i = 0; i < listed; ++i) std::cout << format_violation(violations[i]) << "\n";
      if (listed < violations.size()) {
        std::cout << fmt::format("... and {} more not listed (--max-violations 0 lists all)\n",
                                 violations.size() - listed);
      }
      std::map<std::string, int> counts;
      for (const auto& v : violations) counts[v.invariant]++;
      if (violations.empty()) {
        std::cout << fmt::format(
            "ok: policy {} plan holds every invariant of the {} contract ({} works, {} "
            "reduce entries)\n",
            l.plan.policy, held, l.plan.num_works(), l.plan.num_reduce_entries());
      } else {
        std::cout << fmt::format("\n{} violation(s) of the {} contract:", violations.size(), held);
        for (const auto& [k, n] : counts) std::cout << fmt::format(" {} x{};", k, n);
        std::cout << "\n";
      }
      if (!ledger.empty()) std::cout << "known upstream defect: " << ledger << "\n";
    }
    return violations.empty() ? 0 : 1;
  });
}

}  // namespace mlaps::cli
