// Runs a program to completion with a time limit and captures its output;
// used by tests that drive the real `skiff` binary as a user would.
//
//   auto r = RunProcess({"/path/skiff", "run", "--kernel", k},
//   absl::Seconds(30)); EXPECT_EQ(r.exit_status, 0); EXPECT_THAT(r.out,
//   HasSubstr("hello"));
#ifndef SKIFF_TESTS_INTEGRATION_SUBPROCESS_H_
#define SKIFF_TESTS_INTEGRATION_SUBPROCESS_H_

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace skiff::testing {

struct ProcessResult {
  int exit_status = -1;  // -1 when killed by a signal (see term_signal)
  int term_signal = 0;
  bool timed_out = false;
  std::string out;
  std::string err;
};

// `input` is written to the child's stdin, which is then closed.
ProcessResult RunProcess(const std::vector<std::string>& argv,
                         absl::Duration timeout, const std::string& input = "");

}  // namespace skiff::testing

#endif  // SKIFF_TESTS_INTEGRATION_SUBPROCESS_H_
