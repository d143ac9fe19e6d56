// per_tensor_quant, random inputs, buffers and lowering.
#include "sim/tensors.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "hand_plan.h"
#include "scheduler/error.h"
#include "sim/numerics.h"

namespace mlaps {
namespace {

using num::Fp8Encoding;

// The VmFlags line of the mapping in /proc/self/smaps that holds the 2 MiB-aligned address two huge pages
// past p, inside the range code_buffer advises for a buffer of >= kHugePageAdviseBytes ("" if none is found).
std::string vm_flags_inside(const uint8_t* p) {
  constexpr uintptr_t kHuge = kHugePageBytes;
  const uintptr_t a = (reinterpret_cast<uintptr_t>(p) + 2 * kHuge) & ~(kHuge - 1);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {  // a mapping's first line: lo-hi perms ...
      inside = a >= lo && a < hi;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line;
    }
  }
  return "";
}

TEST(CodeBuffer, ZeroedOrCopiedAndAdvisedAsHugePagesWhenLarge) {
  const std::vector<uint8_t> small = code_buffer(1000);
  ASSERT_EQ(small.size(), 1000u);
  EXPECT_TRUE(std::all_of(small.begin(), small.end(), [](uint8_t c) { return c == 0; }));
  const size_t n = size_t{24} << 20;
  const std::vector<uint8_t> big = code_buffer(n);
  ASSERT_EQ(big.size(), n);
  EXPECT_TRUE(std::all_of(big.begin(), big.end(), [](uint8_t c) { return c == 0; }));
  std::vector<uint8_t> src(n);
  for (size_t i = 0; i < n; ++i) src[i] = static_cast<uint8_t>(i * 131 + 7);
  const std::vector<uint8_t> copied = code_buffer(n, src.data());
  EXPECT_EQ(copied, src);
#if defined(__linux__)
  if (!std::filesystem::exists("/sys/kernel/mm/transparent_hugepage/enabled"))
    GTEST_SKIP() << "this kernel has no transparent huge pages";
  // Inside the advised range the mapping is marked "hg", for the zeroed and the copied buffer alike.
  for (const std::vector<uint8_t>* b : {&big, &copied}) {
    const std::string flags = vm_flags_inside(b->data());
    ASSERT_FALSE(flags.empty()) << "no mapping in /proc/self/smaps holds the buffer";
    EXPECT_NE((flags + " ").find(" hg "), std::string::npos) << flags;
  }
  // The input generator's K codes (12 MiB here) come from code_buffer too.
  const Problem p = Problem::from_lengths({8}, {4000}, 16, false, 8);
  const AttnInputs in = make_random_inputs(p, {});
  ASSERT_GE(in.k.size(), kHugePageAdviseBytes + 2 * kHugePageBytes);
  const std::string kflags = vm_flags_inside(in.k.data());
  EXPECT_NE((kflags + " ").find(" hg "), std::string::npos) << kflags;
#endif
}

// Worked by hand. amax 7, e4m3fn max 448: scale = 7/448 = 1/64 exactly, so x/scale = 64x exactly.
//   1.75 -> 112 = 1.110b * 2^6: exponent field 6+7 = 13, mantissa 6 -> 0x6E
//   -3.5 -> -224 = 1.110b * 2^7: field 14, mantissa 6, sign -> 0xF6
//   7    -> 448 = max -> 0x7E
//   0.1f -> 6.4000001 = 1.6 * 2^2: mantissa 0.6*8 = 4.8 rounds to 5 -> field 9 -> 0x4D (6.5)
TEST(PerTensorQuant, WorkedExampleE4M3FN) {
  const Quantized q = per_tensor_quant({0.0f, 1.75f, -3.5f, 7.0f, 0.1f}, Fp8Encoding::kE4M3FN);
  EXPECT_EQ(q.scale, 1.0f / 64);
  EXPECT_EQ(q.codes, (std::vector<uint8_t>{0x00, 0x6E, 0xF6, 0x7E, 0x4D}));
  EXPECT_EQ(num::fp8_decode(0x4D, Fp8Encoding::kE4M3FN) * q.scale, 6.5f / 64);
}

// amax 7.5, e4m3fnuz max 240: scale = 1/32 exactly.
//   7.5  -> 240 = max -> 0x7F;  -1 -> -32 = 2^5: field 5+8 = 13 -> 0xE8
//   0.3f -> 9.6 = 1.2 * 2^3: mantissa 1.6 rounds to 2 (10) -> field 11 -> 0x5A
TEST(PerTensorQuant, WorkedExampleE4M3FNUZ) {
  const Quantized q = per_tensor_quant({7.5f, -1.0f, 0.3f}, Fp8Encoding::kE4M3FNUZ);
  EXPECT_EQ(q.scale, 1.0f / 32);
  EXPECT_EQ(q.codes, (std::vector<uint8_t>{0x7F, 0xE8, 0x5A}));
}

TEST(PerTensorQuant, AllZeroHasScaleOne) {
  const Quantized q = per_tensor_quant({0.0f, -0.0f}, Fp8Encoding::kE4M3FN);
  EXPECT_EQ(q.scale, 1.0f);
  EXPECT_EQ(q.codes, (std::vector<uint8_t>{0x00, 0x80}));
}

TEST(PerTensorQuant, MaxMagnitudeMapsToMaxCode) {
  // The largest |x| always lands on +-fp8_max (x / (amax / max) rounds to max, never beyond).
  const Quantized q = per_tensor_quant({-3.0f, 1.0f, 2.9f}, Fp8Encoding::kE4M3FN);
  EXPECT_EQ(q.codes[0], 0xFE);
}

Problem small_problem() {
  return testing::make_problem({5, 3}, {7, 4}, 2, true, 2);
}

TEST(RandomInputs, ShapesDeterminismAndPages) {
  const Problem p = small_problem();
  InputOptions o;
  o.seed = 42;
  const AttnInputs a = make_random_inputs(p, o), b = make_random_inputs(p, o);
  EXPECT_EQ(a.num_tokens, 8);
  EXPECT_EQ(a.num_heads_q, 4);
  EXPECT_EQ(a.num_heads_k, 2);
  EXPECT_EQ(a.num_pages, 11);
  EXPECT_EQ(a.q.size(), 8u * 4 * 192);
  EXPECT_EQ(a.k.size(), 11u * 2 * 192);
  EXPECT_EQ(a.v.size(), 11u * 2 * 128);
  EXPECT_EQ(a.kv_page_indices.size(), 11u);
  EXPECT_EQ(a.q, b.q);
  EXPECT_EQ(a.k, b.k);
  EXPECT_EQ(a.v, b.v);
  EXPECT_EQ(a.kv_page_indices, b.kv_page_indices);
  EXPECT_EQ(a.softmax_scale, 1.0f / std::sqrt(192.0f));
  for (int32_t page : a.kv_page_indices) {
    EXPECT_GE(page, 0);
    EXPECT_LT(page, a.num_pages);
  }
  o.seed = 43;
  EXPECT_NE(make_random_inputs(p, o).q, a.q);
  o.shuffle_pages = false;
  const AttnInputs c = make_random_inputs(p, o);
  for (int32_t i = 0; i < c.num_pages; ++i) EXPECT_EQ(c.kv_page_indices[i], i);
}

TEST(RandomInputs, PagesRepeat) {
  const Problem p = testing::make_problem({1}, {2000}, 1, false);
  const AttnInputs a = make_random_inputs(p, {});
  const std::set<int32_t> distinct(a.kv_page_indices.begin(), a.kv_page_indices.end());
  EXPECT_LT(distinct.size(), a.kv_page_indices.size());  // 2000 draws from 2000: ~63% distinct
}

TEST(RandomInputs, VFromKIsKsFirst128DimsWithItsOwnScale) {
  const Problem p = testing::make_problem({4}, {64}, 1, false);
  InputOptions o;
  o.v_from_k = true;
  const AttnInputs a = make_random_inputs(p, o);
  const auto enc = Fp8Encoding::kE4M3FN;
  for (int32_t page = 0; page < a.num_pages; ++page) {
    for (int d = 0; d < 128; ++d) {
      const float kv = num::fp8_decode(a.k[page * 192 + d], enc) * a.k_scale;
      const float vv = num::fp8_decode(a.v[page * 128 + d], enc) * a.v_scale;
      // Both quantize the same bf16 value: each within half an fp8 ulp (2^-4 relative) or, below the fp8
      // min normal, half the subnormal quantum 2^-10 * scale.
      const float tol = 0.0625f * (std::fabs(kv) + std::fabs(vv)) + 0x1.0p-10f * (a.k_scale + a.v_scale);
      ASSERT_LE(std::fabs(kv - vv), tol) << page << " " << d;
    }
  }
}

TEST(RandomInputs, IndependentOfThreadCount) {
  const Problem p = testing::make_problem({300}, {70000}, 1, false);  // K spans several 2^16-value chunks
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  const AttnInputs a = make_random_inputs(p, {});
  omp_set_num_threads(2);
  const AttnInputs b = make_random_inputs(p, {});
  omp_set_num_threads(before);
  EXPECT_EQ(a.q, b.q);
  EXPECT_EQ(a.k, b.k);
  EXPECT_EQ(a.v, b.v);
  EXPECT_EQ(a.k_scale, b.k_scale);
}

TEST(RunBuffers, AllocatePoisonsEverything) {
  RunBuffers b;
  b.allocate(3, 2, 256);
  EXPECT_EQ(b.out.size(), 3u * 2 * 128);
  EXPECT_EQ(b.final_lse.size(), 6u);
  EXPECT_EQ(b.partial_o.size(), 256u * 2 * 128);
  EXPECT_EQ(b.partial_lse.size(), 512u);
  for (uint16_t v : b.out) ASSERT_TRUE(num::is_poison_bf16(v));
  for (float v : b.final_lse) ASSERT_TRUE(num::is_poison_f32(v));
  for (float v : b.partial_o) ASSERT_TRUE(num::is_poison_f32(v));
  for (float v : b.partial_lse) ASSERT_TRUE(num::is_poison_f32(v));
}

TEST(Lowering, PartialRowsAndBounds) {
  Problem p = testing::make_problem({300}, {300}, 1, false);
  testing::HandPlanOptions ho;
  ho.num_tg = 4;
  ho.piece = 128;
  Plan plan = testing::make_hand_plan(p, ho);
  // Tiles [0,256) and [256,300), 3 pieces each: slots 0..5, so the last slot starts at row 5*256.
  EXPECT_EQ(partial_rows_for(plan, 256), 6 * 256);
  Plan direct;
  direct.work_indptr = {0, 1};
  direct.work_info = {WorkInfo{0, -1, 0, 300, 0, 300, 0, WorkInfo::pack_heads(0, 1)}};
  direct.reduce_indptr = {0};
  EXPECT_EQ(partial_rows_for(direct, 256), 256);  // at least one tile

  const AttnInputs in = make_random_inputs(p, {});
  RunBuffers buf;
  buf.allocate(p.num_tokens(), p.num_heads_q(), partial_rows_for(plan, 256));
  const PrefillParams pp = make_prefill_params(p, plan, in, buf, {});
  EXPECT_EQ(pp.num_tg, 4);
  EXPECT_EQ(pp.partial_rows, 6 * 256);
  EXPECT_EQ(pp.q_scale, in.q_scale);
  const ReduceParams rp = make_reduce_params(plan, buf);
  EXPECT_EQ(rp.num_reduce_tiles, 2);
  EXPECT_TRUE(rp.fixed_version);

  Plan bad = plan;
  bad.work_info[0].kv_end = 301;  // beyond kv_page_indices
  EXPECT_THROW(make_prefill_params(p, bad, in, buf, {}), InputError);
  bad = plan;
  bad.work_info[0].q_head_range = WorkInfo::pack_heads(0, 2);
  EXPECT_THROW(make_prefill_params(p, bad, in, buf, {}), InputError);
  bad = plan;
  bad.work_info[0].partial_o_loc = 6 * 256 - 100;  // 256 rows would run past the buffers
  EXPECT_THROW(make_prefill_params(p, bad, in, buf, {}), InputError);
  bad = plan;
  bad.reduce_partial_map[0] = 6 * 256;
  EXPECT_THROW(make_reduce_params(bad, buf), InputError);
}

}  // namespace
}  // namespace mlaps
