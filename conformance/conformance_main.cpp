// mlaps-gpu-conformance: the GPU conformance suite as a standalone program (see conformance/front_end.h).
#include "conformance/front_end.h"

int main(int argc, char** argv) {
  return mlaps::conformance::main_with_args(argc, argv);
}
