#include "devices/irqchip/ioapic.h"

#include <cstring>

namespace skiff::devices {
namespace {

// Register offsets in the MMIO window and indirect register indices.
constexpr uint64_t kIoRegSel = 0x00;
constexpr uint64_t kIoWin = 0x10;
constexpr uint64_t kEoi = 0x40;
constexpr uint32_t kIndexId = 0x00;
constexpr uint32_t kIndexVersion = 0x01;
constexpr uint32_t kIndexArbitration = 0x02;
constexpr uint32_t kIndexRedirection = 0x10;

// Redirection entry fields (82093AA section 3.2.4).
constexpr uint64_t kVectorMask = 0xff;
constexpr uint64_t kLogical = 1u << 11;
constexpr uint64_t kRemoteIrr = 1u << 14;
constexpr uint64_t kLevelTrigger = 1u << 15;
constexpr uint64_t kMasked = 1u << 16;
// Vector, delivery mode, destination mode, polarity, trigger, mask.
constexpr uint64_t kLowWritable = 0x1afff;
constexpr uint64_t kHighWritable = 0xff000000;  // destination, bits 63:56

uint32_t LoadLe(absl::Span<const uint8_t> data) {
  uint32_t value = 0;
  std::memcpy(&value, data.data(), data.size() < 4 ? data.size() : 4);
  return value;
}

}  // namespace

void IoApic::Read(uint64_t offset, absl::Span<uint8_t> data) {
  uint32_t value = 0;
  {
    absl::MutexLock lock(&mu_);
    if (offset == kIoRegSel) {
      value = ioregsel_;
    } else if (offset == kIoWin) {
      value = ReadIndirect(ioregsel_);
    }
  }
  std::memset(data.data(), 0, data.size());
  std::memcpy(data.data(), &value, data.size() < 4 ? data.size() : 4);
}

void IoApic::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  uint32_t value = LoadLe(data);
  absl::MutexLock lock(&mu_);
  if (offset == kIoRegSel) {
    ioregsel_ = value & 0xff;
  } else if (offset == kIoWin) {
    WriteIndirect(ioregsel_, value);
  } else if (offset == kEoi) {
    EoiLocked(static_cast<uint8_t>(value));
  }
}

uint32_t IoApic::ReadIndirect(uint32_t index) const {
  switch (index) {
    case kIndexId:
    case kIndexArbitration:
      return id_;
    case kIndexVersion:
      return kVersion;
    default:
      break;
  }
  if (index >= kIndexRedirection && index < kIndexRedirection + 2 * kPins) {
    uint64_t entry = redirection_[(index - kIndexRedirection) / 2];
    return (index & 1) ? static_cast<uint32_t>(entry >> 32)
                       : static_cast<uint32_t>(entry);
  }
  return 0;
}

void IoApic::WriteIndirect(uint32_t index, uint32_t value) {
  if (index == kIndexId) {
    id_ = value & 0x0f000000;
    return;
  }
  if (index < kIndexRedirection || index >= kIndexRedirection + 2 * kPins) {
    return;  // version, arbitration: read-only
  }
  uint32_t pin = (index - kIndexRedirection) / 2;
  uint64_t& entry = redirection_[pin];
  if (index & 1) {
    entry = (entry & 0xffffffff) |
            (static_cast<uint64_t>(value & kHighWritable) << 32);
    return;
  }
  entry = (entry & ~uint64_t{0xffffffff}) | (entry & kRemoteIrr) |
          (value & kLowWritable);
  // An edge-triggered entry has no remote IRR (KVM does the same; Linux
  // flips level pins to edge and back to clear a stuck remote IRR).
  if (!(entry & kLevelTrigger)) entry &= ~kRemoteIrr;
  Service(pin);
}

void IoApic::SetPin(uint32_t pin, bool asserted) {
  if (pin >= kPins) return;
  absl::MutexLock lock(&mu_);
  const uint32_t bit = 1u << pin;
  const bool was = (levels_ & bit) != 0;
  if (asserted) {
    levels_ |= bit;
  } else {
    levels_ &= ~bit;
  }
  if (!(redirection_[pin] & kLevelTrigger)) {
    if (!asserted || was) return;
    edge_pending_ |= bit;
  } else if (!asserted) {
    return;
  }
  Service(pin);
}

void IoApic::Service(uint32_t pin) {
  uint64_t& entry = redirection_[pin];
  if (entry & kMasked) return;
  const uint32_t bit = 1u << pin;
  const bool level = (entry & kLevelTrigger) != 0;
  if (level) {
    if (!(levels_ & bit) || (entry & kRemoteIrr)) return;
  } else {
    if (!(edge_pending_ & bit)) return;
    edge_pending_ &= ~bit;
  }
  ApicMessage message;
  message.vector = static_cast<uint8_t>(entry & kVectorMask);
  message.mode = static_cast<DeliveryMode>((entry >> 8) & 7);
  message.logical = (entry & kLogical) != 0;
  message.level_triggered = level;
  message.destination = static_cast<uint32_t>(entry >> 56);
  int accepted = bus_.Deliver(message);
  // Remote IRR waits for an EOI from an APIC that took the interrupt; if
  // none did, setting it would wedge the pin forever.
  if (level && accepted > 0) entry |= kRemoteIrr;
}

void IoApic::OnEoi(uint8_t vector) {
  absl::MutexLock lock(&mu_);
  EoiLocked(vector);
}

void IoApic::EoiLocked(uint8_t vector) {
  for (uint32_t pin = 0; pin < kPins; ++pin) {
    uint64_t& entry = redirection_[pin];
    if ((entry & kVectorMask) != vector || !(entry & kLevelTrigger) ||
        !(entry & kRemoteIrr)) {
      continue;
    }
    entry &= ~kRemoteIrr;
    // Still asserted: deliver again (82093AA 3.2.4, remote IRR).
    Service(pin);
  }
}

uint64_t IoApic::redirection(uint32_t pin) const {
  absl::MutexLock lock(&mu_);
  return pin < kPins ? redirection_[pin] : 0;
}

}  // namespace skiff::devices
