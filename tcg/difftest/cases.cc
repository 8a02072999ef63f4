#include "tcg/difftest/cases.h"

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "tcg/testing/tcg_test_util.h"

namespace skiff::tcg::difftest {
namespace {

uint64_t HashName(const char* s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; ++s) h = (h ^ static_cast<uint8_t>(*s)) * 0x100000001b3ull;
  return h;
}

bool Supported(const CaseSpec& c, const Features& f) {
  switch (c.needs) {
    case CaseSpec::Needs::kNone:
      return true;
    case CaseSpec::Needs::kPopcnt:
      return f.popcnt;
    case CaseSpec::Needs::kLzcnt:
      return f.lzcnt;
    case CaseSpec::Needs::kTzcnt:
      return f.tzcnt;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::vector<Snippet>> HandWrittenCases() {
  std::vector<CaseSpec> specs;
  const Features features = CommonFeatures();
  for (auto list : {AluCases(), BitCases(), MiscCases()}) {
    for (const CaseSpec& c : list) {
      if (Supported(c, features)) specs.push_back(c);
    }
  }
  // One nasm run: a table of (start, end) offsets, then every case between
  // its two labels.
  std::string src;
  for (size_t k = 0; k < specs.size(); ++k) {
    absl::StrAppend(&src, "dd c", k, "_start, c", k, "_end\n");
  }
  for (size_t k = 0; k < specs.size(); ++k) {
    absl::StrAppend(&src, "c", k, "_start:\n", specs[k].source, "\nc", k,
                    "_end:\n");
  }
  SKIFF_ASSIGN_OR_RETURN(std::vector<uint8_t> bin,
                         testing::Assemble(src, /*org=*/0));
  std::vector<Snippet> out;
  for (size_t k = 0; k < specs.size(); ++k) {
    uint32_t range[2];
    if (bin.size() < (k + 1) * 8) return absl::InternalError("nasm output");
    std::memcpy(range, bin.data() + k * 8, 8);
    if (range[0] > range[1] || range[1] > bin.size() ||
        range[1] - range[0] > kMaxCodeSize) {
      return absl::InternalError(absl::StrCat("case ", specs[k].name, " size"));
    }
    std::vector<uint8_t> code(bin.begin() + range[0], bin.begin() + range[1]);
    const uint64_t h = HashName(specs[k].name);
    for (int v = 0; v < specs[k].variants; ++v) {
      Snippet s = MakeSnippet(absl::StrCat("case ", specs[k].name, " #", v),
                              code, h + static_cast<uint64_t>(v));
      s.final_undef = specs[k].undef;
      out.push_back(std::move(s));
    }
  }
  return out;
}

}  // namespace skiff::tcg::difftest
