#include "vmm/boot/decompress.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "vmm/boot/test_images.h"

namespace skiff::boot {
namespace {

using ::testing::HasSubstr;
using namespace ::skiff::boot::testing;  // NOLINT

struct Codec {
  Compression c;
  std::vector<uint8_t> (*compress)(const std::vector<uint8_t>&);
};

const Codec kCodecs[] = {{Compression::kGzip, Gzip},
                         {Compression::kXz, Xz},
                         {Compression::kLz4Legacy, Lz4Legacy},
                         {Compression::kZstd, Zstd}};

// Data that compresses but is not trivial; > 8 MiB spans two lz4 blocks.
std::vector<uint8_t> Data(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<uint8_t>((i / 13) ^ (i % 7));
  return v;
}

TEST(Decompress, RoundTripsEveryFormatWithSizeTrailer) {
  const std::vector<uint8_t> data = Data((8 << 20) + 12345);
  for (const Codec& codec : kCodecs) {
    std::vector<uint8_t> packed = WithSize(codec.compress(data), data.size());
    EXPECT_EQ(DetectCompression(packed), codec.c);
    auto out = Decompress("kernel k", codec.c, packed, 64 << 20);
    ASSERT_TRUE(out.ok()) << CompressionName(codec.c) << ": " << out.status();
    EXPECT_EQ(*out, data) << CompressionName(codec.c);
  }
}

TEST(Decompress, OutputIsBounded) {
  const std::vector<uint8_t> data(4 << 20, 0);  // a small bomb
  for (const Codec& codec : kCodecs) {
    auto out = Decompress("kernel /k", codec.c, codec.compress(data), 1 << 20);
    ASSERT_FALSE(out.ok()) << CompressionName(codec.c);
    EXPECT_THAT(out.status().message(), HasSubstr("kernel /k"));
    EXPECT_THAT(out.status().message(),
                HasSubstr("decompresses to more than 1 MiB"));
  }
}

TEST(Decompress, TruncatedAndCorruptInputFail) {
  const std::vector<uint8_t> data = Data(100000);
  for (const Codec& codec : kCodecs) {
    std::vector<uint8_t> packed = codec.compress(data);
    std::vector<uint8_t> cut(packed.begin(),
                             packed.begin() + packed.size() / 2);
    auto out = Decompress("kernel /k", codec.c, cut, 64 << 20);
    ASSERT_FALSE(out.ok()) << CompressionName(codec.c);
    EXPECT_THAT(out.status().message(), HasSubstr("kernel /k: "));

    std::vector<uint8_t> bad = packed;
    for (size_t i = 12; i < bad.size() - 8; i += 97) bad[i] ^= 0x5a;
    auto out2 = Decompress("kernel /k", codec.c, bad, 64 << 20);
    // Random damage must never crash; most formats notice it.
    if (out2.ok()) {
      EXPECT_NE(*out2, data);
    }
  }
}

TEST(Decompress, RecognisesFormatsItDoesNotDecode) {
  const uint8_t bz[] = {'B', 'Z', 'h', '9', 0};
  const uint8_t lzma[] = {0x5d, 0, 0, 0x80, 0};
  const uint8_t lzo[] = {0x89, 0x4c, 0x5a, 0x4f, 0};
  EXPECT_EQ(DetectCompression(bz), Compression::kBzip2);
  EXPECT_EQ(DetectCompression(lzma), Compression::kLzma);
  EXPECT_EQ(DetectCompression(lzo), Compression::kLzo);
  EXPECT_FALSE(CanDecompress(Compression::kBzip2));
  EXPECT_EQ(Decompress("k", Compression::kBzip2, bz, 100).status().code(),
            absl::StatusCode::kUnimplemented);
  const uint8_t junk[] = {1, 2, 3};
  EXPECT_EQ(DetectCompression(junk), Compression::kUnknown);
}

TEST(Decompress, Lz4RejectsOversizedBlock) {
  std::vector<uint8_t> v;
  Put(v, 0, uint32_t{0x184c2102});
  Put(v, 4, uint32_t{0x7fffffff});
  Put(v, 8, uint32_t{0});
  auto out = Decompress("kernel /k", Compression::kLz4Legacy, v, 64 << 20);
  EXPECT_THAT(out.status().message(), HasSubstr("larger than allowed"));
}

}  // namespace
}  // namespace skiff::boot
