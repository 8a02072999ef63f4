// Shared types of the differential harness (tcg/difftest/): a Snippet (code
// bytes, initial registers, flags and data-area contents, and which flags are
// architecturally undefined at each instruction boundary) and an Outcome (what
// running it produced, natively or under the interpreter).
//
//   Snippet s = MakeSnippet("add", {0x48, 0x01, 0xc8}, /*seed=*/7);
//   s.final_undef = 0;  // ADD defines all six arithmetic flags
//   Outcome native = native_runner.Run({s})[0];
//
// Memory layout (the same linear addresses natively and in the interpreter):
//   kDataBase .. +kDataSize   data area (read/write, contents from a seed);
//                             RBX points at kDataBase + kRbxOffset and RSP at
//                             kDataBase + kRspOffset when a snippet starts
//   kCodeBase .. +kCodePage   the snippet, followed natively by the epilogue
//                             that saves the registers, and under the
//                             interpreter by HLT (which #GPs at CPL 3)
// Everything else in the low 4 GiB is unmapped for user mode on both sides,
// so stray accesses #PF in both.
#ifndef SKIFF_TCG_DIFFTEST_SNIPPET_H_
#define SKIFF_TCG_DIFFTEST_SNIPPET_H_

#include <cstdint>
#include <string>
#include <vector>

namespace skiff::tcg::difftest {

inline constexpr uint64_t kDataBase = 0xa00000;
inline constexpr uint64_t kDataSize = 0x4000;
inline constexpr uint64_t kRbxOffset = 0x2000;
inline constexpr uint64_t kRspOffset = 0x3800;
inline constexpr uint64_t kCodeBase = 0xb00000;
inline constexpr uint64_t kCodePage = 0x1000;
// Room left after the snippet for the native epilogue.
inline constexpr size_t kMaxCodeSize = 3800;

// RFLAGS bits the harness controls and compares (Intel SDM vol. 1, 3.4.3).
inline constexpr uint32_t kCf = 1u << 0, kPf = 1u << 2, kAf = 1u << 4,
                          kZf = 1u << 6, kSf = 1u << 7, kDf = 1u << 10,
                          kOf = 1u << 11;
inline constexpr uint32_t kStatusFlags = kCf | kPf | kAf | kZf | kSf | kOf;
inline constexpr uint32_t kComparedFlags = kStatusFlags | kDf;

// x86 register numbers (RAX=0 ... RDI=7, R8..R15).
enum Gpr : uint8_t { kRax, kRcx, kRdx, kRbx, kRsp, kRbp, kRsi, kRdi };
const char* GprName(int r);

struct Snippet {
  std::string name;
  std::vector<uint8_t> code;
  uint64_t gpr[16] = {};   // by x86 register number
  uint32_t rflags = 0;     // only kComparedFlags bits are used
  uint64_t data_seed = 0;  // data area contents: FillData(data_seed)
  // Flags whose value is architecturally undefined (or differs between
  // Intel and AMD) when an exception hits the instruction starting at
  // `offset`, and at the end of the snippet.
  struct Boundary {
    uint32_t offset;
    uint32_t undef;
  };
  std::vector<Boundary> boundaries;
  uint32_t final_undef = 0;
  int instructions = 0;  // 0 when unknown (hand-written cases)

  // The undefined-flag mask for an outcome that stopped at `rip`.
  uint32_t UndefAt(uint64_t rip, bool completed) const;
};

// Deterministic data-area contents for `seed` (kDataSize bytes).
void FillData(uint64_t seed, uint8_t* out);

// A snippet with registers and flags drawn from `seed` (a mix of edge values
// and random ones), RBX/RSP pointing into the data area and no undefined
// flags.
Snippet MakeSnippet(std::string name, std::vector<uint8_t> code, uint64_t seed);

struct Outcome {
  enum class Kind : uint8_t {
    kCompleted,  // ran to the end of the snippet
    kException,  // stopped on an exception (vector, rip)
    kTimeout,    // did not finish (instruction limit or native timer)
    kCrashed,    // native: the child died (seccomp, unexpected signal);
                 // interpreter: shutdown or internal error
    kNotRun,     // the runner failed before this snippet
  };
  Kind kind = Kind::kNotRun;
  int vector = -1;
  uint64_t error_code = 0;
  uint64_t fault_addr = 0;  // CR2 for #PF
  uint64_t gpr[16] = {};
  uint64_t rip = 0;
  uint64_t rflags = 0;
  uint64_t retired = 0;       // interpreter only: instructions retired
  std::string detail;         // free text (crash reason)
  std::vector<uint8_t> data;  // kDataSize bytes
};

const char* OutcomeKindName(Outcome::Kind kind);

// A small deterministic PRNG (splitmix64) shared by every seeded part.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n).
  uint32_t Below(uint32_t n) {
    return static_cast<uint32_t>((Next() >> 32) % n);
  }
  bool Chance(uint32_t percent) { return Below(100) < percent; }

 private:
  uint64_t state_;
};

}  // namespace skiff::tcg::difftest

#endif  // SKIFF_TCG_DIFFTEST_SNIPPET_H_
