// The fast prefill's ISA paths (sim/emulate.h): every path this CPU supports decodes every fp8 code as
// fp8_decode does and gives the same bits as every other path on the same inputs (NaN compared as NaN:
// the model does not fix payloads). The oracle comparison per path is FastVsReference (prefill_test.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "hand_plan.h"
#include "scheduler/error.h"
#include "sim/emulate.h"
#include "sim/numerics.h"

namespace mlaps {
namespace {

using testing::make_hand_plan;
using testing::make_problem;

std::vector<IsaPath> available_paths() {
  std::vector<IsaPath> out;
  for (IsaPath path : kAllIsaPaths)
    if (isa_path_available(path)) out.push_back(path);
  return out;
}

TEST(IsaPaths, BestIsTheMostCapableAvailable) {
  EXPECT_TRUE(isa_path_available(IsaPath::kGeneric));
  const std::vector<IsaPath> paths = available_paths();
  ASSERT_FALSE(paths.empty());
  EXPECT_EQ(best_isa_path(), paths.back());
  EXPECT_STREQ(isa_path_name(IsaPath::kGeneric), "generic");
  EXPECT_STREQ(isa_path_name(IsaPath::kAvx2), "avx2");
  EXPECT_STREQ(isa_path_name(IsaPath::kAvx512), "avx512");
#if defined(__x86_64__)
  EXPECT_EQ(isa_path_available(IsaPath::kAvx2), __builtin_cpu_supports("avx2") &&
                                                    __builtin_cpu_supports("fma") &&
                                                    __builtin_cpu_supports("f16c"));
#endif
  std::string names;
  for (IsaPath path : paths) names += std::string(" ") + isa_path_name(path);
  std::cout << "ISA paths available here:" << names << "; best: " << isa_path_name(best_isa_path()) << "\n";
}

TEST(IsaPaths, UnavailablePathThrows) {
  const PrefillParams pp{};
  EXPECT_THROW(emulate_prefill_on(static_cast<IsaPath>(7), pp, 1), std::invalid_argument);
  EXPECT_THROW(kv_row_decoder(static_cast<IsaPath>(7), num::Fp8Encoding::kE4M3FN), std::invalid_argument);
  for (IsaPath path : kAllIsaPaths) {
    if (isa_path_available(path)) continue;
    EXPECT_THROW(emulate_prefill_on(path, pp, 1), std::invalid_argument) << isa_path_name(path);
  }
}

// MLAPS_ISA_PATH's values: unset or empty is the best path; a path's name is that path where this CPU has it
// and an error naming the variable and the paths it has where not; anything else is an error too.
TEST(IsaPaths, SettingNamesThePath) {
  EXPECT_EQ(isa_path_from_setting(nullptr), best_isa_path());
  EXPECT_EQ(isa_path_from_setting(""), best_isa_path());
  for (IsaPath path : kAllIsaPaths) {
    if (isa_path_available(path)) {
      EXPECT_EQ(isa_path_from_setting(isa_path_name(path)), path);
      continue;
    }
    try {
      isa_path_from_setting(isa_path_name(path));
      ADD_FAILURE() << isa_path_name(path) << " is not available here, yet the setting took it";
    } catch (const InputError& e) {
      EXPECT_EQ(e.field(), kIsaPathEnv);
      EXPECT_NE(std::string(e.what()).find("has generic"), std::string::npos) << e.what();
    }
  }
  for (const char* bad : {"avx", "AVX2", "avx512 ", "sse2", "best"}) {
    try {
      isa_path_from_setting(bad);
      ADD_FAILURE() << "'" << bad << "' was taken";
    } catch (const InputError& e) {
      EXPECT_EQ(e.field(), "MLAPS_ISA_PATH");
      EXPECT_NE(std::string(e.what()).find("use one of generic, avx2, avx512"), std::string::npos)
          << e.what();
    }
  }
  // Without the variable in this test's environment (ctest sets none), the selection is the best path.
  if (std::getenv(kIsaPathEnv) == nullptr) {
    EXPECT_EQ(selected_isa_path(), best_isa_path());
  }
}

// Pass p (0-7) of the every-code tests: K and V hold the 320 consecutive codes from 64 * (p % 4) on (mod
// 256); passes 4-7 with their NaN codes replaced by 0x00.
void every_code_rows(int pass, num::Fp8Encoding enc, uint8_t (&k)[192], uint8_t (&v)[128]) {
  auto code = [&](int i) {
    const auto c = static_cast<uint8_t>(i + (pass % 4) * 64);
    return pass >= 4 && std::isnan(num::fp8_decode(c, enc)) ? uint8_t{0} : c;
  };
  for (int i = 0; i < 192; ++i) k[i] = code(i);
  for (int i = 0; i < 128; ++i) v[i] = code(i + 192);
}

// All 256 codes through both the K (192) and the V (128) decoder of every path, both encodings, bit for bit
// (NaN codes included: fp8_decode's canonical quiet NaN). Each row once as it is (every row of 128 or more
// consecutive codes holds a NaN code of fn) and once with its NaN codes replaced by 0x00: the AVX2 and
// AVX-512 decoders look for NaN codes per row or per 64 codes and take another path where there are none.
TEST(IsaPaths, DecodeEveryCode) {
  for (IsaPath path : available_paths()) {
    for (num::Fp8Encoding enc : {num::Fp8Encoding::kE4M3FN, num::Fp8Encoding::kE4M3FNUZ}) {
      const KvRowDecodeFn decode = kv_row_decoder(path, enc);
      for (int pass = 0; pass < 8; ++pass) {
        uint8_t k[192], v[128];
        every_code_rows(pass, enc, k, v);
        float kd[192], vd[128];
        decode(k, v, kd, vd);
        for (int i = 0; i < 192; ++i)
          ASSERT_EQ(num::f2u(kd[i]), num::f2u(num::fp8_decode(k[i], enc)))
              << isa_path_name(path) << " " << int(k[i]);
        for (int i = 0; i < 128; ++i)
          ASSERT_EQ(num::f2u(vd[i]), num::f2u(num::fp8_decode(v[i], enc)))
              << isa_path_name(path) << " " << int(v[i]);
      }
    }
  }
}

// The fp16 forms of the <= 8-row blocks (kv_row_f16_former): every code, both encodings, each form widened to
// fp32 (exact) and times 2^8 (fn) or 2^7 (fnuz) is fp8_decode's value, bit for bit; a NaN code is 0x7E00.
// Each row as it is and with its NaN codes replaced by 0x00, as DecodeEveryCode: the forms look for NaN codes
// once per row.
// The AVX-512 and AVX2 paths keep these forms (their blocks of <= 8 rows put keys in lanes); generic does
// not.
float half_value(uint16_t h) {  // a finite IEEE fp16, exactly
  const int e = (h >> 10) & 0x1F, m = h & 0x3FF;
  const float mag =
      e == 0 ? std::ldexp(static_cast<float>(m), -24) : std::ldexp(static_cast<float>(1024 + m), e - 25);
  return (h & 0x8000) ? -mag : mag;
}
TEST(IsaPaths, FormEveryCode) {
  for (IsaPath path : available_paths()) {
    for (num::Fp8Encoding enc : {num::Fp8Encoding::kE4M3FN, num::Fp8Encoding::kE4M3FNUZ}) {
      const KvRowFormFn form = kv_row_f16_former(path, enc);
      if (path == IsaPath::kGeneric) {
        EXPECT_EQ(form, nullptr) << isa_path_name(path);
        continue;
      }
      ASSERT_NE(form, nullptr);
      const float rebias = enc == num::Fp8Encoding::kE4M3FN ? 0x1.0p8f : 0x1.0p7f;
      for (int pass = 0; pass < 8; ++pass) {
        uint8_t k[192], v[128];
        every_code_rows(pass, enc, k, v);
        uint16_t kh[192], vh[128];
        form(k, v, kh, vh);
        auto check = [&](uint8_t c, uint16_t h) {
          const float want = num::fp8_decode(c, enc);
          if (std::isnan(want)) {
            ASSERT_EQ(h, 0x7E00) << int(c);
          } else {
            ASSERT_EQ(num::f2u(half_value(h) * rebias), num::f2u(want))
                << isa_path_name(path) << " " << int(c);
          }
        };
        for (int i = 0; i < 192; ++i) check(k[i], kh[i]);
        for (int i = 0; i < 128; ++i) check(v[i], vh[i]);
      }
    }
  }
}

bool same_f32(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || num::f2u(a) == num::f2u(b);
}

// Row counts that fill every block shape of every path (32/16, 16/8, 8/4 lanes, full and short blocks, one
// row), causal and not, both encodings, NaN codes, GQA, direct writes: the same bits on every path.
TEST(IsaPaths, SameBitsOnEveryPath) {
  const std::vector<IsaPath> paths = available_paths();
  struct Case {
    bool causal;
    num::Fp8Encoding enc;
    bool direct;
  };
  for (const Case c :
       {Case{true, num::Fp8Encoding::kE4M3FN, false}, Case{false, num::Fp8Encoding::kE4M3FNUZ, false},
        Case{true, num::Fp8Encoding::kE4M3FNUZ, true}}) {
    const Problem p = make_problem({1, 4, 5, 8, 9, 16, 17, 31, 33, 70},
                                   {300, 7, 140, 129, 200, 16, 260, 64, 33, 400}, 2, c.causal, 2);
    testing::HandPlanOptions ho;
    ho.num_tg = 7;
    ho.piece = 200;
    ho.whole_is_direct = c.direct;
    const Plan plan = make_hand_plan(p, ho);
    InputOptions io;
    io.seed = 99;
    io.encoding = c.enc;
    AttnInputs in = make_random_inputs(p, io);
    const uint8_t nan = c.enc == num::Fp8Encoding::kE4M3FN ? 0x7F : 0x80;
    in.k[size_t(in.kv_page_indices[700]) * 2 * 192 + 5] = nan;
    in.v[size_t(in.kv_page_indices[900]) * 2 * 128 + 100] = nan;
    NumericModel m;
    m.encoding = c.enc;
    std::vector<RunBuffers> bufs(paths.size());
    for (size_t i = 0; i < paths.size(); ++i) {
      bufs[i].allocate(p.num_tokens(), p.num_heads_q(), partial_rows_for(plan, p.tile_q));
      bufs[i].poison();
      emulate_prefill_on(paths[i], make_prefill_params(p, plan, in, bufs[i], m), 2);
    }
    for (size_t i = 1; i < paths.size(); ++i) {
      int64_t bad = 0;
      for (size_t e = 0; e < bufs[0].partial_o.size(); ++e)
        bad += !same_f32(bufs[0].partial_o[e], bufs[i].partial_o[e]);
      for (size_t e = 0; e < bufs[0].partial_lse.size(); ++e)
        bad += !same_f32(bufs[0].partial_lse[e], bufs[i].partial_lse[e]);
      for (size_t e = 0; e < bufs[0].out.size(); ++e)
        bad += bufs[0].out[e] != bufs[i].out[e] && !(std::isnan(num::bf16_decode(bufs[0].out[e])) &&
                                                     std::isnan(num::bf16_decode(bufs[i].out[e])));
      EXPECT_EQ(bad, 0) << isa_path_name(paths[0]) << " vs " << isa_path_name(paths[i]) << ", causal "
                        << c.causal;
    }
  }
}

}  // namespace
}  // namespace mlaps
