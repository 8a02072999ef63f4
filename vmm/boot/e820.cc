#include "vmm/boot/e820.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "vmm/boot/layout.h"

namespace skiff::boot {
namespace {

// Removes [cut.addr, cut.end()) from every usable entry in `ranges`.
std::vector<E820Entry> Subtract(const std::vector<E820Entry>& ranges,
                                const E820Entry& cut) {
  std::vector<E820Entry> out;
  for (const E820Entry& r : ranges) {
    if (cut.end() <= r.addr || cut.addr >= r.end()) {
      out.push_back(r);
      continue;
    }
    if (r.addr < cut.addr) out.push_back({r.addr, cut.addr - r.addr, r.type});
    if (cut.end() < r.end()) {
      out.push_back({cut.end(), r.end() - cut.end(), r.type});
    }
  }
  return out;
}

}  // namespace

uint64_t LowRamEnd(const GuestMemory& memory) {
  for (const GuestMemory::Region& r : memory.regions()) {
    if (r.start.value() == 0) return r.size;
  }
  return 0;
}

absl::StatusOr<std::vector<E820Entry>> BuildE820Map(
    const GuestMemory& memory, const std::vector<E820Entry>& extra_reserved) {
  std::vector<E820Entry> usable;
  for (const GuestMemory::Region& r : memory.regions()) {
    usable.push_back({r.start.value(), r.size, E820Type::kRam});
  }
  // The legacy PC hole is reserved whether or not RAM backs it: Linux probes
  // the EBDA and ROM area there, and the MP table/RSDP will live in it.
  std::vector<E820Entry> reserved = {
      {kEbdaStart, kHighMemStart - kEbdaStart, E820Type::kReserved}};
  for (const E820Entry& e : extra_reserved) {
    if (e.size == 0 || e.addr + e.size < e.addr) {
      return absl::InvalidArgumentError(
          absl::StrFormat("e820: reserved range at 0x%x size 0x%x is empty or "
                          "wraps around",
                          e.addr, e.size));
    }
    if (e.type == E820Type::kRam) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "e820: extra range at 0x%x has type RAM, expected a reserved type",
          e.addr));
    }
    reserved.push_back(e);
  }
  std::sort(
      reserved.begin(), reserved.end(),
      [](const E820Entry& a, const E820Entry& b) { return a.addr < b.addr; });
  for (size_t i = 1; i < reserved.size(); ++i) {
    if (reserved[i].addr < reserved[i - 1].end()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("e820: reserved ranges at 0x%x and 0x%x overlap",
                          reserved[i - 1].addr, reserved[i].addr));
    }
  }
  for (const E820Entry& cut : reserved) usable = Subtract(usable, cut);

  std::vector<E820Entry> map = usable;
  map.insert(map.end(), reserved.begin(), reserved.end());
  std::sort(map.begin(), map.end(), [](const E820Entry& a, const E820Entry& b) {
    return a.addr < b.addr;
  });
  if (map.size() > static_cast<size_t>(kMaxE820Entries)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("e820: %d entries exceed the limit of %d", map.size(),
                        kMaxE820Entries));
  }
  return map;
}

std::string E820ToString(const std::vector<E820Entry>& map) {
  std::string out;
  for (const E820Entry& e : map) {
    absl::StrAppend(&out, absl::StrFormat("[0x%x, 0x%x) type=%d\n", e.addr,
                                          e.end(), static_cast<int>(e.type)));
  }
  return out;
}

}  // namespace skiff::boot
