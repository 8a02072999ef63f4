// Runs `skiff-bench boot --runs 2 --vmm skiff --vmm qemu` on the cached
// default guest and checks its JSON. Skips when the guest or QEMU is absent.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tools/bench/bench_flags.h"
#include "tools/bench/json_reader.h"
#include "tools/bench/smaps.h"

namespace skiff::bench {
namespace {

bool OnPath(const std::string& name) {
  const char* path = getenv("PATH");
  if (path == nullptr) return false;
  std::string_view rest = path;
  while (!rest.empty()) {
    const size_t colon = rest.find(':');
    const std::string dir(rest.substr(0, colon));
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) {
      return true;
    }
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return false;
}

TEST(BootIntegration, SkiffAndQemuSideBySide) {
  const char* home = getenv("HOME");
  const std::string guest = DefaultGuestDir(home ? home : "");
  if (!home || access((guest + "/vmlinux").c_str(), R_OK) != 0 ||
      access((guest + "/initramfs.cpio").c_str(), R_OK) != 0) {
    GTEST_SKIP() << "no cached guest in " << guest
                 << " (run scripts/prepare-guest)";
  }
  if (!OnPath("qemu-system-x86_64")) {
    GTEST_SKIP() << "qemu-system-x86_64 is not installed";
  }
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / "bench_boot_integration";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string json = (dir / "boot.json").string();
  const std::string svg = (dir / "boot.svg").string();
  const std::string cmd = absl::StrCat(
      "'", SKIFF_BENCH_EXE,
      "' boot --runs 2 --parallel 1 --accel tcg "
      "--vmm skiff --vmm qemu --timeout 240 --skiff '",
      SKIFF_EXE, "' --json '", json, "' --svg '", svg, "' </dev/null");
  std::printf("running: %s\n", cmd.c_str());
  std::fflush(stdout);
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << status;

  absl::StatusOr<std::string> text = ReadSmallFile(json);
  ASSERT_TRUE(text.ok()) << text.status();
  absl::StatusOr<JsonValue> v = ParseJson(*text);
  ASSERT_TRUE(v.ok()) << v.status();
  const JsonValue* vmms = v->Find("vmms");
  ASSERT_NE(vmms, nullptr);
  ASSERT_EQ(vmms->array.size(), 2u);
  for (const JsonValue& vmm : vmms->array) {
    const std::string name = vmm.Find("name")->string;
    SCOPED_TRACE(name);
    const JsonValue* runs = vmm.Find("runs");
    ASSERT_NE(runs, nullptr);
    ASSERT_EQ(runs->array.size(), 2u);
    for (const JsonValue& run : runs->array) {
      EXPECT_TRUE(run.Find("ok")->boolean)
          << run.Find("failure")->string
          << " / console: " << run.Find("last_console_line")->string
          << " / stderr: " << run.Find("last_stderr_line")->string;
      if (!run.Find("ok")->boolean) continue;
      const double console = run.Find("console_us")->number;
      const double init = run.Find("init_us")->number;
      const double exit = run.Find("exit_us")->number;
      EXPECT_GT(console, 0);
      EXPECT_LE(console, init);
      EXPECT_LE(init, exit);
      EXPECT_FALSE(run.Find("rss_kib")->is_null());
      if (name == "skiff") {
        EXPECT_FALSE(run.Find("guest_entry_us")->is_null());
      } else {
        EXPECT_TRUE(run.Find("guest_entry_us")->is_null());
      }
    }
    const JsonValue* init =
        vmm.Find("summary")->Find("phases_us")->Find("init");
    ASSERT_NE(init, nullptr);
    EXPECT_FALSE(init->is_null());
  }
  const JsonValue* ratios = v->Find("ratios_p50");
  ASSERT_NE(ratios, nullptr);
  EXPECT_GT(ratios->Find("init")->number, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  absl::StatusOr<std::string> plot = ReadSmallFile(svg);
  ASSERT_TRUE(plot.ok()) << plot.status();
  EXPECT_NE(plot->find("</svg>"), std::string::npos);
}

}  // namespace
}  // namespace skiff::bench
