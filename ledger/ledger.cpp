#include "ledger/ledger.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "scheduler/error.h"

namespace mlaps {

// Defined in the generated ledger_data.cpp (the contents of ledger/ledger.json).
extern const char* const kLedgerJsonText;

namespace {

using nlohmann::json;

SizingFormula parse_formula(const std::string& s) {
  if (s == "pr3606") return SizingFormula::kPr3606;
  if (s == "legacy") return SizingFormula::kLegacy;
  throw InputError("ledger.capacity", "must be \"pr3606\" or \"legacy\" (got \"" + s + "\")");
}

Plan parse_plan(const json& j, Policy policy) {
  Plan plan;
  plan.policy = std::string(policy.name());
  plan.reduce = policy.traits().reduce;
  plan.work_indptr = j.at("work_indptr").get<std::vector<int32_t>>();
  for (const auto& w : j.at("work_info")) {
    const auto v = w.get<std::vector<int32_t>>();
    if (v.size() != 8) throw InputError("ledger.plan.work_info", "each work needs 8 dwords");
    plan.work_info.push_back(WorkInfo{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]});
  }
  plan.reduce_indptr = j.at("reduce_indptr").get<std::vector<int32_t>>();
  for (const auto& f : j.at("reduce_final_map")) {
    const auto v = f.get<std::vector<int32_t>>();
    if (v.size() != 2) throw InputError("ledger.plan.reduce_final_map", "each entry needs 2 dwords");
    plan.reduce_final_map.push_back(FinalLoc{v[0], v[1]});
  }
  plan.reduce_partial_map = j.at("reduce_partial_map").get<std::vector<int32_t>>();
  return plan;
}

Capacity capacity_for(const LedgerCase& c) {
  return compute_capacity(SizingInputs::from_problem(c.problem), c.capacity);
}

using TileSet = std::set<std::pair<int32_t, int32_t>>;  // [qo_start, qo_end) of query tiles

bool in_tiles(const Violation& v, const TileSet& tiles) {
  return tiles.count({v.qo_start, v.qo_end}) != 0;
}

bool causal_qo_gt_kv(const Problem& p) {
  if (!p.causal) return false;
  for (int32_t b = 0; b < p.batch() && b + 1 < static_cast<int32_t>(p.qo_indptr.size()); ++b) {
    if (p.qo_len(b) > p.kv_len(b)) return true;
  }
  return false;
}

// Lazily computed facts about a problem that the recognisers need.
class ProblemFacts {
 public:
  explicit ProblemFacts(const Problem& p) : p_(p) {}

  const TileSet& trailing() {
    if (!trailing_) {
      trailing_.emplace();
      for (const QTile& t : predicted_unscheduled_tiles(p_)) trailing_->insert({t.qo_start, t.qo_end});
    }
    return *trailing_;
  }
  // Tiles a legacy plan finalises directly (a single whole piece with partial_o_loc = -1).
  const TileSet& legacy_direct_tiles() {
    if (!legacy_direct_) {
      legacy_direct_.emplace();
      try {
        const Plan plan = make_plan(p_, *upstream_policy(ReduceVersion::kLegacy));
        for (const WorkInfo& w : plan.work_info) {
          if (w.partial_o_loc == -1) legacy_direct_->insert({w.qo_start, w.qo_end});
        }
      } catch (const InputError&) {
      }
    }
    return *legacy_direct_;
  }
  // The aiter plan fits the PR #3606 buffers but overflows the pre-#3606 ones.
  bool fits_pr_not_legacy() {
    if (!fits_pr_not_legacy_) {
      fits_pr_not_legacy_ = false;
      try {
        const Plan plan = make_plan(p_, *upstream_policy(ReduceVersion::kFixed));
        const SizingInputs in = SizingInputs::from_problem(p_);
        const auto pr = capacity_overflows(plan, compute_capacity(in, SizingFormula::kPr3606), p_.tile_q);
        const auto old = capacity_overflows(plan, compute_capacity(in, SizingFormula::kLegacy), p_.tile_q);
        fits_pr_not_legacy_ = pr.empty() && !old.empty();
      } catch (const InputError&) {
      }
    }
    return *fits_pr_not_legacy_;
  }

 private:
  const Problem& p_;
  std::optional<TileSet> trailing_;
  std::optional<TileSet> legacy_direct_;
  std::optional<bool> fits_pr_not_legacy_;
};

// Does ledger entry `id` explain violation `v` of problem `p`? Each defect class is recognised from the
// problem, never from the violation alone.
bool explains(const std::string& id, const Violation& v, ProblemFacts& facts, const Problem& p) {
  if (id == "causal_qo_gt_kv") return causal_qo_gt_kv(p);  // garbage in upstream: any violation
  if (id == "trailing_empty_kv") {
    return v.invariant == inv::kTileCoverage && !causal_qo_gt_kv(p) && in_tiles(v, facts.trailing());
  }
  if (id == "legacy_minus1_fast_path") {
    const bool about_direct = v.invariant == inv::kReduceEntry || v.invariant == inv::kReducePartials ||
                              v.invariant == inv::kSlotPolicy;
    return about_direct && in_tiles(v, facts.legacy_direct_tiles());
  }
  if (id == "legacy_sizing_overflow") {
    return (v.invariant == inv::kBufferFit || v.invariant == inv::kSlotBounds) && facts.fits_pr_not_legacy();
  }
  return false;  // entries recorded only as exact cases (e.g. hand-made decode metadata)
}

}  // namespace

std::string_view ledger_json_text() {
  return kLedgerJsonText;
}

std::vector<LedgerEntry> parse_ledger(std::string_view text) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    throw InputError("ledger", std::string("not valid JSON: ") + e.what());
  }
  std::vector<LedgerEntry> out;
  try {
    for (const auto& e : doc.at("entries")) {
      LedgerEntry entry;
      entry.id = e.at("id").get<std::string>();
      entry.title = e.at("title").get<std::string>();
      entry.upstream = e.at("upstream").get<std::string>();
      entry.contract = e.value("contract", "");
      entry.status = e.value("status", "");
      entry.description = e.value("description", "");
      for (const auto& c : e.value("cases", json::array())) {
        LedgerCase lc;
        lc.name = c.at("name").get<std::string>();
        lc.problem = problem_from_json_text(c.at("problem").dump());
        lc.policy = policy_named(c.at("policy").get<std::string>(), "ledger.policy");
        lc.contract = policy_named(c.at("contract").get<std::string>(), "ledger.contract");
        lc.capacity = parse_formula(c.value("capacity", "pr3606"));
        if (c.contains("plan")) lc.plan = parse_plan(c.at("plan"), lc.policy);
        lc.expected = c.at("expected").get<std::map<std::string, int>>();
        if (c.contains("expected_tiles"))
          lc.expected_tiles = c.at("expected_tiles").get<std::map<std::string, int>>();
        lc.expect_reduce_leaves_output = c.value("expect_reduce_leaves_output", false);
        entry.cases.push_back(std::move(lc));
      }
      for (const auto& sh : e.value("shows", json::array())) {
        LedgerShow show;
        show.name = sh.at("name").get<std::string>();
        show.says = sh.at("says").get<std::string>();
        show.args = sh.value("args", std::vector<std::string>{});
        show.exit_code = sh.value("exit", 0);
        show.expect = sh.value("expect", std::vector<std::string>{});
        show.test = sh.value("test", "");
        const std::string where = "ledger." + entry.id + ".shows." + show.name;
        if (show.args.empty() == show.test.empty())
          throw InputError(where, "needs either args (an mlaps command line) or test (a test name)");
        if (!show.args.empty() && show.expect.empty())
          throw InputError(where, "a command needs the text it must print (expect)");
        entry.shows.push_back(std::move(show));
      }
      if (entry.cases.empty() && entry.shows.empty())
        throw InputError("ledger." + entry.id, "needs at least one case or show");
      out.push_back(std::move(entry));
    }
  } catch (const json::exception& e) {
    throw InputError("ledger", std::string("bad structure: ") + e.what());
  }
  return out;
}

const std::vector<LedgerEntry>& ledger() {
  static const std::vector<LedgerEntry> entries = parse_ledger(kLedgerJsonText);
  return entries;
}

const LedgerEntry* find_ledger_entry(std::string_view id) {
  for (const LedgerEntry& e : ledger()) {
    if (e.id == id) return &e;
  }
  return nullptr;
}

Plan ledger_case_plan(const LedgerCase& c) {
  return c.plan ? *c.plan : make_plan(c.problem, c.policy);
}

std::vector<Violation> run_ledger_case(const LedgerCase& c) {
  ValidateOptions opt;
  opt.contract = c.contract;
  opt.capacity = capacity_for(c);
  return validate(c.problem, ledger_case_plan(c), opt);
}

std::map<std::string, int> count_by_invariant(const std::vector<Violation>& v) {
  std::map<std::string, int> m;
  for (const Violation& x : v) ++m[x.invariant];
  return m;
}

std::map<std::string, int> count_tiles_by_invariant(const std::vector<Violation>& v) {
  std::map<std::string, std::set<std::pair<int32_t, int32_t>>> tiles;
  for (const Violation& x : v) {
    if (x.qo_start >= 0) tiles[x.invariant].insert({x.qo_start, x.qo_end});
  }
  std::map<std::string, int> m;
  for (const auto& [k, s] : tiles) m[k] = static_cast<int>(s.size());
  return m;
}

bool problems_equal(const Problem& a, const Problem& b) {
  return a.qo_indptr == b.qo_indptr && a.kv_indptr == b.kv_indptr && a.context_lens == b.context_lens &&
         a.num_heads_k == b.num_heads_k && a.gqa_ratio == b.gqa_ratio && a.block_size == b.block_size &&
         a.causal == b.causal && a.num_cu == b.num_cu && a.tile_q == b.tile_q && a.tile_kv == b.tile_kv &&
         a.allow_causal_qo_gt_kv == b.allow_causal_qo_gt_kv && a.need_lse == b.need_lse;
}

std::vector<QTile> predicted_unscheduled_tiles(const Problem& p) {
  std::vector<QTile> out;
  if (causal_qo_gt_kv(p)) return out;
  std::vector<QTile> tiles;
  try {
    tiles = make_query_tiles(p);
  } catch (const InputError&) {
    return out;
  }
  // Every TG's capacity sums to exactly the total block count, so the TG that consumes the last KV block
  // leaves no capacity anywhere: zero-KV tiles after it are never reached (contract 2.5.2).
  size_t last = 0;  // one past the last tile with KV blocks
  for (size_t i = 0; i < tiles.size(); ++i) {
    if (tiles[i].num_blocks > 0) last = i + 1;
  }
  out.assign(tiles.begin() + static_cast<std::ptrdiff_t>(last), tiles.end());
  return out;
}

std::optional<LedgerMatch> match_ledger(const Problem& p, const std::vector<Violation>& violations) {
  if (violations.empty()) return std::nullopt;
  const auto counts = count_by_invariant(violations);
  ProblemFacts facts(p);
  std::vector<bool> covered(violations.size(), false);
  std::optional<LedgerMatch> best;
  for (const LedgerEntry& e : ledger()) {
    LedgerMatch m{e.id, e.title, e.upstream, e.contract, "", false, 0, 0};
    for (const LedgerCase& c : e.cases) {
      if (problems_equal(c.problem, p) && c.expected == counts) {
        m.exact = true;
        m.case_name = c.name;
      }
    }
    for (size_t i = 0; i < violations.size(); ++i) {
      if (m.exact || explains(e.id, violations[i], facts, p)) {
        ++m.explained;
        covered[i] = true;
      }
    }
    if (m.exact) {
      best = m;
      break;
    }
    if (m.explained > 0 && (!best || m.explained > best->explained)) best = m;
  }
  if (!best) return std::nullopt;
  best->unexplained = static_cast<int>(std::count(covered.begin(), covered.end(), false));
  return best;
}

std::vector<Violation> unexplained_violations(const Problem& p, const std::vector<Violation>& violations) {
  std::vector<Violation> out;
  if (violations.empty()) return out;
  ProblemFacts facts(p);
  for (const Violation& v : violations) {
    bool known = false;
    for (const LedgerEntry& e : ledger()) {
      if (explains(e.id, v, facts, p)) {
        known = true;
        break;
      }
    }
    if (!known) out.push_back(v);
  }
  return out;
}

}  // namespace mlaps
