#include "tcg/difftest/difftest.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "tcg/difftest/compare.h"

namespace skiff::tcg::difftest {

const std::vector<KnownDivergence>& KnownDivergences() {
  // One entry per divergence found and reported but not fixed here (the
  // interpreter is other engineers' code). Remove an entry once fixed.
  // Empty: the four divergences found so far (RMW #PF W bit, CR2 of a
  // split LOCKed access, 32-bit shifts by 0, XADD r,r) are fixed, each with
  // a unit test in tcg_system_test.cc / tcg_arith_test.cc.
  static const std::vector<KnownDivergence> kKnown = {};
  return kKnown;
}

namespace {

// The known divergences that explain every difference, or empty.
std::string ExplainKnown(const Snippet& s, const Outcome& native,
                         const Outcome& interp) {
  Outcome patched = interp;
  std::string what;
  for (const KnownDivergence& k : KnownDivergences()) {
    if (k.only_case != nullptr &&
        (s.name.rfind("case ", 0) != 0 ||
         s.name.find(k.only_case) == std::string::npos)) {
      continue;
    }
    const std::string before = CompareOutcomes(s, native, patched);
    k.patch(native, &patched);
    if (CompareOutcomes(s, native, patched) != before) {
      absl::StrAppend(&what, what.empty() ? "" : "; ", k.what);
    }
  }
  return CompareOutcomes(s, native, patched).empty() ? what : std::string();
}

}  // namespace

std::string DiffSummary::Line() const {
  return absl::StrCat("difftest: ", sequences, " sequences, ", instructions,
                      " instructions, ", exceptions, " ended on exceptions, ",
                      divergences.size(), " divergences, ", known.size(),
                      " known divergences");
}

absl::StatusOr<std::unique_ptr<DiffHarness>> DiffHarness::Create(
    const NativeRunner::Options& native_options) {
  SKIFF_ASSIGN_OR_RETURN(auto native, NativeRunner::Create(native_options));
  SKIFF_ASSIGN_OR_RETURN(auto interp, InterpRunner::Create());
  return std::unique_ptr<DiffHarness>(
      new DiffHarness(std::move(native), std::move(interp)));
}

absl::StatusOr<DiffSummary> DiffHarness::Run(
    absl::Span<const Snippet> snippets) {
  DiffSummary sum;
  // In chunks: each native Outcome holds a copy of the data area, and a
  // big parent makes every fork slower.
  constexpr size_t kChunk = 1024;
  for (size_t begin = 0; begin < snippets.size(); begin += kChunk) {
    const absl::Span<const Snippet> chunk = snippets.subspan(begin, kChunk);
    SKIFF_ASSIGN_OR_RETURN(std::vector<Outcome> native, native_->Run(chunk));
    for (size_t k = 0; k < chunk.size(); ++k) {
      const Snippet& s = chunk[k];
      const Outcome interp = interp_->Run(s);
      ++sum.sequences;
      sum.instructions += interp.retired;
      if (native[k].kind == Outcome::Kind::kException) ++sum.exceptions;
      const std::string diff = CompareOutcomes(s, native[k], interp);
      if (diff.empty()) continue;
      if (const std::string known = ExplainKnown(s, native[k], interp);
          !known.empty()) {
        sum.known.push_back(
            absl::StrCat("[known: ", known, "] ", DescribeSnippet(s), diff));
      } else {
        sum.divergences.push_back(absl::StrCat(DescribeSnippet(s), diff));
      }
    }
  }
  return sum;
}

}  // namespace skiff::tcg::difftest
