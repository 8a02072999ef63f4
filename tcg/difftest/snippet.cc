#include "tcg/difftest/snippet.h"

#include <cstring>
#include <utility>

namespace skiff::tcg::difftest {

const char* GprName(int r) {
  static constexpr const char* kNames[16] = {
      "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
      "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  return r >= 0 && r < 16 ? kNames[r] : "?";
}

const char* OutcomeKindName(Outcome::Kind kind) {
  switch (kind) {
    case Outcome::Kind::kCompleted:
      return "completed";
    case Outcome::Kind::kException:
      return "exception";
    case Outcome::Kind::kTimeout:
      return "timeout";
    case Outcome::Kind::kCrashed:
      return "crashed";
    case Outcome::Kind::kNotRun:
      return "not-run";
  }
  return "?";
}

uint32_t Snippet::UndefAt(uint64_t rip, bool completed) const {
  if (completed) return final_undef;
  for (const Boundary& b : boundaries) {
    if (kCodeBase + b.offset == rip) return b.undef;
  }
  // Unknown boundary (hand-written cases): the snippet-wide mask.
  return final_undef;
}

void FillData(uint64_t seed, uint8_t* out) {
  Rng rng(seed ^ 0xda7a);
  for (uint64_t i = 0; i < kDataSize; i += 8) {
    uint64_t v = rng.Next();
    // Some zero and all-ones words so that compares and scans find matches.
    if ((v & 0xf) == 0) v = 0;
    if ((v & 0xf) == 1) v = ~0ull;
    std::memcpy(out + i, &v, 8);
  }
}

namespace {

uint64_t InterestingValue(Rng& rng) {
  static constexpr uint64_t kEdges[] = {0,
                                        1,
                                        2,
                                        ~0ull,
                                        0x7f,
                                        0x80,
                                        0xff,
                                        0x7fff,
                                        0x8000,
                                        0xffff,
                                        0x7fffffff,
                                        0x80000000,
                                        0xffffffff,
                                        0x100000000,
                                        0x7fffffffffffffff,
                                        0x8000000000000000,
                                        0xffffffff80000000,
                                        0xffffffffffff8000};
  switch (rng.Below(5)) {
    case 0:
      return kEdges[rng.Below(sizeof(kEdges) / sizeof(kEdges[0]))];
    case 1:
      return rng.Below(70);
    case 2:
      return rng.Next() & 0xffffffff;
    default:
      return rng.Next();
  }
}

}  // namespace

Snippet MakeSnippet(std::string name, std::vector<uint8_t> code,
                    uint64_t seed) {
  Snippet s;
  s.name = std::move(name);
  s.code = std::move(code);
  Rng rng(seed);
  for (uint64_t& r : s.gpr) r = InterestingValue(rng);
  s.gpr[kRbx] = kDataBase + kRbxOffset;
  s.gpr[kRsp] = kDataBase + kRspOffset;
  s.rflags = static_cast<uint32_t>(rng.Next()) & kStatusFlags;
  s.data_seed = rng.Next();
  return s;
}

}  // namespace skiff::tcg::difftest
