#pragma once
// Device profiles of the cost model (cost/model.h): JSON, every coefficient with where it came from.
// Built-in profiles are cost/profiles/*.json, embedded at build time; a user's profile is any file of the
// same form (`--profile FILE`).
//
// {"name": "...", "device": "...", "kernel": "...", "status": "derived|fitted|uncalibrated", "note": "...",
//  "date": "...", "slots": 256, "reduce_slots": 256, "rows_per_pass": 256, "row_quantum": 256,
//  "reduce_fill": true (optional, default false),
//  "coefficients": {"launch_us": {"value": 2.0, "source": "..."}, ... every coefficient of model.h ...},
//  "fit": {...}   (optional: the calibration's residuals and holdout check)}
#include <string>
#include <string_view>
#include <vector>

#include "cost/model.h"

namespace mlaps::cost {

// Parses and checks a profile (every coefficient present, finite and >= 0, with a non-empty source; the
// integer fields >= 1). Throws InputError naming `field_prefix` + the key.
CostProfile profile_from_json_text(const std::string& text, const std::string& field_prefix = "profile");
std::string profile_to_json_text(const CostProfile& prof);

// Built-in profile names, in a fixed order ("mi355x-asm", "h200-mlaps").
std::vector<std::string> builtin_profile_names();
// nullptr if unknown.
const CostProfile* find_builtin_profile(std::string_view name);
// A built-in name, or else a path to a JSON file (at most 1 MiB). Throws InputError("--profile", ...).
CostProfile load_profile(const std::string& name_or_file);
// The default profile's name (the MI355X the scheduler targets).
inline constexpr const char* kDefaultProfile = "mi355x-asm";

}  // namespace mlaps::cost
