#pragma once
// Input errors: every rejection names the field and the constraint it broke.
#include <stdexcept>
#include <string>

namespace mlaps {

class InputError : public std::runtime_error {
 public:
  InputError(std::string field, const std::string& constraint)
      : std::runtime_error(field + ": " + constraint), field_(std::move(field)) {}
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

}  // namespace mlaps
