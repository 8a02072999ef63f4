#include "devices/bus.h"

#include <cstring>

#include "absl/strings/str_format.h"

namespace skiff::devices {

absl::Status Bus::Insert(std::shared_ptr<BusDevice> device, uint64_t base,
                         uint64_t len) {
  if (len == 0 || base + len - 1 < base) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s bus: bad range base=0x%x len=0x%x", name_, base, len));
  }
  absl::MutexLock lock(&mu_);
  auto next = ranges_.lower_bound(base);
  if (next != ranges_.end() && next->first <= base + len - 1) {
    return absl::AlreadyExistsError(
        absl::StrFormat("%s bus: range 0x%x+0x%x overlaps 0x%x+0x%x", name_,
                        base, len, next->first, next->second.len));
  }
  if (next != ranges_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.len - 1 >= base) {
      return absl::AlreadyExistsError(
          absl::StrFormat("%s bus: range 0x%x+0x%x overlaps 0x%x+0x%x", name_,
                          base, len, prev->first, prev->second.len));
    }
  }
  ranges_.emplace(base, Range{len, std::move(device)});
  return absl::OkStatus();
}

absl::Status Bus::Remove(uint64_t base) {
  absl::MutexLock lock(&mu_);
  if (ranges_.erase(base) == 0) {
    return absl::NotFoundError(
        absl::StrFormat("%s bus: no range at 0x%x", name_, base));
  }
  return absl::OkStatus();
}

std::shared_ptr<BusDevice> Bus::Find(uint64_t addr, uint64_t size,
                                     uint64_t& offset) {
  absl::ReaderMutexLock lock(&mu_);
  auto it = ranges_.upper_bound(addr);
  if (it == ranges_.begin()) return nullptr;
  --it;
  offset = addr - it->first;
  if (offset >= it->second.len || size > it->second.len - offset)
    return nullptr;
  return it->second.device;
}

bool Bus::Read(uint64_t addr, absl::Span<uint8_t> data) {
  uint64_t offset = 0;
  std::shared_ptr<BusDevice> device = Find(addr, data.size(), offset);
  if (device == nullptr) {
    std::memset(data.data(), 0xff, data.size());
    return false;
  }
  device->Read(offset, data);
  return true;
}

bool Bus::Write(uint64_t addr, absl::Span<const uint8_t> data) {
  uint64_t offset = 0;
  std::shared_ptr<BusDevice> device = Find(addr, data.size(), offset);
  if (device == nullptr) return false;
  device->Write(offset, data);
  return true;
}

}  // namespace skiff::devices
