// Host-only: the vendor loader's packed 304-byte argument block (contract 6.1). Runs without a GPU.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>

#include "gpu/vendor_loader/ps_kernel_args.h"

namespace mlaps::vendor {
namespace {

TEST(PsKernelArgs, SizeIsNineteenSixteenByteFields) {
  EXPECT_EQ(sizeof(PsKernelArgs), 304u);
  EXPECT_EQ(sizeof(PsKernelArgs) % 16, 0u);
}

TEST(PsKernelArgs, FieldOffsetsFollowUpstreamOrder) {
  // Pointers Q .. VScale at 16-byte steps from 0, then scalar, num_q_tokens, num_head_q, num_page,
  // num_used_page.
  const size_t expected[] = {0,   16,  32,  48,  64,  80,  96,  112, 128, 144,
                             160, 176, 192, 208, 224, 240, 256, 272, 288};
  const size_t actual[] = {offsetof(PsKernelArgs, q),
                           offsetof(PsKernelArgs, k),
                           offsetof(PsKernelArgs, v),
                           offsetof(PsKernelArgs, o),
                           offsetof(PsKernelArgs, partial_o),
                           offsetof(PsKernelArgs, partial_lse),
                           offsetof(PsKernelArgs, work_indptr),
                           offsetof(PsKernelArgs, work_info),
                           offsetof(PsKernelArgs, qo_indptr),
                           offsetof(PsKernelArgs, kv_indptr),
                           offsetof(PsKernelArgs, kv_page_indices),
                           offsetof(PsKernelArgs, q_scale),
                           offsetof(PsKernelArgs, k_scale),
                           offsetof(PsKernelArgs, v_scale),
                           offsetof(PsKernelArgs, softmax_scale),
                           offsetof(PsKernelArgs, num_q_tokens),
                           offsetof(PsKernelArgs, num_head_q),
                           offsetof(PsKernelArgs, num_page),
                           offsetof(PsKernelArgs, num_used_page)};
  for (size_t i = 0; i < 19; ++i) EXPECT_EQ(actual[i], expected[i]) << "field " << i;
}

TEST(PsKernelArgs, BytesLandWhereTheKernelReadsThem) {
  PsKernelArgs a;
  std::memset(&a, 0xAB, sizeof a);
  a.q.ptr = reinterpret_cast<const void*>(uintptr_t{0x1122334455667788});
  a.softmax_scale.value = 0.125f;
  a.num_used_page.value = 0x01020304;
  unsigned char raw[sizeof a];
  std::memcpy(raw, &a, sizeof a);
  // Little-endian 8-byte pointer at 0, its padding untouched at 8..15.
  EXPECT_EQ(raw[0], 0x88);
  EXPECT_EQ(raw[7], 0x11);
  EXPECT_EQ(raw[8], 0xAB);
  // 0.125f = 0x3E000000 at 224.
  EXPECT_EQ(raw[224], 0x00);
  EXPECT_EQ(raw[227], 0x3E);
  EXPECT_EQ(raw[228], 0xAB);
  // num_used_page at 288.
  EXPECT_EQ(raw[288], 0x04);
  EXPECT_EQ(raw[291], 0x01);
  EXPECT_EQ(raw[303], 0xAB);
}

}  // namespace
}  // namespace mlaps::vendor
