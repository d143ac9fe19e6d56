#pragma once
// Argument checks for arrays passed from Python: dtype, shape, contiguity, alignment and writability, each
// failure a ValueError naming the argument, raised before anything is written.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace mlaps::py {

namespace pyb = pybind11;

// The value error type raised for every bad argument (a std::exception pybind11 maps to ValueError).
struct ArgError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// A numpy view of `obj`: the object itself when it is a numpy array, else a zero-copy view made by
// mlaps._arrays.as_array (torch CPU tensors through DLPack, buffer-protocol objects). Never a copy.
pyb::array as_array(const char* name, pyb::handle obj, bool writable);

// Checks `a` against dtype (kind 'i' / 'u' / 'f', itemsize), shape (-1: any extent) and C-contiguity, and
// `writable`. Returns the data pointer.
void* check_array(const char* name, const pyb::array& a, char kind, int itemsize,
                  const std::vector<int64_t>& shape, bool writable);

template <typename T>
constexpr char kind_of() {
  return std::is_floating_point_v<T> ? 'f' : (std::is_signed_v<T> ? 'i' : 'u');
}

// as_array + check_array for element type T.
template <typename T>
T* array_arg(const char* name, pyb::handle obj, std::initializer_list<int64_t> shape, bool writable,
             pyb::array* keep = nullptr) {
  pyb::array a = as_array(name, obj, writable);
  T* p = static_cast<T*>(check_array(name, a, kind_of<T>(), sizeof(T), shape, writable));
  if (keep) *keep = std::move(a);
  return p;
}

// Extent of dimension d of an array already checked.
inline int64_t extent(const pyb::array& a, int d) {
  return static_cast<int64_t>(a.shape(d));
}

// An int argument that must fit int32 and be >= lo.
int32_t int_arg(const char* name, int64_t v, int64_t lo);

}  // namespace mlaps::py
