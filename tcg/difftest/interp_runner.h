// InterpRunner: runs snippets under the interpreter (TcgVcpu) in 64-bit mode
// at CPL 3, with the code and data area at the same linear addresses as the
// native run and only those pages user-accessible, and reports the same
// Outcome as NativeRunner.
//
//   SKIFF_ASSIGN_OR_RETURN(auto interp, InterpRunner::Create());
//   Outcome o = interp->Run(snippet);
//
// The snippet is followed by HLT, which #GPs at CPL 3: a #GP whose RIP is
// the end of the snippet is a completed run. Every IDT vector points at a
// ring-0 stub "push vector; hlt" (on the RSP0 stack), so the exception
// frame (Intel SDM vol. 3, figure 6-9) gives the user RIP, RSP and RFLAGS
// and every other register is untouched.
#ifndef SKIFF_TCG_DIFFTEST_INTERP_RUNNER_H_
#define SKIFF_TCG_DIFFTEST_INTERP_RUNNER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "base/x86_state.h"
#include "tcg/difftest/snippet.h"
#include "tcg/testing/tcg_test_util.h"

namespace skiff::tcg::difftest {

class InterpRunner {
 public:
  static absl::StatusOr<std::unique_ptr<InterpRunner>> Create();
  Outcome Run(const Snippet& snippet);

 private:
  InterpRunner() = default;
  absl::Status Setup();

  std::unique_ptr<testing::FlatMachine> m_;
  Sregs sregs_{};
  uint64_t insn_limit_ = 1'000'000;
};

}  // namespace skiff::tcg::difftest

#endif  // SKIFF_TCG_DIFFTEST_INTERP_RUNNER_H_
