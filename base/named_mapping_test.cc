#include "base/named_mapping.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace skiff {
namespace {

// The smaps header line of the mapping that holds `p`, or "".
std::string MappingOf(const void* p) {
  const auto at = reinterpret_cast<uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  while (std::getline(smaps, line)) {
    uint64_t start = 0, end = 0;
    char dash = 0;
    if (std::sscanf(line.c_str(), "%lx%c%lx", &start, &dash, &end) == 3 &&
        dash == '-' && start <= at && at < end) {
      return line;
    }
  }
  return "";
}

TEST(NamedMapping, IsZeroedWritableAndNamed) {
  constexpr size_t kSize = 3 * 4096 + 100;
  auto* p = static_cast<uint8_t*>(MapNamed("skiff-test-table", kSize));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 4096, 0u);
  for (size_t k = 0; k < kSize; ++k) ASSERT_EQ(p[k], 0) << k;
  std::memset(p, 0xab, kSize);
  EXPECT_EQ(p[kSize - 1], 0xab);
  const std::string header = MappingOf(p);
  EXPECT_NE(header.find("/memfd:skiff-test-table"), std::string::npos)
      << header;
  EXPECT_NE(header.find(" rw-s "), std::string::npos) << header;
  UnmapNamed(p, kSize);
  EXPECT_EQ(MappingOf(p), "");
}

TEST(NamedMapping, EmptyIsNull) {
  EXPECT_EQ(MapNamed("skiff-test-empty", 0), nullptr);
  UnmapNamed(nullptr, 0);
}

}  // namespace
}  // namespace skiff
