// Internal to vmm/boot: builds the loaders' error messages, which always name
// the file and the problem ("kernel /x/vmlinux: program header 3 extends past
// end of file").
//
//   return Invalid(what, "setup header version 0x%04x is older than 2.06", v);
#ifndef SKIFF_VMM_BOOT_ERRORS_H_
#define SKIFF_VMM_BOOT_ERRORS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace skiff::boot {

// Arguments are taken by value: many are fields of packed structs
// (SetupHeader), which must not be bound to references.
template <typename... Args>
absl::Status Invalid(const std::string& what,
                     const absl::FormatSpec<Args...>& format, Args... args) {
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": ", absl::StrFormat(format, args...)));
}

// "600 MiB", "12 KiB", "17 bytes": sizes in messages meant for people.
inline std::string HumanSize(uint64_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) {
    return absl::StrFormat("%u MiB", bytes >> 20);
  }
  if (bytes >= (1u << 20)) {
    return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  }
  if (bytes >= 1024 && bytes % 1024 == 0) {
    return absl::StrFormat("%u KiB", bytes >> 10);
  }
  return absl::StrFormat("%u bytes", bytes);
}

inline uint64_t AlignUp(uint64_t value, uint64_t align) {
  return (value + align - 1) & ~(align - 1);
}
inline uint64_t AlignDown(uint64_t value, uint64_t align) {
  return value & ~(align - 1);
}

}  // namespace skiff::boot

#endif  // SKIFF_VMM_BOOT_ERRORS_H_
