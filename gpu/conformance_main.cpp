// mlaps-gpu-conformance: the GPU conformance suite as a standalone program (see gpu/conformance.h).
#include "gpu/conformance.h"

int main(int argc, char** argv) {
  return mlaps::gpu::conformance_main(argc, argv);
}
