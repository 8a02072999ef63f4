#include "vmm/boot/pvh.h"

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "vmm/boot/layout.h"

namespace skiff::boot {

absl::Status WritePvhStartInfo(const GuestMemory& memory, const PvhInfo& info) {
  if (info.e820.size() > static_cast<size_t>(kMaxE820Entries)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("PVH: %d memory map entries exceed %d",
                        info.e820.size(), kMaxE820Entries));
  }
  HvmStartInfo start{};
  start.magic = kPvhStartMagic;
  start.version = kPvhStartInfoVersion;
  start.cmdline_paddr = info.cmdline_addr;
  start.rsdp_paddr = info.rsdp_addr.value_or(0);
  if (info.initrd) {
    HvmModlistEntry mod{};
    mod.paddr = info.initrd->first;
    mod.size = info.initrd->second;
    SKIFF_RETURN_IF_ERROR(memory.WriteObj(GuestAddr(kPvhModlistAddr), mod));
    start.nr_modules = 1;
    start.modlist_paddr = kPvhModlistAddr;
  }
  for (size_t i = 0; i < info.e820.size(); ++i) {
    HvmMemmapEntry e{};
    e.addr = info.e820[i].addr;
    e.size = info.e820[i].size;
    e.type = static_cast<uint32_t>(info.e820[i].type);
    SKIFF_RETURN_IF_ERROR(memory.WriteObj(
        GuestAddr(kPvhMemmapAddr + i * sizeof(HvmMemmapEntry)), e));
  }
  start.memmap_paddr = kPvhMemmapAddr;
  start.memmap_entries = static_cast<uint32_t>(info.e820.size());
  return memory.WriteObj(GuestAddr(kPvhStartInfoAddr), start);
}

}  // namespace skiff::boot
