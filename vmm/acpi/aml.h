// A small AML (ACPI Machine Language) bytecode builder: just enough of ACPI
// 6.4 chapter 20 ("ACPI Machine Language Specification") and section 6.4
// (resource descriptors) to write skiff's DSDT: integers, strings, names,
// Name(), Package(), Scope(), Device(), Method() with a Return body, EISAID,
// and ResourceTemplate buffers with IO, IRQNoFlags, Memory32Fixed,
// QWordMemory and Extended Interrupt descriptors.
//
//   using namespace skiff::acpi::aml;
//   Aml com1 = Device("COM1", {
//       Name("_HID", EisaId("PNP0501")),
//       Name("_UID", Integer(0)),
//       Name("_CRS", ResourceTemplate({Io(0x3f8, 0x3f8, 0, 8),
//                                      IrqNoFlags(4)})),
//   });
//   SKIFF_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, com1.Finish());
//
// Errors are sticky: a builder given a bad argument (a malformed name, a
// string with a NUL, IRQ 16 in IRQNoFlags, more than 255 package elements)
// returns an Aml holding an error, every Aml built from it carries that
// error, and Finish() reports the first one. So a DSDT is written as one
// expression and checked once, and nothing here aborts.
#ifndef SKIFF_VMM_ACPI_AML_H_
#define SKIFF_VMM_ACPI_AML_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace skiff::acpi::aml {

using Bytes = std::vector<uint8_t>;

// ACPI 6.4 section 20.2.2 NameString: an optional root ('\') or parent ('^')
// prefix, then zero or more 4-character NameSegs separated by '.'. Segments
// shorter than 4 characters are padded with '_' as iasl does ("_SB" ->
// "_SB_"). Encoded once, at construction.
class NameString {
 public:
  // Longest encoding accepted: prefixes, MultiNamePrefix, count, 8 segments.
  static constexpr size_t kMaxSegments = 8;
  static constexpr size_t kMaxBytes = 4 + 2 + 4 * kMaxSegments;

  // Runtime names (e.g. generated ones): InvalidArgument when malformed.
  static absl::StatusOr<NameString> Parse(std::string_view path);

  // Names written in the source: a malformed literal does not compile.
  template <size_t N>
  consteval NameString(const char (&path)[N]) {  // NOLINT: implicit on purpose
    if (!Encode(std::string_view(path, N - 1), bytes_, size_)) {
      InvalidNameLiteral();
    }
  }

  absl::Span<const uint8_t> bytes() const { return {bytes_.data(), size_}; }

 private:
  NameString() = default;
  // Not constexpr: reaching it during constant evaluation is a compile error.
  static void InvalidNameLiteral() {}
  static constexpr bool IsLeadChar(char c) {
    return (c >= 'A' && c <= 'Z') || c == '_';
  }
  static constexpr bool IsNameChar(char c) {
    return IsLeadChar(c) || (c >= '0' && c <= '9');
  }
  static constexpr bool Encode(std::string_view path,
                               std::array<uint8_t, kMaxBytes>& out,
                               size_t& size);

  std::array<uint8_t, kMaxBytes> bytes_{};
  size_t size_ = 0;
};

// A piece of AML (a term, a data object or a resource descriptor), or the
// first error met while building it.
class Aml {
 public:
  Aml() = default;
  static Aml FromBytes(Bytes bytes);
  static Aml Error(absl::Status status);

  bool ok() const { return status_.ok(); }
  const absl::Status& status() const { return status_; }
  // Empty when !ok().
  const Bytes& bytes() const { return bytes_; }
  // The bytes, or the first error.
  absl::StatusOr<Bytes> Finish() const;

  // Appends `other` (or takes its error, when this is still ok).
  void Append(const Aml& other);

 private:
  Bytes bytes_;
  absl::Status status_;
};

using AmlList = std::vector<Aml>;

// ACPI 6.4 section 20.2.4 PkgLength for a package whose contents after the
// PkgLength are `payload_len` bytes: 1 byte up to 63 in total, else 2 to 4
// bytes (the length counts the PkgLength bytes themselves). Fails past the
// 28-bit limit.
absl::StatusOr<Bytes> EncodePkgLength(size_t payload_len);

// Integers (section 20.2.3). Integer() picks the shortest encoding, as iasl
// does: ZeroOp, OneOp, BytePrefix, WordPrefix, DWordPrefix or QWordPrefix.
// The others force one width.
Aml Zero();
Aml One();
Aml Ones();
Aml Integer(uint64_t value);
Aml Byte(uint8_t value);
Aml Word(uint16_t value);
Aml DWord(uint32_t value);
Aml QWord(uint64_t value);

// StringPrefix, ASCII 0x01-0x7f, NUL terminator.
Aml String(std::string_view ascii);
// A NameString used as a term (a reference to an object).
Aml Path(const NameString& name);
// EISAID("PNP0501"): the compressed 32-bit PnP ID as a DWordConst.
Aml EisaId(std::string_view id);
// BufferOp with the given bytes (BufferSize as the shortest integer).
Aml Buffer(absl::Span<const uint8_t> bytes);

// Named objects and scopes (section 20.2.5).
Aml Name(const NameString& name, const Aml& value);
Aml Package(const AmlList& elements);  // at most 255 elements
Aml Scope(const NameString& name, const AmlList& body);
Aml Device(const NameString& name, const AmlList& body);
// `num_args` 0-7; SyncLevel 0.
Aml Method(const NameString& name, int num_args, bool serialized,
           const AmlList& body);
Aml Return(const Aml& value);

// Resource descriptors (section 6.4). ResourceTemplate wraps them in a
// Buffer and appends the End Tag (checksum 0: "treat as valid").
Aml ResourceTemplate(const AmlList& descriptors);
// IO (Decode16, min, max, alignment, length): section 6.4.2.5.
Aml Io(uint16_t min, uint16_t max, uint8_t alignment, uint8_t length);
// IRQNoFlags () {irq}: section 6.4.2.1, the 2-byte form (edge, high).
Aml IrqNoFlags(int irq);
// Memory32Fixed (ReadWrite or ReadOnly, base, length): section 6.4.3.4.
Aml Memory32Fixed(bool read_write, uint32_t base, uint32_t length);
// QWordMemory (ResourceConsumer or ResourceProducer, PosDecode, MinFixed,
// MaxFixed, NonCacheable, ReadWrite, 0, min, min + length - 1, 0, length):
// section 6.4.3.5.1. `length` must be non-zero and not wrap.
Aml QWordMemory(bool consumer, uint64_t min, uint64_t length);
// Interrupt (ResourceConsumer, Edge or Level, ActiveHigh or ActiveLow,
// Exclusive or Shared) {gsi}: the Extended Interrupt descriptor, section
// 6.4.3.6.
struct InterruptFlags {
  bool edge = false;
  bool active_low = false;
  bool shared = false;
};
Aml ExtendedInterrupt(uint32_t gsi, InterruptFlags flags);

// --- implementation of the constexpr name encoder -----------------------

constexpr bool NameString::Encode(std::string_view path,
                                  std::array<uint8_t, kMaxBytes>& out,
                                  size_t& size) {
  size = 0;
  size_t i = 0;
  if (i < path.size() && path[i] == '\\') {
    out[size++] = '\\';
    ++i;
  } else {
    while (i < path.size() && path[i] == '^') {
      if (size >= 4) return false;
      out[size++] = '^';
      ++i;
    }
  }
  std::array<std::array<uint8_t, 4>, kMaxSegments> segs{};
  size_t nsegs = 0;
  while (i < path.size()) {
    if (nsegs == kMaxSegments) return false;
    size_t len = 0;
    while (i < path.size() && path[i] != '.') {
      char c = path[i];
      if (len == 4) return false;
      if (len == 0 ? !IsLeadChar(c) : !IsNameChar(c)) return false;
      segs[nsegs][len++] = static_cast<uint8_t>(c);
      ++i;
    }
    if (len == 0) return false;  // empty segment: "..", leading or trailing .
    for (; len < 4; ++len) segs[nsegs][len] = '_';
    ++nsegs;
    if (i < path.size()) {
      ++i;  // the '.'
      if (i == path.size()) return false;
    }
  }
  if (nsegs == 0) {
    // NullName: only meaningful after a prefix ("\" is the root itself).
    if (size == 0) return false;
    out[size++] = 0x00;
    return true;
  }
  if (nsegs == 2) {
    out[size++] = 0x2e;  // DualNamePrefix
  } else if (nsegs > 2) {
    out[size++] = 0x2f;  // MultiNamePrefix
    out[size++] = static_cast<uint8_t>(nsegs);
  }
  for (size_t s = 0; s < nsegs; ++s) {
    for (size_t k = 0; k < 4; ++k) out[size++] = segs[s][k];
  }
  return true;
}

}  // namespace skiff::acpi::aml

#endif  // SKIFF_VMM_ACPI_AML_H_
