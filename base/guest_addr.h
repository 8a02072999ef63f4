// GuestAddr is a guest-physical address. It is a distinct type so that it is
// never confused with a host pointer, a length or an offset.
//
//   GuestAddr a(0x100000);
//   GuestAddr b = a + 0x1000;   // offsets are plain integers
//   uint64_t raw = b.value();
#ifndef SKIFF_BASE_GUEST_ADDR_H_
#define SKIFF_BASE_GUEST_ADDR_H_

#include <compare>
#include <cstdint>

namespace skiff {

class GuestAddr {
 public:
  constexpr GuestAddr() = default;
  constexpr explicit GuestAddr(uint64_t value) : value_(value) {}
  constexpr uint64_t value() const { return value_; }

  // Wraps on overflow like the hardware; GuestMemory checks ranges with
  // overflow-safe arithmetic, so a wrapped address is simply out of range.
  constexpr GuestAddr operator+(uint64_t offset) const {
    return GuestAddr(value_ + offset);
  }
  constexpr GuestAddr& operator+=(uint64_t offset) {
    value_ += offset;
    return *this;
  }
  constexpr uint64_t operator-(GuestAddr other) const {
    return value_ - other.value_;
  }
  constexpr auto operator<=>(const GuestAddr&) const = default;

 private:
  uint64_t value_ = 0;
};

}  // namespace skiff

#endif  // SKIFF_BASE_GUEST_ADDR_H_
