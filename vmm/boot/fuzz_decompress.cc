// libFuzzer target: the host-side payload decoders (gzip, xz, lz4 legacy,
// zstd) on arbitrary bytes, output bounded at 16 MiB. The first byte picks
// the decoder, so inputs need not carry a valid magic.
#include <cstddef>
#include <cstdint>

#include "vmm/boot/decompress.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  using skiff::boot::Compression;
  constexpr Compression kFormats[] = {Compression::kGzip, Compression::kXz,
                                      Compression::kLz4Legacy,
                                      Compression::kZstd};
  Compression c = kFormats[data[0] % 4];
  (void)skiff::boot::Decompress(
      "fuzz", c, absl::MakeConstSpan(data + 1, size - 1), 16 << 20);
  return 0;
}
