// Runs `skiff-bench boot --runs 2 --vmm skiff --vmm qemu` on the cached
// default guest and checks its JSON. Skips when the guest or QEMU is absent.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tools/bench/integration_testing.h"
#include "tools/bench/json_reader.h"

namespace skiff::bench {
namespace {

TEST(BootIntegration, SkiffAndQemuSideBySide) {
  if (std::string why = MissingGuestReason(CachedGuestDir()); !why.empty()) {
    GTEST_SKIP() << why;
  }
  if (!OnPath("qemu-system-x86_64")) {
    GTEST_SKIP() << "qemu-system-x86_64 is not installed";
  }
  const std::filesystem::path dir = FreshTestDir("bench_boot_integration");
  const std::string json = (dir / "boot.json").string();
  const std::string svg = (dir / "boot.svg").string();
  const std::string cmd = absl::StrCat(
      "'", SKIFF_BENCH_EXE,
      "' boot --runs 2 --parallel 1 --accel tcg "
      "--vmm skiff --vmm qemu --timeout 240 --skiff '",
      SKIFF_EXE, "' --json '", json, "' --svg '", svg, "' </dev/null");
  int status = 0;
  absl::StatusOr<JsonValue> v = RunBenchForJson(cmd, json, status);
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
      EXPECT_TRUE(run.Find("ok")->boolean) << RunFailure(run);
      if (!run.Find("ok")->boolean) continue;
      const double console = run.Find("console_us")->number;
      const double init = run.Find("init_us")->number;
      const double exit = run.Find("exit_us")->number;
      EXPECT_GT(console, 0);
      EXPECT_LE(console, init);
      EXPECT_LE(init, exit);
      EXPECT_FALSE(run.Find("rss_kib")->is_null());
      const JsonValue* tcg = run.Find("tcg_rss_kib");
      if (name == "skiff") {
        EXPECT_FALSE(run.Find("guest_entry_us")->is_null());
        // Under tcg, the interpreter's caches are a part of the RSS.
        EXPECT_GT(tcg->number, 0);
        EXPECT_LT(tcg->number, run.Find("rss_kib")->number);
      } else {
        EXPECT_TRUE(run.Find("guest_entry_us")->is_null());
        EXPECT_TRUE(tcg->is_null());
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
