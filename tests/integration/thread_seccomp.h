// The seccomp mode of every thread of a running process, from
// /proc/<pid>/task/*/status (proc(5): "Seccomp:" 0 none, 1 strict,
// 2 filter), for tests that check each skiff thread confines itself.
//
//   for (const auto& [tid, t] : ThreadSeccompModes(pid)) {
//     EXPECT_EQ(t.mode, 2) << t.name;
//   }
#ifndef SKIFF_TESTS_INTEGRATION_THREAD_SECCOMP_H_
#define SKIFF_TESTS_INTEGRATION_THREAD_SECCOMP_H_

#include <sys/types.h>

#include <map>
#include <string>

namespace skiff::testing {

struct ThreadSeccomp {
  std::string name;  // "Name:" (the thread's comm)
  int mode = -1;
};

// Keyed by thread id; empty once the process has gone.
std::map<std::string, ThreadSeccomp> ThreadSeccompModes(pid_t pid);

// "name(tid)=mode ..." for failure messages.
std::string DescribeThreads(
    const std::map<std::string, ThreadSeccomp>& threads);

}  // namespace skiff::testing

#endif  // SKIFF_TESTS_INTEGRATION_THREAD_SECCOMP_H_
