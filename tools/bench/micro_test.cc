#include "tools/bench/micro.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "tools/bench/smaps.h"

namespace skiff::bench {
namespace {

TEST(Micro, ParsesGoogleBenchmarkJson) {
  absl::StatusOr<std::string> text =
      ReadSmallFile(SKIFF_BENCH_TESTDATA "/benchmark_fixture.json");
  ASSERT_TRUE(text.ok()) << text.status();
  absl::StatusOr<std::vector<MicroResult>> r = ParseBenchmarkJson(*text);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].name, "BM_DecodeAdd");
  EXPECT_DOUBLE_EQ((*r)[0].real_time, 25);
  EXPECT_EQ((*r)[0].time_unit, "ns");
  ASSERT_TRUE((*r)[0].items_per_second);
  EXPECT_NEAR(*(*r)[0].items_per_second, 4.016e7, 1e4);
  EXPECT_FALSE((*r)[0].bytes_per_second);
  EXPECT_EQ((*r)[1].name, "BM_Memcpy/4096");
  EXPECT_EQ((*r)[1].time_unit, "us");
  ASSERT_TRUE((*r)[1].bytes_per_second);

  const std::string table = FormatMicroTable(*r);
  EXPECT_NE(table.find("BM_DecodeAdd"), std::string::npos) << table;
  EXPECT_NE(table.find("40.16M"), std::string::npos) << table;
  EXPECT_NE(table.find("3.28G"), std::string::npos) << table;
}

TEST(Micro, ShowsSkippedBenchmarks) {
  absl::StatusOr<std::vector<MicroResult>> r = ParseBenchmarkJson(
      "{\n  \"benchmarks\": [\n    {\n      \"name\": \"BM_Kvm\",\n"
      "      \"error_occurred\": true,\n"
      "      \"error_message\": \"no /dev/kvm\",\n"
      "      \"real_time\": 0.0,\n      \"time_unit\": \"ns\"\n    }\n"
      "  ]\n}\n");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].error, "no /dev/kvm");
  EXPECT_NE(FormatMicroTable(*r).find("skipped: no /dev/kvm"),
            std::string::npos);
}

TEST(Micro, RejectsOtherText) {
  EXPECT_FALSE(ParseBenchmarkJson("hello").ok());
  EXPECT_FALSE(ParseBenchmarkJson("{\n\"benchmarks\": [\n{\n\"name\": \"a\",\n"
                                  "\"real_time\": zz,\n}\n]\n}\n")
                   .ok());
  absl::StatusOr<std::vector<MicroResult>> empty =
      ParseBenchmarkJson("{\n  \"benchmarks\": [\n  ]\n}\n");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(Micro, FindsExecutablesNamedBenchmark) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(::testing::TempDir()) / "micro_find";
  fs::remove_all(root);
  fs::create_directories(root / "tcg" / "tcg_benchmark.p");
  fs::create_directories(root / "vmm");
  auto make = [](const fs::path& p, bool exec) {
    std::ofstream(p) << "#!/bin/sh\n";
    fs::permissions(p, exec ? fs::perms::owner_all : fs::perms::owner_read);
  };
  make(root / "tcg" / "tcg_benchmark", true);
  make(root / "vmm" / "machine_benchmark", true);
  make(root / "vmm" / "not_a_bench", true);
  make(root / "vmm" / "plain_benchmark", false);
  make(root / "tcg" / "tcg_benchmark.p" / "x_benchmark", true);
  EXPECT_EQ(FindBenchmarks(root.string()),
            (std::vector<std::string>{
                (root / "tcg" / "tcg_benchmark").string(),
                (root / "vmm" / "machine_benchmark").string()}));
  EXPECT_TRUE(FindBenchmarks((root / "missing").string()).empty());
}

TEST(Micro, RunFailsForMissingExecutable) {
  EXPECT_FALSE(RunBenchmarkExecutable("/nonexistent/x_benchmark", "").ok());
}

}  // namespace
}  // namespace skiff::bench
