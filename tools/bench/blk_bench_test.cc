#include "tools/bench/blk_bench.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/bench/json_reader.h"

namespace skiff::bench {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

BlkOptions Options() {
  BlkOptions o;
  o.common.kernel = "/k/vmlinux";
  o.common.initrd = "/k/initramfs.cpio";
  o.common.accel = "tcg";
  o.common.skiff_path = "/bin/skiff";
  o.seconds = 2;
  return o;
}

std::string ValueAfter(const std::vector<std::string>& argv,
                       const std::string& flag) {
  auto it = std::find(argv.begin(), argv.end(), flag);
  if (it == argv.end() || it + 1 == argv.end()) return "";
  return *(it + 1);
}

TEST(ParseIobenchLine, ParsesTheResultLine) {
  std::optional<IobenchResult> r = ParseIobenchLine(
      "skiff-iobench randread iops=12345 mbps=48.2 ios=61725 seconds=5.000 "
      "bs=4096 qd=32 direct=1");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->mode, "randread");
  EXPECT_EQ(r->iops, 12345);
  EXPECT_DOUBLE_EQ(r->mbps, 48.2);
  EXPECT_EQ(r->ios, 61725u);
  EXPECT_DOUBLE_EQ(r->seconds, 5.0);
}

TEST(ParseIobenchLine, ToleratesAPrefixAndRejectsJunk) {
  EXPECT_TRUE(ParseIobenchLine("[    3.1] skiff-iobench seqread iops=10 "
                               "mbps=10.5 ios=50 seconds=5")
                  .has_value());
  EXPECT_FALSE(ParseIobenchLine("skiff-iobench: open /dev/vda: No such file")
                   .has_value());
  EXPECT_FALSE(ParseIobenchLine("skiff-iobench randread iops=x mbps=1 ios=1 "
                                "seconds=1")
                   .has_value());
  EXPECT_FALSE(ParseIobenchLine("skiff-iobench randread iops=1 mbps=1 ios=1")
                   .has_value());
  EXPECT_FALSE(ParseIobenchLine("skiff-iobench randread iops=-1 mbps=1 ios=1 "
                                "seconds=1")
                   .has_value());
  EXPECT_FALSE(ParseIobenchLine("skiff-iobench iops=1 mbps=1 ios=1 seconds=1")
                   .has_value());
  EXPECT_FALSE(ParseIobenchLine("").has_value());
}

TEST(GuestScript, RunsEveryWorkloadOnVda) {
  const BlkOptions o = Options();
  const std::string script = GuestScript(DefaultBlkWorkloads(o), 2);
  EXPECT_THAT(script,
              HasSubstr("skiff-iobench randread /dev/vda --bs 4K --qd 32 "
                        "--seconds 2 || rc=1\n"));
  EXPECT_THAT(script, HasSubstr("skiff-iobench seqread /dev/vda --bs 1M --qd 1 "
                                "--seconds 2 || rc=1\n"));
  EXPECT_THAT(script, HasSubstr("exit $rc"));
}

TEST(BlkSpecs, SkiffGetsTheDiskAndTheScript) {
  const BlkOptions o = Options();
  const VmmSpec s = SkiffBlkSpec(o, "/img/disk.img", DefaultBlkWorkloads(o));
  EXPECT_EQ(s.name, "skiff");
  EXPECT_EQ(ValueAfter(s.argv, "--disk"), "path=/img/disk.img,direct=on");
  const std::string cmdline = ValueAfter(s.argv, "--cmdline");
  EXPECT_THAT(cmdline, HasSubstr("skiff.exit=reboot"));
  EXPECT_THAT(cmdline, ::testing::Not(HasSubstr("skiff.check=")));
  const size_t at = cmdline.find("skiff.cmd64=");
  ASSERT_NE(at, std::string::npos);
  std::string b64 = cmdline.substr(at + 12);
  b64 = b64.substr(0, b64.find(' '));
  std::string script;
  ASSERT_TRUE(absl::Base64Unescape(b64, &script));
  EXPECT_EQ(script, GuestScript(DefaultBlkWorkloads(o), o.seconds));
}

TEST(BlkSpecs, QemuUsesIoUringWithoutHostCache) {
  BlkOptions o = Options();
  o.common.append = "quiet";
  const VmmSpec s =
      QemuBlkSpec(o, "/img/a,b.img", DefaultBlkWorkloads(o), 2'000'000);
  EXPECT_EQ(s.name, "qemu");
  EXPECT_EQ(ValueAfter(s.argv, "-drive"),
            "file=/img/a,,b.img,format=raw,if=none,id=d0,aio=io_uring,"
            "cache=none");
  EXPECT_EQ(ValueAfter(s.argv, "-device"),
            "isa-debug-exit,iobase=0xf4,iosize=0x04");
  EXPECT_THAT(s.argv, Contains("virtio-blk-device,drive=d0"));
  EXPECT_EQ(ValueAfter(s.argv, "-accel"), "tcg");
  const std::string cmdline = ValueAfter(s.argv, "-append");
  EXPECT_THAT(cmdline, HasSubstr("tsc_early_khz=2000000"));
  EXPECT_THAT(cmdline, HasSubstr("skiff.cmd64="));
  EXPECT_TRUE(cmdline.ends_with(" quiet")) << cmdline;
}

BlkReport TwoVmmReport() {
  BlkReport report;
  report.runs = 2;
  report.workloads = DefaultBlkWorkloads(Options());
  for (const char* name : {"skiff", "qemu"}) {
    BlkVmmResult vmm{.name = name, .command = {name, "run"}};
    const double scale = std::string(name) == "skiff" ? 2 : 1;
    for (int i = 0; i < 2; ++i) {
      BlkRun run;
      run.index = i;
      run.ok = true;
      run.results.push_back(IobenchResult{.mode = "randread",
                                          .iops = 1000 * scale * (i + 1),
                                          .mbps = 4 * scale * (i + 1),
                                          .ios = 10,
                                          .seconds = 1});
      run.results.push_back(IobenchResult{
          .mode = "seqread", .iops = 50, .mbps = 50, .ios = 5, .seconds = 1});
      vmm.runs.push_back(run);
    }
    BlkRun failed;
    failed.index = 2;
    failed.failure = "timeout after 1 s";
    failed.results.resize(2);
    vmm.runs.push_back(failed);
    report.vmms.push_back(vmm);
  }
  return report;
}

TEST(FormatBlkTable, ShowsP50sFailuresAndRatios) {
  const std::string table = FormatBlkTable(TwoVmmReport());
  EXPECT_THAT(table, HasSubstr("randread-4k-qd32"));
  // skiff randread p50 over 2000 and 4000 is 3000.
  EXPECT_THAT(table, HasSubstr("3000"));
  EXPECT_THAT(table, HasSubstr("skiff  run 2 failed: timeout after 1 s"));
  EXPECT_THAT(table, HasSubstr("skiff  ok 2/3"));
  EXPECT_THAT(table, HasSubstr("randread-4k-qd32 2.00 seqread-1m-qd1 1.00"));
}

TEST(BlkToJson, IsValidJsonWithRunsSummaryAndRatios) {
  const std::string text = BlkToJson(TwoVmmReport());
  absl::StatusOr<JsonValue> v = ParseJson(text);
  ASSERT_TRUE(v.ok()) << v.status() << "\n" << text;
  const JsonValue* vmms = v->Find("vmms");
  ASSERT_NE(vmms, nullptr);
  ASSERT_EQ(vmms->array.size(), 2u);
  const JsonValue& skiff = vmms->array[0];
  ASSERT_EQ(skiff.Find("runs")->array.size(), 3u);
  EXPECT_EQ(skiff.Find("runs")
                ->array[1]
                .Find("results")
                ->Find("randread-4k-qd32")
                ->Find("iops")
                ->number,
            4000);
  EXPECT_EQ(skiff.Find("summary")
                ->Find("randread-4k-qd32")
                ->Find("iops")
                ->Find("p50")
                ->number,
            3000);
  EXPECT_EQ(v->Find("ratios_p50")->Find("randread-4k-qd32")->number, 2);
}

TEST(BlkToJson, OneVmmHasNoRatios) {
  BlkReport report = TwoVmmReport();
  report.vmms.pop_back();
  absl::StatusOr<JsonValue> v = ParseJson(BlkToJson(report));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->Find("ratios_p50")->is_null());
}

}  // namespace
}  // namespace skiff::bench
