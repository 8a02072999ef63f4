// Byte-level helpers shared by the ACPI and MP table builders: a
// little-endian byte writer, the 8-bit checksum both specifications use, and
// the 36-byte ACPI System Description Table header (ACPI 6.4 section 5.2.6).
//
//   TableWriter t = BeginSdt("APIC", /*revision=*/5, "SKIFFAPC");
//   t.U32(0xfee00000);
//   ...
//   Bytes madt = FinishSdt(std::move(t));   // length and checksum filled in
#ifndef SKIFF_VMM_ACPI_SDT_H_
#define SKIFF_VMM_ACPI_SDT_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/types/span.h"

namespace skiff::acpi {

using Bytes = std::vector<uint8_t>;

// What skiff writes into every table's OEM fields.
inline constexpr std::string_view kOemId = "SKIFF ";  // 6 bytes
inline constexpr uint32_t kOemRevision = 1;
inline constexpr std::string_view kCreatorId = "SKIF";
inline constexpr uint32_t kCreatorRevision = 1;
inline constexpr size_t kSdtHeaderSize = 36;

// The byte that makes `bytes` sum to zero modulo 256 (when written over a
// zero checksum field).
uint8_t Checksum(absl::Span<const uint8_t> bytes);
// True when `bytes` sums to zero modulo 256.
bool ChecksumOk(absl::Span<const uint8_t> bytes);

class TableWriter {
 public:
  void U8(uint8_t v) { bytes_.push_back(v); }
  void U16(uint16_t v) { Le(v, 2); }
  void U32(uint32_t v) { Le(v, 4); }
  void U64(uint64_t v) { Le(v, 8); }
  // Exactly `width` bytes: `s` truncated or padded with `pad`.
  void Chars(std::string_view s, size_t width, char pad = ' ');
  void Zeros(size_t n) { bytes_.insert(bytes_.end(), n, 0); }
  void Append(absl::Span<const uint8_t> b) {
    bytes_.insert(bytes_.end(), b.begin(), b.end());
  }
  // Overwrites already-written bytes (lengths and checksums filled in late).
  void PutU8At(size_t offset, uint8_t v) { bytes_[offset] = v; }
  void PutU16At(size_t offset, uint16_t v);
  void PutU32At(size_t offset, uint32_t v);

  size_t size() const { return bytes_.size(); }
  const Bytes& bytes() const { return bytes_; }
  Bytes Take() { return std::move(bytes_); }

 private:
  void Le(uint64_t v, int width) {
    for (int i = 0; i < width; ++i) U8(static_cast<uint8_t>(v >> (8 * i)));
  }
  Bytes bytes_;
};

// ACPI 6.4 section 5.2.8 Generic Address Structure.
enum class GasSpace : uint8_t { kSystemMemory = 0, kSystemIo = 1 };
enum class GasAccess : uint8_t { kUndefined = 0, kByte = 1, kWord = 2 };
void PutGas(TableWriter& t, GasSpace space, uint8_t bit_width, GasAccess access,
            uint64_t address);
inline void PutNullGas(TableWriter& t) { t.Zeros(12); }

// Starts a table with the standard header: length and checksum are zero
// until FinishSdt.
TableWriter BeginSdt(std::string_view signature, uint8_t revision,
                     std::string_view oem_table_id);
// Fills in the header's length and checksum.
Bytes FinishSdt(TableWriter t);

}  // namespace skiff::acpi

#endif  // SKIFF_VMM_ACPI_SDT_H_
