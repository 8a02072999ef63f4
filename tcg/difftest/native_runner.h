// NativeRunner: runs snippets on the host CPU at CPL 3, in a forked child
// process, from the registers, flags and data area a Snippet describes, and
// reports the registers, flags, data area and any exception they produce.
//
//   SKIFF_ASSIGN_OR_RETURN(auto runner, NativeRunner::Create({}));
//   SKIFF_ASSIGN_OR_RETURN(std::vector<Outcome> out, runner->Run(snippets));
//
// How: the child maps the data area and a code page at the fixed addresses
// in snippet.h, writes a prologue right before kCodeBase (saves the host's
// callee-saved registers and RSP, loads RFLAGS with POPFQ and the 16 GPRs
// from a control page) and an epilogue right after the snippet (stores the
// GPRs and PUSHFQs RFLAGS into the control page, returns to C++). A fault
// becomes a signal whose handler (on an alternate stack, so the snippet's
// stack in the data area is not touched) reads the exception vector
// (REG_TRAPNO), error code and registers from the ucontext and siglongjmps
// back. Snippets run in batches, one child per batch; results go through a
// shared mapping, so a child killed by a snippet (seccomp, a CPU-time limit)
// costs only that snippet. The child installs a seccomp filter that allows
// only rt_sigreturn, rt_sigprocmask, setitimer and exit, so even a snippet
// that reaches SYSCALL cannot do anything but die.
#ifndef SKIFF_TCG_DIFFTEST_NATIVE_RUNNER_H_
#define SKIFF_TCG_DIFFTEST_NATIVE_RUNNER_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "tcg/difftest/snippet.h"

namespace skiff::tcg::difftest {

class NativeRunner {
 public:
  struct Options {
    int batch_size = 128;
    // CPU time (ITIMER_VIRTUAL) a snippet may use before it is a timeout.
    int timeout_ms = 2000;
    bool seccomp = true;
  };
  static absl::StatusOr<std::unique_ptr<NativeRunner>> Create(
      const Options& options);
  ~NativeRunner();
  NativeRunner(const NativeRunner&) = delete;
  NativeRunner& operator=(const NativeRunner&) = delete;

  // One Outcome per snippet, in order. Fails only when the child cannot be
  // set up at all (e.g. the fixed addresses are taken).
  absl::StatusOr<std::vector<Outcome>> Run(absl::Span<const Snippet> snippets);

 private:
  NativeRunner(const Options& options, void* shared, size_t shared_size)
      : options_(options), shared_(shared), shared_size_(shared_size) {}
  // Runs snippets[begin, end) in a child. Returns how many completed (all
  // of them, or fewer when the child died on snippet begin + return value).
  absl::StatusOr<size_t> RunBatch(absl::Span<const Snippet> snippets,
                                  size_t begin, size_t end,
                                  std::vector<Outcome>* out);

  const Options options_;
  void* const shared_;  // MAP_SHARED results of one batch
  const size_t shared_size_;
};

}  // namespace skiff::tcg::difftest

#endif  // SKIFF_TCG_DIFFTEST_NATIVE_RUNNER_H_
