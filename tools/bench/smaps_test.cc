#include "tools/bench/smaps.h"

#include "gtest/gtest.h"

namespace skiff::bench {
namespace {

constexpr uint64_t kGuestRam = 512ull << 20;

TEST(Smaps, FixtureLeavesOutOnlyGuestRam) {
  absl::StatusOr<std::string> text =
      ReadSmallFile(SKIFF_BENCH_TESTDATA "/smaps_fixture.txt");
  ASSERT_TRUE(text.ok()) << text.status();
  absl::StatusOr<SmapsUsage> u = ParseSmaps(*text, kGuestRam);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->mappings, 7u);
  EXPECT_EQ(u->guest_ram_mappings, 1u);
  EXPECT_EQ(u->guest_ram_rss_kib, 36864u);
  EXPECT_EQ(u->total_rss_kib, 38508u);
  // The same-sized file mapping is not guest RAM: it stays in.
  EXPECT_EQ(u->rss_beyond_guest_kib, 1644u);
  EXPECT_EQ(u->tcg_mappings, 0u);
}

TEST(Smaps, OtherMemorySizeExcludesNothing) {
  absl::StatusOr<std::string> text =
      ReadSmallFile(SKIFF_BENCH_TESTDATA "/smaps_fixture.txt");
  ASSERT_TRUE(text.ok());
  absl::StatusOr<SmapsUsage> u = ParseSmaps(*text, 256ull << 20);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->guest_ram_mappings, 0u);
  EXPECT_EQ(u->rss_beyond_guest_kib, u->total_rss_kib);
}

TEST(Smaps, MemfdCountsAsGuestRam) {
  const std::string text =
      "7f0000000000-7f0020000000 rw-s 00000000 00:01 77 /memfd:guest "
      "(deleted)\n"
      "Rss:  100 kB\n";
  absl::StatusOr<SmapsUsage> u = ParseSmaps(text, kGuestRam);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->guest_ram_rss_kib, 100u);
  EXPECT_EQ(u->rss_beyond_guest_kib, 0u);
}

// skiff's interpreter caches are counted apart, and stay in the total.
TEST(Smaps, CountsInterpreterCachesApart) {
  const std::string text =
      "7f0000000000-7f0020000000 rw-p 00000000 00:00 0\n"
      "Rss:  1000 kB\n"
      "7f1000000000-7f1000320000 rw-s 00000000 00:01 78 "
      "/memfd:skiff-tcg-blocks (deleted)\n"
      "Rss:  3000 kB\n"
      "7f1100000000-7f1100200000 r-xs 00000000 00:01 79 "
      "/memfd:skiff-tcg-code (deleted)\n"
      "Rss:  1200 kB\n"
      "7f1200000000-7f1200200000 rw-s 00000000 00:01 80 "
      "/memfd:skiff-other (deleted)\n"
      "Rss:  7 kB\n";
  absl::StatusOr<SmapsUsage> u = ParseSmaps(text, kGuestRam);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->tcg_mappings, 2u);
  EXPECT_EQ(u->tcg_rss_kib, 4200u);
  EXPECT_EQ(u->rss_beyond_guest_kib, 4207u);
}

TEST(Smaps, RejectsGarbage) {
  EXPECT_FALSE(ParseSmaps("", kGuestRam).ok());
  EXPECT_FALSE(ParseSmaps("Rss: 4 kB\n", kGuestRam).ok());
  EXPECT_FALSE(ParseSmaps("hello world\n", kGuestRam).ok());
  EXPECT_FALSE(ParseSmaps("20-10 rw-p 0 00:00 0\n", kGuestRam).ok());
  EXPECT_FALSE(
      ParseSmaps("10-20 rw-p 0 00:00 0\nRss: lots kB\n", kGuestRam).ok());
}

TEST(Smaps, ReadsOwnProcess) {
  absl::StatusOr<std::string> text = ReadSmallFile("/proc/self/smaps");
  ASSERT_TRUE(text.ok()) << text.status();
  absl::StatusOr<SmapsUsage> u = ParseSmaps(*text, kGuestRam);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_GT(u->total_rss_kib, 0u);
}

TEST(Smaps, MissingFileNamesPath) {
  absl::StatusOr<std::string> text = ReadSmallFile("/nonexistent/smaps");
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.status().message().find("/nonexistent/smaps"),
            std::string::npos);
}

}  // namespace
}  // namespace skiff::bench
