// The differential harness driver: runs snippets natively and under the
// interpreter, compares the outcomes, and sorts differences into new
// divergences and known ones (KnownDivergence, an explicit list kept in
// difftest.cc with one entry per interpreter bug or host quirk found).
//
//   SKIFF_ASSIGN_OR_RETURN(auto h, DiffHarness::Create());
//   SKIFF_ASSIGN_OR_RETURN(DiffSummary sum, h->Run(snippets));
//   for (const auto& d : sum.divergences) std::cout << d;
#ifndef SKIFF_TCG_DIFFTEST_DIFFTEST_H_
#define SKIFF_TCG_DIFFTEST_DIFFTEST_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "tcg/difftest/interp_runner.h"
#include "tcg/difftest/native_runner.h"
#include "tcg/difftest/snippet.h"

namespace skiff::tcg::difftest {

struct DiffSummary {
  size_t sequences = 0;
  uint64_t instructions = 0;             // retired by the interpreter
  size_t exceptions = 0;                 // sequences that ended on an exception
  std::vector<std::string> divergences;  // reports of unexpected ones
  std::vector<std::string> known;        // reports matching the known list
  std::string Line() const;              // one-line summary
};

// A known divergence: an interpreter bug (or host quirk) found by this
// harness and reported, not yet fixed. `patch` rewrites the interpreter's
// outcome into what it would be without the bug (or does nothing when the
// bug is not involved); a snippet whose outcomes agree once every applicable
// patch ran counts as known rather than new. `only_case`, when set, limits
// the entry to hand-written cases whose name contains it (for bugs whose
// effect cannot be recognised safely in random sequences; the generator
// avoids those, see GeneratorOptions::avoid_known_bugs).
struct KnownDivergence {
  const char* what;
  const char* only_case;
  void (*patch)(const Outcome& native, Outcome* interp);
};
const std::vector<KnownDivergence>& KnownDivergences();

class DiffHarness {
 public:
  static absl::StatusOr<std::unique_ptr<DiffHarness>> Create(
      const NativeRunner::Options& native_options = {});
  absl::StatusOr<DiffSummary> Run(absl::Span<const Snippet> snippets);

 private:
  DiffHarness(std::unique_ptr<NativeRunner> native,
              std::unique_ptr<InterpRunner> interp)
      : native_(std::move(native)), interp_(std::move(interp)) {}
  std::unique_ptr<NativeRunner> native_;
  std::unique_ptr<InterpRunner> interp_;
};

}  // namespace skiff::tcg::difftest

#endif  // SKIFF_TCG_DIFFTEST_DIFFTEST_H_
