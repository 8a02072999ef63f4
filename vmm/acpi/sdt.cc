#include "vmm/acpi/sdt.h"

namespace skiff::acpi {
namespace {

// Offsets inside the SDT header (ACPI 6.4 table 5.4).
constexpr size_t kLengthOffset = 4;
constexpr size_t kChecksumOffset = 9;

}  // namespace

uint8_t Checksum(absl::Span<const uint8_t> bytes) {
  uint8_t sum = 0;
  for (uint8_t b : bytes) sum = static_cast<uint8_t>(sum + b);
  return static_cast<uint8_t>(0x100 - sum);
}

bool ChecksumOk(absl::Span<const uint8_t> bytes) {
  return Checksum(bytes) == 0;
}

void TableWriter::Chars(std::string_view s, size_t width, char pad) {
  for (size_t i = 0; i < width; ++i) {
    U8(static_cast<uint8_t>(i < s.size() ? s[i] : pad));
  }
}

void TableWriter::PutU16At(size_t offset, uint16_t v) {
  for (int i = 0; i < 2; ++i) {
    bytes_[offset + i] = static_cast<uint8_t>(v >> (8 * i));
  }
}

void TableWriter::PutU32At(size_t offset, uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    bytes_[offset + i] = static_cast<uint8_t>(v >> (8 * i));
  }
}

void PutGas(TableWriter& t, GasSpace space, uint8_t bit_width, GasAccess access,
            uint64_t address) {
  t.U8(static_cast<uint8_t>(space));
  t.U8(bit_width);
  t.U8(0);  // bit offset
  t.U8(static_cast<uint8_t>(access));
  t.U64(address);
}

TableWriter BeginSdt(std::string_view signature, uint8_t revision,
                     std::string_view oem_table_id) {
  TableWriter t;
  t.Chars(signature, 4);
  t.U32(0);  // length, filled in by FinishSdt
  t.U8(revision);
  t.U8(0);  // checksum, filled in by FinishSdt
  t.Chars(kOemId, 6);
  t.Chars(oem_table_id, 8);
  t.U32(kOemRevision);
  t.Chars(kCreatorId, 4);
  t.U32(kCreatorRevision);
  return t;
}

Bytes FinishSdt(TableWriter t) {
  t.PutU32At(kLengthOffset, static_cast<uint32_t>(t.size()));
  t.PutU8At(kChecksumOffset, 0);
  t.PutU8At(kChecksumOffset, Checksum(t.bytes()));
  return t.Take();
}

}  // namespace skiff::acpi
