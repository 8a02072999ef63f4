#include "vmm/acpi/aml.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace skiff::acpi::aml {
namespace {

// ACPI 6.4 section 20.3 opcodes.
constexpr uint8_t kZeroOp = 0x00;
constexpr uint8_t kOneOp = 0x01;
constexpr uint8_t kNameOp = 0x08;
constexpr uint8_t kBytePrefix = 0x0a;
constexpr uint8_t kWordPrefix = 0x0b;
constexpr uint8_t kDWordPrefix = 0x0c;
constexpr uint8_t kStringPrefix = 0x0d;
constexpr uint8_t kQWordPrefix = 0x0e;
constexpr uint8_t kScopeOp = 0x10;
constexpr uint8_t kBufferOp = 0x11;
constexpr uint8_t kPackageOp = 0x12;
constexpr uint8_t kMethodOp = 0x14;
constexpr uint8_t kExtOpPrefix = 0x5b;
constexpr uint8_t kDeviceOp = 0x82;  // after kExtOpPrefix
constexpr uint8_t kReturnOp = 0xa4;
constexpr uint8_t kOnesOp = 0xff;

// Section 6.4 resource descriptor tags.
constexpr uint8_t kIrqTag2 = 0x22;  // small item 0x4, length 2
constexpr uint8_t kIoTag = 0x47;    // small item 0x8, length 7
constexpr uint8_t kEndTag = 0x79;   // small item 0xf, length 1
constexpr uint8_t kMemory32FixedTag = 0x86;
constexpr uint8_t kExtendedIrqTag = 0x89;
constexpr uint8_t kQWordAddressTag = 0x8a;

// The largest PkgLength value (section 20.2.4: 28 bits).
constexpr size_t kMaxPkgLength = (size_t{1} << 28) - 1;

void PutLe(Bytes& out, uint64_t value, int width) {
  for (int i = 0; i < width; ++i) {
    out.push_back(static_cast<uint8_t>(value >> (8 * i)));
  }
}

// Concatenates the list, or returns its first error.
Aml Join(const AmlList& list) {
  Aml out;
  for (const Aml& a : list) out.Append(a);
  return out;
}

// `prefix`, PkgLength, then `payload`.
Aml WithPkgLength(Bytes prefix, const Aml& payload) {
  if (!payload.ok()) return payload;
  absl::StatusOr<Bytes> len = EncodePkgLength(payload.bytes().size());
  if (!len.ok()) return Aml::Error(len.status());
  Bytes out = std::move(prefix);
  out.insert(out.end(), len->begin(), len->end());
  out.insert(out.end(), payload.bytes().begin(), payload.bytes().end());
  return Aml::FromBytes(std::move(out));
}

Bytes NameBytes(const NameString& name) {
  return Bytes(name.bytes().begin(), name.bytes().end());
}

}  // namespace

absl::StatusOr<NameString> NameString::Parse(std::string_view path) {
  NameString name;
  if (!Encode(path, name.bytes_, name.size_)) {
    return absl::InvalidArgumentError(
        absl::StrCat("aml: malformed name \"", std::string(path), "\""));
  }
  return name;
}

Aml Aml::FromBytes(Bytes bytes) {
  Aml a;
  a.bytes_ = std::move(bytes);
  return a;
}

Aml Aml::Error(absl::Status status) {
  Aml a;
  a.status_ = status.ok() ? absl::InternalError("aml: error without status")
                          : std::move(status);
  return a;
}

absl::StatusOr<Bytes> Aml::Finish() const {
  if (!ok()) return status_;
  return bytes_;
}

void Aml::Append(const Aml& other) {
  if (!ok()) return;
  if (!other.ok()) {
    status_ = other.status_;
    bytes_.clear();
    return;
  }
  bytes_.insert(bytes_.end(), other.bytes_.begin(), other.bytes_.end());
}

absl::StatusOr<Bytes> EncodePkgLength(size_t payload_len) {
  // The encoded value includes the PkgLength bytes themselves.
  for (size_t n = 1; n <= 4; ++n) {
    if (payload_len > kMaxPkgLength - n) break;
    size_t total = payload_len + n;
    if (n == 1) {
      if (total <= 0x3f) return Bytes{static_cast<uint8_t>(total)};
      continue;
    }
    // n bytes hold 4 + 8 * (n - 1) bits.
    if (total >= (size_t{1} << (4 + 8 * (n - 1)))) continue;
    Bytes out;
    out.push_back(static_cast<uint8_t>(((n - 1) << 6) | (total & 0x0f)));
    for (size_t i = 1; i < n; ++i) {
      out.push_back(static_cast<uint8_t>(total >> (4 + 8 * (i - 1))));
    }
    return out;
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "aml: package of %d bytes exceeds the PkgLength limit", payload_len));
}

Aml Zero() { return Aml::FromBytes({kZeroOp}); }
Aml One() { return Aml::FromBytes({kOneOp}); }
Aml Ones() { return Aml::FromBytes({kOnesOp}); }

Aml Integer(uint64_t value) {
  if (value == 0) return Zero();
  if (value == 1) return One();
  if (value <= 0xff) return Byte(static_cast<uint8_t>(value));
  if (value <= 0xffff) return Word(static_cast<uint16_t>(value));
  if (value <= 0xffffffff) return DWord(static_cast<uint32_t>(value));
  return QWord(value);
}

Aml Byte(uint8_t value) { return Aml::FromBytes({kBytePrefix, value}); }

Aml Word(uint16_t value) {
  Bytes b{kWordPrefix};
  PutLe(b, value, 2);
  return Aml::FromBytes(std::move(b));
}

Aml DWord(uint32_t value) {
  Bytes b{kDWordPrefix};
  PutLe(b, value, 4);
  return Aml::FromBytes(std::move(b));
}

Aml QWord(uint64_t value) {
  Bytes b{kQWordPrefix};
  PutLe(b, value, 8);
  return Aml::FromBytes(std::move(b));
}

Aml String(std::string_view ascii) {
  Bytes b{kStringPrefix};
  for (char c : ascii) {
    auto u = static_cast<unsigned char>(c);
    if (u == 0 || u > 0x7f) {
      return Aml::Error(absl::InvalidArgumentError(absl::StrFormat(
          "aml: string has byte 0x%02x outside ASCII 0x01-0x7f", u)));
    }
    b.push_back(u);
  }
  b.push_back(0);
  return Aml::FromBytes(std::move(b));
}

Aml Path(const NameString& name) { return Aml::FromBytes(NameBytes(name)); }

Aml EisaId(std::string_view id) {
  // ACPI 6.4 section 19.6.35: three uppercase letters (5 bits each, 'A' is
  // 1) then four hex digits, stored big-endian in a DWord.
  auto bad = [&] {
    return Aml::Error(absl::InvalidArgumentError(
        absl::StrCat("aml: EISAID \"", std::string(id),
                     "\" is not AAA#### (e.g. PNP0501)")));
  };
  if (id.size() != 7) return bad();
  uint32_t value = 0;
  for (int i = 0; i < 3; ++i) {
    char c = id[i];
    if (c < 'A' || c > 'Z') return bad();
    value = (value << 5) | static_cast<uint32_t>(c - 0x40);
  }
  for (int i = 3; i < 7; ++i) {
    char c = id[i];
    uint32_t digit;
    if (c >= '0' && c <= '9') {
      digit = static_cast<uint32_t>(c - '0');
    } else if (c >= 'A' && c <= 'F') {
      digit = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      return bad();
    }
    value = (value << 4) | digit;
  }
  // 31 bits, most significant first: byte-swap so the first letter's bits
  // land in the lowest-addressed byte.
  uint32_t swapped = ((value & 0xff) << 24) | ((value & 0xff00) << 8) |
                     ((value >> 8) & 0xff00) | (value >> 24);
  return DWord(swapped);
}

Aml Buffer(absl::Span<const uint8_t> bytes) {
  Aml payload = Integer(bytes.size());
  payload.Append(Aml::FromBytes(Bytes(bytes.begin(), bytes.end())));
  return WithPkgLength({kBufferOp}, payload);
}

Aml Name(const NameString& name, const Aml& value) {
  Aml out = Aml::FromBytes({kNameOp});
  out.Append(Path(name));
  out.Append(value);
  return out;
}

Aml Package(const AmlList& elements) {
  if (elements.size() > 255) {
    return Aml::Error(absl::InvalidArgumentError(absl::StrFormat(
        "aml: Package of %d elements exceeds 255 (VarPackage is not "
        "supported)",
        elements.size())));
  }
  Aml payload = Aml::FromBytes({static_cast<uint8_t>(elements.size())});
  payload.Append(Join(elements));
  return WithPkgLength({kPackageOp}, payload);
}

Aml Scope(const NameString& name, const AmlList& body) {
  Aml payload = Path(name);
  payload.Append(Join(body));
  return WithPkgLength({kScopeOp}, payload);
}

Aml Device(const NameString& name, const AmlList& body) {
  Aml payload = Path(name);
  payload.Append(Join(body));
  return WithPkgLength({kExtOpPrefix, kDeviceOp}, payload);
}

Aml Method(const NameString& name, int num_args, bool serialized,
           const AmlList& body) {
  if (num_args < 0 || num_args > 7) {
    return Aml::Error(absl::InvalidArgumentError(
        absl::StrFormat("aml: Method with %d arguments (0-7)", num_args)));
  }
  // MethodFlags: ArgCount in bits 0-2, SerializeFlag bit 3, SyncLevel 4-7.
  uint8_t flags = static_cast<uint8_t>(num_args | (serialized ? 0x08 : 0));
  Aml payload = Path(name);
  payload.Append(Aml::FromBytes({flags}));
  payload.Append(Join(body));
  return WithPkgLength({kMethodOp}, payload);
}

Aml Return(const Aml& value) {
  Aml out = Aml::FromBytes({kReturnOp});
  out.Append(value);
  return out;
}

Aml ResourceTemplate(const AmlList& descriptors) {
  Aml body = Join(descriptors);
  // End Tag with checksum 0, which section 6.4.2.9 says means "valid".
  body.Append(Aml::FromBytes({kEndTag, 0x00}));
  if (!body.ok()) return body;
  return Buffer(body.bytes());
}

Aml Io(uint16_t min, uint16_t max, uint8_t alignment, uint8_t length) {
  // Information byte bit 0: the device decodes all 16 address bits.
  Bytes b{kIoTag, 0x01};
  PutLe(b, min, 2);
  PutLe(b, max, 2);
  b.push_back(alignment);
  b.push_back(length);
  return Aml::FromBytes(std::move(b));
}

Aml IrqNoFlags(int irq) {
  if (irq < 0 || irq > 15) {
    return Aml::Error(absl::InvalidArgumentError(absl::StrFormat(
        "aml: IRQNoFlags takes ISA IRQs 0-15, got %d (use an Extended "
        "Interrupt descriptor)",
        irq)));
  }
  Bytes b{kIrqTag2};
  PutLe(b, uint16_t{1} << irq, 2);
  return Aml::FromBytes(std::move(b));
}

Aml Memory32Fixed(bool read_write, uint32_t base, uint32_t length) {
  Bytes b{kMemory32FixedTag};
  PutLe(b, 9, 2);  // length of the rest of the descriptor
  b.push_back(read_write ? 0x01 : 0x00);
  PutLe(b, base, 4);
  PutLe(b, length, 4);
  return Aml::FromBytes(std::move(b));
}

Aml QWordMemory(bool consumer, uint64_t min, uint64_t length) {
  if (length == 0 || min + (length - 1) < min) {
    return Aml::Error(absl::InvalidArgumentError(absl::StrFormat(
        "aml: QWordMemory at 0x%x length 0x%x is empty or wraps", min,
        length)));
  }
  Bytes b{kQWordAddressTag};
  PutLe(b, 43, 2);    // length of the rest of the descriptor
  b.push_back(0x00);  // resource type: memory range
  // General flags: MaxFixed (bit 3), MinFixed (bit 2), PosDecode (bit 1
  // clear), ResourceConsumer (bit 0 set) or ResourceProducer.
  b.push_back(consumer ? 0x0d : 0x0c);
  // Type-specific flags: non-cacheable (bits 1-2 = 0), read-write (bit 0).
  b.push_back(0x01);
  PutLe(b, 0, 8);  // granularity
  PutLe(b, min, 8);
  PutLe(b, min + (length - 1), 8);
  PutLe(b, 0, 8);  // translation offset
  PutLe(b, length, 8);
  return Aml::FromBytes(std::move(b));
}

Aml ExtendedInterrupt(uint32_t gsi, InterruptFlags flags) {
  Bytes b{kExtendedIrqTag};
  PutLe(b, 6, 2);  // flags, table length and one interrupt number
  // Bit 0 consumer, bit 1 edge (clear: level), bit 2 active-low, bit 3
  // shared.
  b.push_back(static_cast<uint8_t>(0x01 | (flags.edge ? 0x02 : 0) |
                                   (flags.active_low ? 0x04 : 0) |
                                   (flags.shared ? 0x08 : 0)));
  b.push_back(1);
  PutLe(b, gsi, 4);
  return Aml::FromBytes(std::move(b));
}

}  // namespace skiff::acpi::aml
