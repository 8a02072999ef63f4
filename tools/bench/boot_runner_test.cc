#include "tools/bench/boot_runner.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace skiff::bench {
namespace {

// A stand-in VMM: a shell script printing what skiff would.
VmmSpec FakeVmm(const std::string& script) {
  return VmmSpec{.name = "fake",
                 .argv = {"/bin/sh", "-c", script},
                 .memory_bytes = 512ull << 20};
}

TEST(BootRunner, TimesMilestonesOfAGoodBoot) {
  const VmmResult r = RunBatch(
      FakeVmm("echo 'skiff: info vcpu0 first guest entry after_us=42' >&2; "
              "echo '[    0.0] Linux version'; echo 'skiff-init: ready'; "
              "echo 'skiff: info boot-timer: guest boot time wall_us=77' >&2"),
      3, 2, 30, nullptr);
  ASSERT_EQ(r.runs.size(), 3u);
  for (const BootRun& run : r.runs) {
    EXPECT_TRUE(run.ok) << run.failure;
    EXPECT_EQ(run.guest_entry_us, 42);
    EXPECT_EQ(run.boot_timer_us, 77);
    ASSERT_TRUE(run.console_us && run.init_us && run.exit_us);
    EXPECT_LE(*run.console_us, *run.init_us);
    EXPECT_LE(*run.init_us, *run.exit_us);
    EXPECT_EQ(run.exit_code, 0);
  }
  EXPECT_EQ(OkCount(r), 3);
  EXPECT_GT(CreationRate(r), 0);
}

TEST(BootRunner, CountsFailures) {
  const VmmResult no_init = RunBatch(FakeVmm("echo hello"), 1, 1, 30, nullptr);
  ASSERT_EQ(no_init.runs.size(), 1u);
  EXPECT_FALSE(no_init.runs[0].ok);
  EXPECT_NE(no_init.runs[0].failure.find("no init line"), std::string::npos);
  EXPECT_EQ(no_init.runs[0].last_console_line, "hello");

  const VmmResult bad_exit = RunBatch(
      FakeVmm("echo 'skiff-init: ready'; echo 'skiff: error boom' >&2; exit 3"),
      1, 1, 30, nullptr);
  EXPECT_FALSE(bad_exit.runs[0].ok);
  EXPECT_EQ(bad_exit.runs[0].failure, "exit status 3");
  EXPECT_EQ(bad_exit.runs[0].last_stderr_line, "skiff: error boom");

  const VmmResult hung = RunBatch(
      FakeVmm("echo 'skiff-init: ready'; exec sleep 30"), 1, 1, 0.3, nullptr);
  EXPECT_FALSE(hung.runs[0].ok);
  EXPECT_EQ(hung.runs[0].failure, "timeout after 0.3 s");
  EXPECT_EQ(hung.runs[0].signal, 9);

  const VmmResult missing = RunBatch(
      VmmSpec{.name = "x", .argv = {"/nonexistent/vmm"}}, 2, 1, 30, nullptr);
  ASSERT_EQ(missing.runs.size(), 2u);
  EXPECT_FALSE(missing.runs[0].ok);
  EXPECT_FALSE(missing.runs[0].failure.empty());
}

TEST(BootRunner, SamplesRssAtInit) {
  // The shell itself has no 512 MiB mapping, so only the total is known.
  const VmmResult r = RunBatch(FakeVmm("echo 'skiff-init: ready'; sleep 0.2"),
                               1, 1, 30, nullptr);
  ASSERT_TRUE(r.runs[0].ok) << r.runs[0].failure;
  EXPECT_FALSE(r.runs[0].rss_kib);
  ASSERT_TRUE(r.runs[0].total_rss_kib);
  EXPECT_GT(*r.runs[0].total_rss_kib, 0u);
}

TEST(BootRunner, ProgressIsCalledPerBoot) {
  int calls = 0;
  RunBatch(FakeVmm("echo 'skiff-init: ready'"), 3, 1, 30,
           [&](int done, int total, int) {
             ++calls;
             EXPECT_EQ(total, 3);
             EXPECT_EQ(done, calls);
           });
  EXPECT_EQ(calls, 3);
}

TEST(BootRunner, CommandLines) {
  BootOptions o;
  o.kernel = "/k";
  o.initrd = "/i";
  o.accel = "tcg";
  o.skiff_path = "/b/skiff";
  o.append = "quiet";
  const VmmSpec s = SkiffSpec(o);
  EXPECT_EQ(s.argv[0], "/b/skiff");
  EXPECT_EQ(s.argv.back(),
            "console=ttyS0 reboot=k panic=-1 pci=off nomodule "
            "skiff.check=boot skiff.exit=reboot quiet");
  EXPECT_EQ(s.memory_bytes, 512ull << 20);
  const VmmSpec q = QemuSpec(o, 2096018);
  EXPECT_EQ(q.argv[0], "qemu-system-x86_64");
  EXPECT_EQ(q.argv.back(), "-no-reboot");
  bool found = false;
  for (size_t i = 0; i + 1 < q.argv.size(); ++i) {
    if (q.argv[i] == "-append") {
      found = true;
      EXPECT_NE(q.argv[i + 1].find("tsc_early_khz=2096018"), std::string::npos);
    }
  }
  EXPECT_TRUE(found);
}

TEST(BootRunner, CpuinfoKhz) {
  EXPECT_EQ(ParseCpuinfoKhz("processor\t: 0\ncpu MHz\t\t: 2096.018\n"),
            2096018);
  EXPECT_FALSE(ParseCpuinfoKhz("processor\t: 0\n"));
  EXPECT_FALSE(ParseCpuinfoKhz("cpu MHz\t: fast\n"));
}

TEST(BootRunner, VmmsTakeTurnsAWaveAtATime) {
  const std::string log = ::testing::TempDir() + "/skiff-bench-turns.log";
  std::remove(log.c_str());
  auto vmm = [&log](const std::string& name) {
    VmmSpec spec =
        FakeVmm("echo " + name + " >> " + log + "; echo 'skiff-init: ready'");
    spec.name = name;
    return spec;
  };
  const std::vector<VmmResult> results =
      RunInterleaved({vmm("a"), vmm("b")}, 5, 2, 30, nullptr);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].name, "a");
  EXPECT_EQ(results[1].name, "b");
  EXPECT_EQ(OkCount(results[0]), 5);
  EXPECT_EQ(OkCount(results[1]), 5);
  EXPECT_GT(results[0].batch_seconds, 0);
  EXPECT_GT(CreationRate(results[1]), 0);
  // Waves of two, then the fifth boot of each.
  std::ifstream in(log);
  std::string order, line;
  while (std::getline(in, line)) order += line;
  EXPECT_EQ(order, "aabbaabbab");
  std::remove(log.c_str());
}

}  // namespace
}  // namespace skiff::bench
