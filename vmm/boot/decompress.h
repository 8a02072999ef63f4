// Host-side decompression of a bzImage's payload (boot.rst "payload_offset":
// "The format of the data should be determined using the standard magic
// numbers"). gzip, xz, lz4 (legacy "lz4 -l" frames) and zstd are decoded;
// bzip2, lzma and lzo are recognised but not decoded, so the caller can fall
// back to the kernel's own decompressor. Output is bounded by `max_output`
// (the loader passes the guest RAM size), so a decompression bomb fails
// instead of exhausting host memory. Trailing bytes after the compressed
// stream are ignored: the kernel build appends the uncompressed size.
//
//   Compression c = DetectCompression(payload);
//   SKIFF_ASSIGN_OR_RETURN(std::vector<uint8_t> elf,
//                          Decompress(what, c, payload, ram_size));
#ifndef SKIFF_VMM_BOOT_DECOMPRESS_H_
#define SKIFF_VMM_BOOT_DECOMPRESS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace skiff::boot {

enum class Compression {
  kUnknown,
  kGzip,
  kXz,
  kLz4Legacy,
  kZstd,
  kBzip2,  // recognised, not decoded
  kLzma,   // recognised, not decoded
  kLzo,    // recognised, not decoded
};

Compression DetectCompression(absl::Span<const uint8_t> data);
const char* CompressionName(Compression c);
bool CanDecompress(Compression c);

// Decodes `data` in format `c`. Fails (message prefixed by `what`) on corrupt
// or truncated input, an unsupported format, or output past `max_output`.
absl::StatusOr<std::vector<uint8_t>> Decompress(const std::string& what,
                                                Compression c,
                                                absl::Span<const uint8_t> data,
                                                uint64_t max_output);

}  // namespace skiff::boot

#endif  // SKIFF_VMM_BOOT_DECOMPRESS_H_
