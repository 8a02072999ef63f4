// libFuzzer target: arbitrary bytes as a kernel image (and, split off the
// end, an initrd) for LoadKernelFromBytes on a 64 MiB guest. The first byte
// picks the options. Every input must fail cleanly or load inside guest RAM.
#include <cstddef>
#include <cstdint>

#include "base/guest_memory.h"
#include "vmm/boot/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  absl::Span<const uint8_t> rest(data + 1, size - 1);
  auto mem =
      skiff::GuestMemory::Create(skiff::GuestMemory::X86Layout(64 << 20), {});
  if (!mem.ok()) return 0;
  skiff::boot::LoadOptions options;
  options.kernel_path = "fuzz";
  options.cmdline = "console=ttyS0";
  options.prefer_pvh = flags & 1;
  options.bzimage_fast_path = flags & 2;
  if (flags & 4) options.rsdp_addr = 0xe0000;
  std::optional<absl::Span<const uint8_t>> initrd;
  if ((flags & 8) && rest.size() > 16) {
    // The last 1/16th of the input is the initrd.
    size_t cut = rest.size() - rest.size() / 16;
    initrd = rest.subspan(cut);
    rest = rest.subspan(0, cut);
  }
  (void)skiff::boot::LoadKernelFromBytes(**mem, options, rest, initrd);
  return 0;
}
