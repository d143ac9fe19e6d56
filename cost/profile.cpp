#include "cost/profile.h"

#include <cmath>
#include <cstdint>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cost/plan_for.h"
#include "scheduler/error.h"
#include "scheduler/files.h"

namespace mlaps::cost {

// Defined in the generated profiles_data.cpp (the contents of cost/profiles/*.json).
extern const char* const kProfileMi355xAsm;
extern const char* const kProfileH200Mlaps;

namespace {

using nlohmann::json;

constexpr uint64_t kMaxProfileBytes = uint64_t{1} << 20;

std::string get_string(const json& j, const char* key, const std::string& prefix, bool required) {
  if (!j.contains(key)) {
    if (required) throw InputError(prefix + "." + key, "is missing");
    return "";
  }
  if (!j[key].is_string()) throw InputError(prefix + "." + key, "must be a string");
  return j[key].get<std::string>();
}

int32_t get_positive(const json& j, const char* key, const std::string& prefix) {
  if (!j.contains(key)) throw InputError(prefix + "." + key, "is missing");
  const json& v = j[key];
  if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > (int64_t{1} << 20)) {
    throw InputError(prefix + "." + key, "must be an integer in [1, 2^20]");
  }
  return static_cast<int32_t>(v.get<int64_t>());
}

struct Builtin {
  const char* name;
  const char* const* text;
};
constexpr Builtin kBuiltins[] = {{"mi355x-asm", &kProfileMi355xAsm}, {"h200-mlaps", &kProfileH200Mlaps}};

}  // namespace

CostProfile profile_from_json_text(const std::string& text, const std::string& prefix) {
  if (text.size() > kMaxProfileBytes) {
    throw InputError(prefix, "is larger than 1 MiB");
  }
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw InputError(prefix, std::string("is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw InputError(prefix, "must be a JSON object");
  CostProfile p;
  p.name = get_string(j, "name", prefix, true);
  if (p.name.empty()) throw InputError(prefix + ".name", "must not be empty");
  p.device = get_string(j, "device", prefix, true);
  p.kernel = get_string(j, "kernel", prefix, false);
  p.status = get_string(j, "status", prefix, true);
  if (p.status != "derived" && p.status != "fitted" && p.status != "uncalibrated") {
    throw InputError(prefix + ".status",
                     fmt::format("'{}' is not one of derived, fitted, uncalibrated", p.status));
  }
  p.note = get_string(j, "note", prefix, false);
  p.date = get_string(j, "date", prefix, false);
  p.slots = get_positive(j, "slots", prefix);
  p.reduce_slots = get_positive(j, "reduce_slots", prefix);
  p.rows_per_pass = get_positive(j, "rows_per_pass", prefix);
  p.row_quantum = get_positive(j, "row_quantum", prefix);
  if (j.contains("reduce_fill")) {
    if (!j["reduce_fill"].is_boolean()) throw InputError(prefix + ".reduce_fill", "must be true or false");
    p.reduce_fill = j["reduce_fill"].get<bool>();
  }
  if (!j.contains("coefficients") || !j["coefficients"].is_object()) {
    throw InputError(prefix + ".coefficients", "must be an object with every coefficient of cost/model.h");
  }
  const json& c = j["coefficients"];
  for (int k = 0; k < kNumCoeffs; ++k) {
    const std::string field = prefix + ".coefficients." + coeff_name(k);
    if (!c.contains(coeff_name(k))) throw InputError(field, "is missing");
    const json& e = c[coeff_name(k)];
    if (!e.is_object() || !e.contains("value") || !e["value"].is_number()) {
      throw InputError(field, "must be {\"value\": <number>, \"source\": \"<where it came from>\"}");
    }
    const double v = e["value"].get<double>();
    if (!std::isfinite(v) || v < 0) throw InputError(field + ".value", "must be finite and >= 0");
    if (!e.contains("source") || !e["source"].is_string() || e["source"].get<std::string>().empty()) {
      throw InputError(field + ".source", "must say where the value came from (non-empty string)");
    }
    p.c[k] = v;
    p.source[k] = e["source"].get<std::string>();
  }
  for (auto it = c.begin(); it != c.end(); ++it) {
    bool known = false;
    for (int k = 0; k < kNumCoeffs; ++k) known = known || it.key() == coeff_name(k);
    if (!known)
      throw InputError(prefix + ".coefficients." + it.key(), "is not a coefficient of cost/model.h");
  }
  if (j.contains("fit")) p.fit_json = j["fit"].dump();
  return p;
}

std::string profile_to_json_text(const CostProfile& p) {
  json j;
  j["name"] = p.name;
  j["device"] = p.device;
  j["kernel"] = p.kernel;
  j["status"] = p.status;
  j["note"] = p.note;
  j["date"] = p.date;
  j["slots"] = p.slots;
  j["reduce_slots"] = p.reduce_slots;
  j["rows_per_pass"] = p.rows_per_pass;
  j["row_quantum"] = p.row_quantum;
  j["reduce_fill"] = p.reduce_fill;
  json c = json::object();
  for (int k = 0; k < kNumCoeffs; ++k) c[coeff_name(k)] = {{"value", p.c[k]}, {"source", p.source[k]}};
  j["coefficients"] = std::move(c);
  if (!p.fit_json.empty()) j["fit"] = json::parse(p.fit_json);
  return j.dump(2) + "\n";
}

std::vector<std::string> builtin_profile_names() {
  std::vector<std::string> v;
  for (const Builtin& b : kBuiltins) v.emplace_back(b.name);
  return v;
}

const CostProfile* find_builtin_profile(std::string_view name) {
  static const std::vector<CostProfile> table = [] {
    std::vector<CostProfile> t;
    for (const Builtin& b : kBuiltins) t.push_back(profile_from_json_text(*b.text, std::string(b.name)));
    return t;
  }();
  for (const CostProfile& p : table) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

CostProfile load_profile(const std::string& name_or_file) {
  if (const CostProfile* p = find_builtin_profile(name_or_file)) return *p;
  std::error_code ec;
  if (!std::filesystem::exists(name_or_file, ec)) {
    std::string known;
    for (const auto& n : builtin_profile_names()) known += (known.empty() ? "" : ", ") + n;
    throw InputError(
        "--profile",
        fmt::format("'{}' is neither a built-in profile ({}) nor a readable JSON file", name_or_file, known));
  }
  // Bounded before reading (scheduler/files.h): a larger file, /dev/zero or a FIFO is refused naming
  // --profile.
  return profile_from_json_text(read_file_bounded("--profile", name_or_file, kMaxProfileBytes), "--profile");
}

PlanningCosts planning_costs(const CostProfile& prof) {
  PlanningCosts c;
  c.profile = prof.name;
  c.slots = prof.slots;
  c.tg_us = prof.c[kTg];
  c.rows_per_pass = prof.rows_per_pass;
  c.row_quantum = prof.row_quantum;
  c.item_us = prof.c[kItem];
  c.q_row_us = prof.c[kQRow];
  c.pass_us[0] = prof.c[kPassFull];
  c.pass_us[1] = prof.c[kPassMasked];
  c.pass_us[2] = prof.c[kPassEmpty];
  c.row_us[0] = prof.c[kRowFull];
  c.row_us[1] = prof.c[kRowMasked];
  c.row_us[2] = prof.c[kRowEmpty];
  c.write_partial_row_us = prof.c[kWritePartialRow];
  c.write_direct_row_us = prof.c[kWriteDirectRow];
  c.reduce_slots = prof.reduce_slots;
  c.reduce_fill = prof.reduce_fill;
  c.reduce_block_us = prof.c[kReduceBlock];
  c.reduce_simple_read_us = prof.c[kReduceSimpleRead];
  c.reduce_massive_read_us = prof.c[kReduceMassiveRead];
  c.reduce_write_row_us = prof.c[kReduceWriteRow];
  return c;
}

}  // namespace mlaps::cost
