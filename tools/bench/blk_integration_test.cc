// Runs a tiny `skiff-bench blk` (1 run, 1 s per workload, 16 MiB image) on
// the cached default guest under skiff, and QEMU when it is installed, and
// checks its JSON. Skips when the guest, its skiff-iobench or skiff is
// missing.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tools/bench/integration_testing.h"
#include "tools/bench/json_reader.h"
#include "tools/bench/smaps.h"

namespace skiff::bench {
namespace {

TEST(BlkIntegration, SkiffAndQemuReadTheSameImage) {
  const std::string guest = CachedGuestDir();
  if (std::string why = MissingGuestReason(guest); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::string initrd = guest + "/initramfs.cpio";
  // A newc cpio stores names in clear: an initramfs built before
  // skiff-iobench existed cannot run the benchmark.
  absl::StatusOr<std::string> cpio = ReadSmallFile(initrd, 256 << 20);
  if (!cpio.ok() || cpio->find("bin/skiff-iobench") == std::string::npos) {
    GTEST_SKIP() << initrd << " has no /bin/skiff-iobench "
                 << "(run scripts/prepare-guest)";
  }
  if (access(SKIFF_EXE, X_OK) != 0) {
    GTEST_SKIP() << SKIFF_EXE << " is not built";
  }
  const bool qemu = OnPath("qemu-system-x86_64");
  if (!qemu) {
    std::printf("qemu-system-x86_64 is not installed: skiff only\n");
  }
  const std::filesystem::path dir = FreshTestDir("bench_blk_integration");
  const std::string json = (dir / "blk.json").string();
  const std::string cmd = absl::StrCat(
      "'", SKIFF_BENCH_EXE,
      "' blk --runs 1 --seconds 1 --size 16M --accel tcg --vmm skiff ",
      qemu ? "--vmm qemu " : "", "--timeout 240 --skiff '", SKIFF_EXE,
      "' --json '", json, "' </dev/null");
  int status = 0;
  absl::StatusOr<JsonValue> v = RunBenchForJson(cmd, json, status);
  ASSERT_TRUE(v.ok()) << v.status();
  const JsonValue* vmms = v->Find("vmms");
  ASSERT_NE(vmms, nullptr);
  ASSERT_EQ(vmms->array.size(), qemu ? 2u : 1u);
  for (const JsonValue& vmm : vmms->array) {
    SCOPED_TRACE(vmm.Find("name")->string);
    const JsonValue* runs = vmm.Find("runs");
    ASSERT_NE(runs, nullptr);
    ASSERT_EQ(runs->array.size(), 1u);
    const JsonValue& run = runs->array[0];
    EXPECT_TRUE(run.Find("ok")->boolean) << RunFailure(run);
    for (const char* w : {"randread-4k-qd32", "seqread-1m-qd1"}) {
      const JsonValue* r = run.Find("results")->Find(w);
      ASSERT_NE(r, nullptr) << w;
      EXPECT_GT(r->Find("iops")->number, 0) << w;
      EXPECT_GT(r->Find("mbps")->number, 0) << w;
      EXPECT_GT(r->Find("ios")->number, 0) << w;
    }
  }
  if (qemu) {
    const JsonValue* ratios = v->Find("ratios_p50");
    ASSERT_NE(ratios, nullptr);
    EXPECT_GT(ratios->Find("randread-4k-qd32")->number, 0);
  }
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace skiff::bench
