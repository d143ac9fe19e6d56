"""Zero-copy views of array arguments that are not numpy arrays (the C++ side takes numpy arrays directly).

torch CPU tensors come through DLPack (or, for arrays the module writes, through ``__array__``, since
numpy < 2.1 imports DLPack read-only); anything with the buffer protocol through ``memoryview``. A copy is
never made: where only a copy would do, a ValueError names the argument.
"""
import numpy as np

_KDLCPU = 1  # DLPack device type of host memory


def as_array(name, obj, writable):
    if isinstance(obj, np.ndarray):
        return obj
    if hasattr(obj, "__dlpack__"):
        if hasattr(obj, "__dlpack_device__"):
            dev = obj.__dlpack_device__()
            if int(dev[0]) != _KDLCPU:
                raise ValueError(f"{name}: must be in host memory (device {tuple(dev)}); mlaps plans on the "
                                 "CPU and never queries a device: pass tensor.cpu()")
        try:
            arr = np.from_dlpack(obj)
        except (TypeError, BufferError, RuntimeError, ValueError) as e:
            raise ValueError(f"{name}: cannot be viewed without a copy ({e})") from None
        if writable and not arr.flags.writeable:
            try:
                alt = np.asarray(obj)
            except (TypeError, RuntimeError, ValueError) as e:
                raise ValueError(f"{name}: cannot be written in place ({e})") from None
            if (alt.__array_interface__["data"][0] != arr.__array_interface__["data"][0]
                    or alt.shape != arr.shape or alt.strides != arr.strides):
                raise ValueError(f"{name}: cannot be written in place without a copy")
            arr = alt
        return arr
    try:
        view = memoryview(obj)
    except TypeError:
        raise ValueError(f"{name}: must be a numpy array, a CPU tensor or an object with the buffer protocol "
                         f"(got {type(obj).__name__})") from None
    return np.asarray(view)
