#include "arrays.h"

#include <fmt/format.h>

#include <limits>

namespace mlaps::py {

pyb::array as_array(const char* name, pyb::handle obj, bool writable) {
  if (pyb::isinstance<pyb::array>(obj)) return pyb::reinterpret_borrow<pyb::array>(obj);
  // Never destroyed: a static pyb::object would be released after the interpreter has finalized (a crash at
  // exit under Python 3.12). Called with the GIL held, so the one-time initialisation is not raced.
  static const pyb::object* convert = new pyb::object(pyb::module_::import("mlaps._arrays").attr("as_array"));
  return pyb::reinterpret_steal<pyb::array>((*convert)(name, obj, writable).release());
}

namespace {

std::string dtype_name(const pyb::array& a) {
  return pyb::str(a.dtype()).cast<std::string>();
}

std::string want_dtype(char kind, int itemsize) {
  return fmt::format("{}{}", kind == 'f' ? "float" : (kind == 'i' ? "int" : "uint"), itemsize * 8);
}

std::string shape_text(const pyb::array& a) {
  std::string s = "(";
  for (pyb::ssize_t d = 0; d < a.ndim(); ++d) s += fmt::format("{}{}", d ? ", " : "", a.shape(d));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

std::string want_shape(std::span<const int64_t> shape) {
  std::string s = "(";
  int d = 0;
  for (int64_t e : shape) s += (d++ ? ", " : "") + (e < 0 ? std::string("N") : std::to_string(e));
  return s + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

void* check_array(const char* name, const pyb::array& a, char kind, int itemsize,
                  std::span<const int64_t> shape, bool writable) {
  // dtype's public accessors: the descriptor's layout differs between numpy 1 and 2 (pybind11 >= 2.12).
  const pyb::dtype dt = a.dtype();
  if (dt.kind() != kind || dt.itemsize() != itemsize || dt.byteorder() == '>') {
    throw ArgError(fmt::format("{}: dtype {} must be {}", name, dtype_name(a), want_dtype(kind, itemsize)));
  }
  bool shape_ok = a.ndim() == static_cast<pyb::ssize_t>(shape.size());
  int d = 0;
  for (int64_t e : shape) {
    if (!shape_ok) break;
    shape_ok = e < 0 || a.shape(d) == e;
    ++d;
  }
  if (!shape_ok) {
    throw ArgError(fmt::format("{}: shape {} must be {}", name, shape_text(a), want_shape(shape)));
  }
  // C-contiguous (upstream asks stride 1 of its indptrs; the kernels read rows of 8 / 2 dwords).
  pyb::ssize_t stride = itemsize;
  for (pyb::ssize_t k = a.ndim() - 1; k >= 0; --k) {
    if (a.shape(k) > 1 && a.strides(k) != stride) {
      throw ArgError(
          fmt::format("{}: strides must be C-contiguous (dimension {} has stride {} bytes, "
                      "expected {})",
                      name, k, a.strides(k), stride));
    }
    stride *= a.shape(k);
  }
  if (!(a.flags() & pyb::detail::npy_api::NPY_ARRAY_ALIGNED_)) {
    throw ArgError(fmt::format("{}: data must be aligned to {} bytes", name, itemsize));
  }
  if (writable && !a.writeable()) throw ArgError(fmt::format("{}: must be writable", name));
  return const_cast<void*>(a.data());
}

int32_t int_arg(const char* name, int64_t v, int64_t lo) {
  if (v < lo || v > std::numeric_limits<int32_t>::max()) {
    throw ArgError(
        fmt::format("{}: must be in [{}, {}] (got {})", name, lo, std::numeric_limits<int32_t>::max(), v));
  }
  return static_cast<int32_t>(v);
}

}  // namespace mlaps::py
