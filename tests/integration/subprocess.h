// Runs a program with its stdio on pipes, for tests that drive the real
// `skiff` binary as a user would: to completion with a time limit, or
// interactively (wait for a prompt, type a line, read the answer).
//
//   auto r = RunProcess({"/path/skiff", "run", "--kernel", k},
//                       absl::Seconds(30));
//   EXPECT_EQ(r.exit_status, 0);
//
//   Subprocess p;
//   ASSERT_TRUE(p.Start({"/path/skiff", "run"}).ok());
//   ASSERT_TRUE(p.WaitForOutput("# ", absl::Seconds(60)));
//   p.Write("echo hi\n");
//   ProcessResult r = p.Wait(absl::Seconds(30));
#ifndef SKIFF_TESTS_INTEGRATION_SUBPROCESS_H_
#define SKIFF_TESTS_INTEGRATION_SUBPROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace skiff::testing {

struct ProcessResult {
  int exit_status = -1;  // -1 when killed by a signal (see term_signal)
  int term_signal = 0;
  bool timed_out = false;
  std::string out;
  std::string err;
};

class Subprocess {
 public:
  Subprocess() = default;
  // Kills the child if it still runs.
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  absl::Status Start(const std::vector<std::string>& argv);
  // Writes to the child's stdin (until CloseStdin).
  void Write(const std::string& data);
  void CloseStdin();
  // Reads stdout and stderr until stdout contains `text` after position
  // `from` (an offset into out()); false on timeout or end of output.
  bool WaitForOutput(const std::string& text, absl::Duration timeout,
                     size_t from = 0);
  // Closes stdin, reads everything until the child exits (killing it at the
  // deadline) and reaps it.
  ProcessResult Wait(absl::Duration timeout);
  void Kill(int signal);

  const std::string& out() const { return result_.out; }
  const std::string& err() const { return result_.err; }
  pid_t pid() const { return pid_; }

 private:
  // One poll round until `deadline`; false when both pipes are closed or
  // the deadline passed.
  bool Pump(absl::Time deadline);

  pid_t pid_ = -1;
  int in_fd_ = -1;
  int fds_[2] = {-1, -1};  // stdout, stderr
  ProcessResult result_;
};

// `input` is written to the child's stdin, which is then closed.
ProcessResult RunProcess(const std::vector<std::string>& argv,
                         absl::Duration timeout, const std::string& input = "");

// What `skiff probe` says about this host, asked once per process.
const std::string& ProbeOutput(const std::string& skiff_bin);

}  // namespace skiff::testing

#endif  // SKIFF_TESTS_INTEGRATION_SUBPROCESS_H_
