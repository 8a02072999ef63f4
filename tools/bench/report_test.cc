#include "tools/bench/report.h"

#include "gtest/gtest.h"
#include "tools/bench/json_reader.h"

namespace skiff::bench {
namespace {

BootRun OkRun(int i, int64_t init_us) {
  BootRun r;
  r.index = i;
  r.ok = true;
  r.exit_code = 0;
  r.console_us = init_us / 2;
  r.init_us = init_us;
  r.exit_us = init_us + 1000;
  r.rss_kib = 2000 + static_cast<uint64_t>(i);
  return r;
}

BenchReport TwoVmmReport() {
  BenchReport report;
  report.config = BenchConfig{.runs = 3,
                              .parallel = 2,
                              .accel = "tcg",
                              .kernel = "/k",
                              .initrd = "/i",
                              .memory_mib = 512,
                              .timeout_s = 60};
  VmmResult skiff{.name = "skiff", .command = {"skiff", "run"}};
  for (int i = 0; i < 3; ++i) {
    skiff.runs.push_back(OkRun(i, 1'000'000 * (i + 1)));
    skiff.runs.back().guest_entry_us = 300'000;
    skiff.runs.back().tcg_rss_kib = 1500;
  }
  skiff.batch_seconds = 3;
  VmmResult qemu{.name = "qemu", .command = {"qemu-system-x86_64", "-M"}};
  qemu.runs.push_back(OkRun(0, 4'000'000));
  BootRun failed;
  failed.index = 1;
  failed.failure = "timeout after 60 s";
  failed.last_console_line = "weird \x01 \"bytes\" \xff";
  qemu.runs.push_back(failed);
  qemu.batch_seconds = 4;
  report.vmms = {skiff, qemu};
  return report;
}

TEST(Report, JsonQuoteEscapes) {
  EXPECT_EQ(JsonQuote("a\"b\\c\n\x01\xff"), "\"a\\\"b\\\\c\\n\\u0001\\u00ff\"");
}

TEST(Report, JsonIsValidAndComplete) {
  const std::string json = ToJson(TwoVmmReport());
  absl::StatusOr<JsonValue> v = ParseJson(json);
  ASSERT_TRUE(v.ok()) << v.status() << "\n" << json;
  EXPECT_EQ(v->Find("config")->Find("parallel")->number, 2);
  const JsonValue* vmms = v->Find("vmms");
  ASSERT_NE(vmms, nullptr);
  ASSERT_EQ(vmms->array.size(), 2u);
  const JsonValue& skiff = vmms->array[0];
  EXPECT_EQ(skiff.Find("name")->string, "skiff");
  EXPECT_EQ(skiff.Find("runs")->array.size(), 3u);
  EXPECT_EQ(skiff.Find("runs")->At(1)->Find("init_us")->number, 2'000'000);
  const JsonValue* init =
      skiff.Find("summary")->Find("phases_us")->Find("init");
  ASSERT_NE(init, nullptr);
  EXPECT_EQ(init->Find("p50")->number, 2'000'000);
  EXPECT_EQ(init->Find("count")->number, 3);
  EXPECT_DOUBLE_EQ(skiff.Find("summary")->Find("creation_rate_per_s")->number,
                   1.0);
  const JsonValue& qemu = vmms->array[1];
  EXPECT_EQ(qemu.Find("summary")->Find("failed")->number, 1);
  EXPECT_EQ(qemu.Find("summary")
                ->Find("failures")
                ->Find("timeout after 60 s")
                ->number,
            1);
  EXPECT_TRUE(
      qemu.Find("summary")->Find("phases_us")->Find("guest_entry")->is_null());
  EXPECT_TRUE(qemu.Find("runs")->At(1)->Find("init_us")->is_null());
  const JsonValue* ratios = v->Find("ratios_p50");
  ASSERT_NE(ratios, nullptr);
  EXPECT_DOUBLE_EQ(ratios->Find("init")->number, 0.5);
  EXPECT_TRUE(ratios->Find("guest_entry")->is_null());
}

TEST(Report, TableShowsPhasesRatiosAndFailures) {
  const std::string table = FormatTable(TwoVmmReport());
  EXPECT_NE(table.find("skiff  init"), std::string::npos) << table;
  EXPECT_NE(table.find("qemu   guest_entry      0 unavailable"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("ratio skiff/qemu of p50:"), std::string::npos);
  EXPECT_NE(table.find("init 0.50"), std::string::npos) << table;
  EXPECT_NE(table.find("failed x1: timeout after 60 s"), std::string::npos);
  EXPECT_NE(table.find("ok 1/2"), std::string::npos);
  EXPECT_NE(table.find("rss (KiB)"), std::string::npos);
  EXPECT_NE(table.find("skiff  of it tcg        3      1500      1500"),
            std::string::npos)
      << table;
  EXPECT_EQ(table.find("qemu   of it tcg"), std::string::npos) << table;
}

TEST(Report, OneVmmHasNoRatios) {
  BenchReport r = TwoVmmReport();
  r.vmms.pop_back();
  EXPECT_EQ(FormatTable(r).find("ratio"), std::string::npos);
  absl::StatusOr<JsonValue> v = ParseJson(ToJson(r));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->Find("ratios_p50"), nullptr);
}

TEST(Report, WriteFileFailsWithPath) {
  absl::Status s = WriteFile("/nonexistent-dir/x.json", "{}");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/nonexistent-dir/x.json"), std::string::npos);
}

}  // namespace
}  // namespace skiff::bench
