#pragma once
// Argument checks for arrays passed from Python: dtype, shape, contiguity, alignment and writability, each
// failure a ValueError naming the argument, raised before anything is written.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

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
// `writable`. Returns the data pointer. Allocates nothing unless it throws (the drop-in's per-call cost).
void* check_array(const char* name, const pyb::array& a, char kind, int itemsize,
                  std::span<const int64_t> shape, bool writable);

template <typename T>
constexpr char kind_of() {
  return std::is_floating_point_v<T> ? 'f' : (std::is_signed_v<T> ? 'i' : 'u');
}

// A checked array argument: the view (kept alive while `data` is used) and its data pointer.
template <typename T>
struct ArrayArg {
  pyb::array array;
  T* data;
  int64_t extent(int d) const { return static_cast<int64_t>(array.shape(d)); }
  int64_t size() const { return static_cast<int64_t>(array.size()); }
};

// as_array + check_array for element type T.
template <typename T>
ArrayArg<T> array_arg(const char* name, pyb::handle obj, std::initializer_list<int64_t> shape,
                      bool writable) {
  pyb::array a = as_array(name, obj, writable);
  T* p =
      static_cast<T*>(check_array(name, a, kind_of<T>(), sizeof(T), {shape.begin(), shape.size()}, writable));
  return {std::move(a), p};
}

// An int argument that must fit int32 and be >= lo.
int32_t int_arg(const char* name, int64_t v, int64_t lo);

}  // namespace mlaps::py
