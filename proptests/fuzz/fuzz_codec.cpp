#include "proptests/fuzz/fuzz_codec.h"

#include <algorithm>
#include <array>

namespace mlaps::fuzz {
namespace {

constexpr std::array<int32_t, 8> kHeads = {1, 2, 3, 16, 128, 5, 7, 12};
constexpr std::array<int32_t, 8> kCus = {1, 2, 4, 16, 80, 132, 256, 304};
constexpr std::array<int32_t, 4> kGqa = {1, 1, 2, 4};
constexpr int32_t kMaxDirect = 20000;

const std::vector<int32_t>& boundary() {
  static const std::vector<int32_t> v = [] {
    std::vector<int32_t> b = {0, 1, 127, 128, 129, 255, 256, 257};
    for (int32_t m : {512, 1024, 2048, 4096, 8192, 16384, 32768}) {
      for (int32_t d : {-1, 0, 1}) b.push_back(m + d);
    }
    return b;
  }();
  return v;
}

struct Reader {
  const uint8_t* data;
  size_t size;
  size_t pos = 0;
  uint32_t u8() { return pos < size ? data[pos++] : 0u; }
  uint32_t u16() {
    const uint32_t lo = u8();
    return lo | (u8() << 8);
  }
};

int32_t decode_length(uint32_t v) {
  if (v <= kMaxDirect) return static_cast<int32_t>(v);
  return boundary()[(v - kMaxDirect - 1) % boundary().size()];
}

std::optional<uint32_t> encode_length(int32_t len) {
  if (len >= 0 && len <= kMaxDirect) return static_cast<uint32_t>(len);
  const auto& b = boundary();
  const auto it = std::find(b.begin(), b.end(), len);
  if (it == b.end()) return std::nullopt;
  return static_cast<uint32_t>(kMaxDirect + 1 + (it - b.begin()));
}

}  // namespace

Decoded decode_problem(const uint8_t* data, size_t size, size_t* consumed) {
  Reader r{data, size};
  const uint32_t flags = r.u8();
  const uint32_t h = r.u8();
  const uint32_t cu = r.u16();
  const uint32_t bs = r.u8();
  const uint32_t batch = 1 + r.u8() % 64;
  std::vector<int32_t> qo, kv;
  for (uint32_t b = 0; b < batch; ++b) {
    qo.push_back(decode_length(r.u16()));
    kv.push_back(decode_length(r.u16()));
  }
  const int32_t heads = h < kHeads.size() ? kHeads[h] : static_cast<int32_t>(h) - 7;
  const int32_t num_cu = cu < kCus.size() ? kCus[cu] : static_cast<int32_t>((cu - 8) % 1024 + 1);
  Decoded d;
  d.problem =
      Problem::from_lengths(qo, kv, heads, (flags & 1u) != 0, num_cu, kGqa[(flags >> 3) & 3u], 1 << (bs % 9));
  d.problem.allow_causal_qo_gt_kv = (flags & 2u) != 0;
  d.emulate = (flags & 4u) != 0;
  if (consumed) *consumed = std::min(r.pos, size);
  return d;
}

std::optional<std::vector<uint8_t>> encode_problem(const Problem& p, bool emulate) {
  if (p.batch() < 1 || p.batch() > 64 || p.tile_q != 256 || p.tile_kv != 128) return std::nullopt;
  std::vector<uint8_t> out;
  const auto gqa_it = std::find(kGqa.begin() + 1, kGqa.end(), p.gqa_ratio);
  if (gqa_it == kGqa.end()) return std::nullopt;
  out.push_back(static_cast<uint8_t>((p.causal ? 1 : 0) | (p.allow_causal_qo_gt_kv ? 2 : 0) |
                                     (emulate ? 4 : 0) | ((gqa_it - kGqa.begin()) << 3)));
  const auto hi = std::find(kHeads.begin(), kHeads.end(), p.num_heads_k);
  if (hi != kHeads.end()) {
    out.push_back(static_cast<uint8_t>(hi - kHeads.begin()));
  } else if (p.num_heads_k >= 1 && p.num_heads_k <= 248) {
    out.push_back(static_cast<uint8_t>(p.num_heads_k + 7));
  } else {
    return std::nullopt;
  }
  const auto ci = std::find(kCus.begin(), kCus.end(), p.num_cu);
  uint32_t cu;
  if (ci != kCus.end()) {
    cu = static_cast<uint32_t>(ci - kCus.begin());
  } else if (p.num_cu >= 1 && p.num_cu <= 1024) {
    cu = static_cast<uint32_t>(p.num_cu - 1 + 8);
  } else {
    return std::nullopt;
  }
  out.push_back(static_cast<uint8_t>(cu & 0xFF));
  out.push_back(static_cast<uint8_t>(cu >> 8));
  int k = 0;
  while (k < 9 && (1 << k) != p.block_size) ++k;
  if (k == 9) return std::nullopt;
  out.push_back(static_cast<uint8_t>(k));
  out.push_back(static_cast<uint8_t>(p.batch() - 1));
  int32_t pages = 0;
  for (int32_t b = 0; b < p.batch(); ++b) {
    const auto q = encode_length(p.qo_len(b));
    const auto v = encode_length(p.kv_len(b));
    pages += (p.kv_len(b) + p.block_size - 1) / p.block_size;
    if (!q || !v || p.kv_indptr[b + 1] != pages) return std::nullopt;
    for (uint32_t x : {*q, *v}) {
      out.push_back(static_cast<uint8_t>(x & 0xFF));
      out.push_back(static_cast<uint8_t>(x >> 8));
    }
  }
  return out;
}

int64_t estimated_works(const Problem& p) {
  const int64_t g = std::max(1, p.tile_q / std::max(1, p.gqa_ratio));
  int64_t tiles = 0;
  for (int32_t b = 0; b < p.batch(); ++b) tiles += (p.qo_len(b) + g - 1) / g;
  return int64_t{p.num_heads_k} * (tiles + p.num_cu);
}

int64_t estimated_pairs(const Problem& p) {
  int64_t pairs = 0;
  for (int32_t b = 0; b < p.batch(); ++b) pairs += int64_t{p.qo_len(b)} * std::max(1, p.kv_len(b));
  return pairs * p.num_heads_q();
}

}  // namespace mlaps::fuzz
