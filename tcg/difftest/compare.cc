#include "tcg/difftest/compare.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace skiff::tcg::difftest {
namespace {

std::string Hex(uint64_t v) { return absl::StrFormat("0x%016x", v); }

std::string Bytes(const std::vector<uint8_t>& d, size_t from, size_t to) {
  std::string out;
  for (size_t k = from; k < to && k < d.size(); ++k) {
    absl::StrAppend(&out, absl::StrFormat("%02x", d[k]));
  }
  return out;
}

std::string DescribeEnd(const Outcome& o) {
  std::string s = OutcomeKindName(o.kind);
  if (o.kind == Outcome::Kind::kException) {
    absl::StrAppend(&s, " vector=", o.vector, " rip=", Hex(o.rip), " error=0x",
                    absl::Hex(o.error_code));
    if (o.vector == 14) absl::StrAppend(&s, " cr2=", Hex(o.fault_addr));
  }
  if (!o.detail.empty()) absl::StrAppend(&s, " (", o.detail, ")");
  return s;
}

}  // namespace

std::string FlagNames(uint64_t flags) {
  static constexpr struct {
    uint64_t bit;
    const char* name;
  } kNames[] = {{kCf, "CF"}, {kPf, "PF"}, {kAf, "AF"}, {kZf, "ZF"},
                {kSf, "SF"}, {kDf, "DF"}, {kOf, "OF"}};
  std::string out;
  for (const auto& n : kNames) {
    if (flags & n.bit) absl::StrAppend(&out, out.empty() ? "" : " ", n.name);
  }
  return out.empty() ? "-" : out;
}

std::string CompareOutcomes(const Snippet& s, const Outcome& native,
                            const Outcome& interp) {
  std::string d;
  if (native.kind != interp.kind || (native.kind == Outcome::Kind::kException &&
                                     native.vector != interp.vector)) {
    absl::StrAppend(&d, "  end: native=", DescribeEnd(native),
                    " interp=", DescribeEnd(interp), "\n");
    return d;
  }
  if (native.kind != Outcome::Kind::kCompleted &&
      native.kind != Outcome::Kind::kException) {
    return d;  // both timed out or crashed: nothing more to compare
  }
  if (native.rip != interp.rip) {
    absl::StrAppend(&d, "  rip: native=", Hex(native.rip),
                    " interp=", Hex(interp.rip), "\n");
  }
  if (native.kind == Outcome::Kind::kException) {
    const int v = native.vector;
    if (v == 14 && native.fault_addr != interp.fault_addr) {
      absl::StrAppend(&d, "  cr2: native=", Hex(native.fault_addr),
                      " interp=", Hex(interp.fault_addr), "\n");
    }
    // #PF: compare only W. P differs by design (supervisor pages are
    // present in the interpreter's machine, absent natively); U and I
    // depend on how the host kernel reports.
    const uint64_t mask = v == 14 ? 0x2 : (v == 13 || v == 12) ? ~0ull : 0;
    if ((native.error_code & mask) != (interp.error_code & mask)) {
      absl::StrAppend(&d, "  error code: native=0x",
                      absl::Hex(native.error_code), " interp=0x",
                      absl::Hex(interp.error_code), "\n");
    }
  }
  for (int r = 0; r < 16; ++r) {
    if (native.gpr[r] != interp.gpr[r]) {
      absl::StrAppend(&d, "  ", GprName(r), ": native=", Hex(native.gpr[r]),
                      " interp=", Hex(interp.gpr[r]), "\n");
    }
  }
  const uint32_t undef =
      s.UndefAt(native.rip, native.kind == Outcome::Kind::kCompleted);
  const uint64_t mask = kComparedFlags & ~undef;
  if ((native.rflags ^ interp.rflags) & mask) {
    absl::StrAppend(&d, "  rflags: native=0x", absl::Hex(native.rflags),
                    " interp=0x", absl::Hex(interp.rflags), " differ in ",
                    FlagNames((native.rflags ^ interp.rflags) & mask),
                    " (undefined here: ", FlagNames(undef), ")\n");
  }
  // Differing byte ranges of the data area, a few at most.
  int ranges = 0;
  for (size_t k = 0;
       k < kDataSize && k < native.data.size() && k < interp.data.size();) {
    if (native.data[k] == interp.data[k]) {
      ++k;
      continue;
    }
    size_t e = k;
    while (e < kDataSize && e - k < 32 && native.data[e] != interp.data[e]) {
      ++e;
    }
    if (++ranges <= 4) {
      absl::StrAppend(&d, "  data[0x", absl::Hex(k), "..0x", absl::Hex(e),
                      ") @", Hex(kDataBase + k),
                      ": native=", Bytes(native.data, k, e),
                      " interp=", Bytes(interp.data, k, e), "\n");
    }
    k = e;
  }
  if (ranges > 4) absl::StrAppend(&d, "  ... ", ranges - 4, " more ranges\n");
  return d;
}

std::string DescribeSnippet(const Snippet& s) {
  std::string out = absl::StrCat(s.name, "\n  code (", s.code.size(),
                                 " bytes at ", Hex(kCodeBase), "): ");
  absl::StrAppend(&out, Bytes(s.code, 0, s.code.size()), "\n  in:");
  for (int r = 0; r < 16; ++r) {
    absl::StrAppend(&out, r % 4 == 0 ? "\n   " : "", " ", GprName(r), "=",
                    Hex(s.gpr[r]));
  }
  absl::StrAppend(&out, "\n  flags in: ", FlagNames(s.rflags),
                  "  data seed: 0x", absl::Hex(s.data_seed),
                  "  undefined at end: ", FlagNames(s.final_undef), "\n");
  return out;
}

}  // namespace skiff::tcg::difftest
