#include "vmm/boot/decompress.h"

#include <lz4.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "vmm/boot/errors.h"

namespace skiff::boot {
namespace {

// Output grows in steps of at most this much, so a tiny bomb never reserves
// more host memory than it has actually produced plus one step.
constexpr uint64_t kGrowStep = 8 << 20;
// liblzma's memory limit: the kernel uses a 32 MiB dictionary at most.
constexpr uint64_t kXzMemLimit = 96 << 20;
// lz4 legacy frames (lz4 -l, lib/decompress_unlz4.c): every block decodes
// to at most 8 MiB.
constexpr uint32_t kLz4LegacyMagic = 0x184c2102;
constexpr uint64_t kLz4LegacyBlockSize = 8 << 20;

bool StartsWith(absl::Span<const uint8_t> data,
                std::initializer_list<uint8_t> magic) {
  return data.size() >= magic.size() &&
         std::equal(magic.begin(), magic.end(), data.begin());
}

// A bounded output buffer: Grow() makes room for the next chunk or reports
// that the limit is reached.
class Output {
 public:
  explicit Output(uint64_t max) : max_(max) {}
  // Ensures at least one free byte past `used_`; false at the limit.
  bool Grow() {
    if (used_ < buf_.size()) return true;
    if (buf_.size() >= max_) return false;
    uint64_t step = std::max<uint64_t>(buf_.size(), 64 << 10);
    buf_.resize(
        std::min<uint64_t>(buf_.size() + std::min(step, kGrowStep), max_));
    return true;
  }
  uint8_t* free_ptr() { return buf_.data() + used_; }
  uint64_t free_size() const { return buf_.size() - used_; }
  void Commit(uint64_t n) { used_ += n; }
  std::vector<uint8_t> Take() {
    buf_.resize(used_);
    return std::move(buf_);
  }

 private:
  const uint64_t max_;
  std::vector<uint8_t> buf_;
  uint64_t used_ = 0;
};

absl::Status TooBig(const std::string& what, Compression c, uint64_t max) {
  return Invalid(what, "%s payload decompresses to more than %s",
                 CompressionName(c), HumanSize(max));
}

absl::StatusOr<std::vector<uint8_t>> Gunzip(const std::string& what,
                                            absl::Span<const uint8_t> data,
                                            uint64_t max) {
  z_stream zs{};
  // 16 + MAX_WBITS: expect a gzip header and trailer (zlib.h inflateInit2).
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    return absl::InternalError("zlib inflateInit2 failed");
  }
  std::unique_ptr<z_stream, decltype(&inflateEnd)> guard(&zs, &inflateEnd);
  Output out(max);
  uint64_t in_pos = 0;
  while (true) {
    if (!out.Grow()) return TooBig(what, Compression::kGzip, max);
    uint64_t in_left = data.size() - in_pos;
    zs.next_in = const_cast<Bytef*>(data.data() + in_pos);
    zs.avail_in = static_cast<uInt>(std::min<uint64_t>(in_left, 1u << 30));
    zs.next_out = out.free_ptr();
    zs.avail_out =
        static_cast<uInt>(std::min<uint64_t>(out.free_size(), 1u << 30));
    const uInt avail_in = zs.avail_in, avail_out = zs.avail_out;
    int rc = inflate(&zs, Z_NO_FLUSH);
    in_pos += avail_in - zs.avail_in;
    out.Commit(avail_out - zs.avail_out);
    if (rc == Z_STREAM_END) return out.Take();
    if (rc == Z_BUF_ERROR && in_pos == data.size()) {
      return Invalid(what, "gzip payload is truncated");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return Invalid(what, "gzip payload is corrupt: %s",
                     zs.msg ? zs.msg : "inflate error");
    }
  }
}

absl::StatusOr<std::vector<uint8_t>> Unxz(const std::string& what,
                                          absl::Span<const uint8_t> data,
                                          uint64_t max) {
  lzma_stream strm = LZMA_STREAM_INIT;
  // No LZMA_CONCATENATED: decoding stops at the end of the first stream, so
  // the appended size word is ignored.
  if (lzma_stream_decoder(&strm, kXzMemLimit, 0) != LZMA_OK) {
    return absl::InternalError("lzma_stream_decoder failed");
  }
  std::unique_ptr<lzma_stream, decltype(&lzma_end)> guard(&strm, &lzma_end);
  Output out(max);
  strm.next_in = data.data();
  strm.avail_in = data.size();
  while (true) {
    if (!out.Grow()) return TooBig(what, Compression::kXz, max);
    strm.next_out = out.free_ptr();
    strm.avail_out = out.free_size();
    const size_t avail_out = strm.avail_out;
    lzma_ret rc = lzma_code(&strm, strm.avail_in == 0 ? LZMA_FINISH : LZMA_RUN);
    out.Commit(avail_out - strm.avail_out);
    if (rc == LZMA_STREAM_END) return out.Take();
    if (rc == LZMA_BUF_ERROR) return Invalid(what, "xz payload is truncated");
    if (rc == LZMA_MEMLIMIT_ERROR) {
      return Invalid(what, "xz payload needs more than %s to decode",
                     HumanSize(kXzMemLimit));
    }
    if (rc != LZMA_OK) {
      return Invalid(what, "xz payload is corrupt (liblzma error %d)",
                     static_cast<int>(rc));
    }
  }
}

absl::StatusOr<std::vector<uint8_t>> Unzstd(const std::string& what,
                                            absl::Span<const uint8_t> data,
                                            uint64_t max) {
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(),
                                                            &ZSTD_freeDCtx);
  if (!dctx) return absl::InternalError("ZSTD_createDCtx failed");
  Output out(max);
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  while (true) {
    if (!out.Grow()) return TooBig(what, Compression::kZstd, max);
    ZSTD_outBuffer ob{out.free_ptr(), out.free_size(), 0};
    size_t rc = ZSTD_decompressStream(dctx.get(), &ob, &in);
    out.Commit(ob.pos);
    if (ZSTD_isError(rc)) {
      return Invalid(what, "zstd payload is corrupt: %s",
                     ZSTD_getErrorName(rc));
    }
    // 0: a frame is complete. Only one frame is decoded; what follows is
    // the kernel's appended size.
    if (rc == 0) return out.Take();
    if (in.pos == in.size && ob.pos < ob.size) {
      return Invalid(what, "zstd payload is truncated");
    }
  }
}

absl::StatusOr<std::vector<uint8_t>> Unlz4Legacy(const std::string& what,
                                                 absl::Span<const uint8_t> data,
                                                 uint64_t max) {
  auto u32 = [&](uint64_t at) {
    uint32_t v;
    std::memcpy(&v, data.data() + at, 4);
    return v;
  };
  std::vector<uint8_t> out;
  std::unique_ptr<uint8_t[]> scratch;
  uint64_t pos = 0;
  bool any_block = false;
  const uint64_t bound = LZ4_compressBound(kLz4LegacyBlockSize);
  while (data.size() - pos >= 4) {
    uint32_t chunk = u32(pos);
    if (chunk == kLz4LegacyMagic) {  // a new (concatenated) stream
      pos += 4;
      continue;
    }
    // The kernel appends the uncompressed size as a final 4-byte word
    // (scripts/Makefile.lib size_append); a zero chunk also ends the stream.
    if (chunk == 0 || (any_block && data.size() - pos == 4)) break;
    pos += 4;
    if (chunk > bound) {
      return Invalid(what, "lz4 block of %u bytes is larger than allowed",
                     chunk);
    }
    if (chunk > data.size() - pos) {
      return Invalid(what, "lz4 payload is truncated");
    }
    uint64_t room = std::min<uint64_t>(kLz4LegacyBlockSize, max - out.size());
    if (room == 0) return TooBig(what, Compression::kLz4Legacy, max);
    // Decode into an uninitialised scratch block and append what it held:
    // zero-filling 8 MiB per (possibly tiny) block would dominate.
    if (!scratch) scratch.reset(new uint8_t[kLz4LegacyBlockSize]);
    int n =
        LZ4_decompress_safe(reinterpret_cast<const char*>(data.data() + pos),
                            reinterpret_cast<char*>(scratch.get()),
                            static_cast<int>(chunk), static_cast<int>(room));
    if (n < 0) {
      // A block that would not fit in the room left is reported by lz4 as
      // an error too; tell the two apart by whether room was cut short.
      if (room < kLz4LegacyBlockSize) {
        return TooBig(what, Compression::kLz4Legacy, max);
      }
      return Invalid(what, "lz4 payload is corrupt");
    }
    out.insert(out.end(), scratch.get(), scratch.get() + n);
    pos += chunk;
    any_block = true;
  }
  if (!any_block) return Invalid(what, "lz4 payload has no data blocks");
  return out;
}

}  // namespace

Compression DetectCompression(absl::Span<const uint8_t> data) {
  if (StartsWith(data, {0x1f, 0x8b}) || StartsWith(data, {0x1f, 0x9e})) {
    return Compression::kGzip;
  }
  if (StartsWith(data, {0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00})) {
    return Compression::kXz;
  }
  if (StartsWith(data, {0x02, 0x21, 0x4c, 0x18}))
    return Compression::kLz4Legacy;
  if (StartsWith(data, {0x28, 0xb5, 0x2f, 0xfd})) return Compression::kZstd;
  if (StartsWith(data, {'B', 'Z', 'h'})) return Compression::kBzip2;
  if (StartsWith(data, {0x5d, 0x00, 0x00})) return Compression::kLzma;
  if (StartsWith(data, {0x89, 0x4c, 0x5a, 0x4f})) return Compression::kLzo;
  return Compression::kUnknown;
}

const char* CompressionName(Compression c) {
  switch (c) {
    case Compression::kGzip:
      return "gzip";
    case Compression::kXz:
      return "xz";
    case Compression::kLz4Legacy:
      return "lz4";
    case Compression::kZstd:
      return "zstd";
    case Compression::kBzip2:
      return "bzip2";
    case Compression::kLzma:
      return "lzma";
    case Compression::kLzo:
      return "lzo";
    case Compression::kUnknown:
      break;
  }
  return "unknown";
}

bool CanDecompress(Compression c) {
  return c == Compression::kGzip || c == Compression::kXz ||
         c == Compression::kLz4Legacy || c == Compression::kZstd;
}

absl::StatusOr<std::vector<uint8_t>> Decompress(const std::string& what,
                                                Compression c,
                                                absl::Span<const uint8_t> data,
                                                uint64_t max_output) {
  switch (c) {
    case Compression::kGzip:
      return Gunzip(what, data, max_output);
    case Compression::kXz:
      return Unxz(what, data, max_output);
    case Compression::kLz4Legacy:
      return Unlz4Legacy(what, data, max_output);
    case Compression::kZstd:
      return Unzstd(what, data, max_output);
    default:
      break;
  }
  return absl::UnimplementedError(absl::StrCat(
      what, ": ", CompressionName(c), " payloads are not decoded on the host"));
}

}  // namespace skiff::boot
