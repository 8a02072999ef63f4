#include "kvm/tiny_guest.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace skiff::kvm {
namespace {

// Page-table entry bits (Intel SDM vol. 3A, 4.5).
constexpr uint64_t kPtePresent = 1u << 0;
constexpr uint64_t kPteWrite = 1u << 1;
constexpr uint64_t kPtePageSize = 1u << 7;

// GDT descriptors (SDM vol. 3A, 3.4.5): flat 4 GiB, granularity 4 KiB.
constexpr uint64_t kGdtCode64 = 0x00af9b000000ffff;  // L=1, DPL0, exec/read
constexpr uint64_t kGdtData = 0x00cf93000000ffff;    // D/B=1, DPL0, rw

constexpr uint32_t kTssLimit = 0x67;

Segment FlatData() {
  Segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = kTinyDataSelector;
  s.type = 0x3;  // read/write, accessed
  s.present = 1;
  s.dpl = 0;
  s.db = 1;
  s.s = 1;
  s.l = 0;
  s.g = 1;
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<GuestMemory>> CreateTinyGuestMemory() {
  return GuestMemory::Create({{GuestAddr(0), kTinyMemSize}}, {});
}

absl::Status WriteLongModeTables(const GuestMemory& memory) {
  SKIFF_RETURN_IF_ERROR(memory.Fill(GuestAddr(kTinyPml4), 0, 0x5000));
  SKIFF_RETURN_IF_ERROR(memory.WriteObj<uint64_t>(
      GuestAddr(kTinyPml4), kTinyPdpt | kPtePresent | kPteWrite));
  SKIFF_RETURN_IF_ERROR(memory.WriteObj<uint64_t>(
      GuestAddr(kTinyPdpt), kTinyPd | kPtePresent | kPteWrite));
  std::array<uint64_t, 512> pd;
  for (uint64_t i = 0; i < pd.size(); ++i) {
    pd[i] = (i << 21) | kPtePresent | kPteWrite | kPtePageSize;
  }
  SKIFF_RETURN_IF_ERROR(memory.WriteObj(GuestAddr(kTinyPd), pd));

  // 64-bit TSS descriptor (SDM vol. 3A, 7.2.3): type 0x9 (available), P.
  const uint64_t tss_low = kTssLimit | ((kTinyTss & 0xffffff) << 16) |
                           (0x89ull << 40) | (((kTinyTss >> 24) & 0xff) << 56);
  const std::array<uint64_t, 5> gdt = {0, kGdtCode64, kGdtData, tss_low,
                                       kTinyTss >> 32};
  SKIFF_RETURN_IF_ERROR(memory.WriteObj(GuestAddr(kTinyGdt), gdt));
  return absl::OkStatus();
}

absl::Status SetIdtGate(const GuestMemory& memory, int vector,
                        uint64_t handler) {
  if (vector < 0 || vector > 255) {
    return absl::InvalidArgumentError(absl::StrCat("IDT vector ", vector));
  }
  // SDM vol. 3A, 6.14.1, figure 6-8.
  std::array<uint32_t, 4> gate = {
      static_cast<uint32_t>((handler & 0xffff) | (kTinyCodeSelector << 16)),
      static_cast<uint32_t>((handler & 0xffff0000) | 0x8e00),
      static_cast<uint32_t>(handler >> 32), 0};
  return memory.WriteObj(GuestAddr(kTinyIdt + 16 * vector), gate);
}

Sregs LongModeSregs(const Sregs& base) {
  Sregs s = base;
  s.cs = Segment{};
  s.cs.limit = 0xffffffff;
  s.cs.selector = kTinyCodeSelector;
  s.cs.type = 0xb;  // execute/read, accessed
  s.cs.present = 1;
  s.cs.s = 1;
  s.cs.l = 1;
  s.cs.g = 1;
  s.ds = s.es = s.fs = s.gs = s.ss = FlatData();
  s.tr = Segment{};
  s.tr.base = kTinyTss;
  s.tr.limit = kTssLimit;
  s.tr.selector = kTinyTssSelector;
  s.tr.type = 0xb;  // busy 64-bit TSS, as after LTR
  s.tr.present = 1;
  s.gdt = {kTinyGdt, 5 * 8 - 1};
  s.idt = {kTinyIdt, 256 * 16 - 1};
  s.cr0 = kCr0Pe | kCr0Mp | kCr0Et | kCr0Ne | kCr0Wp | kCr0Pg;
  s.cr3 = kTinyPml4;
  s.cr4 = kCr4Pae;
  s.efer = kEferLme | kEferLma;
  return s;
}

absl::Status EnterLongMode(VcpuBackend& vcpu, uint64_t rip, uint64_t rsp) {
  Sregs sregs{};
  SKIFF_RETURN_IF_ERROR(vcpu.GetSregs(sregs));
  SKIFF_RETURN_IF_ERROR(vcpu.SetSregs(LongModeSregs(sregs)));
  Regs regs{};
  regs.rip = rip;
  regs.rsp = rsp;
  regs.rflags = kRflagsReserved1;
  return vcpu.SetRegs(regs);
}

}  // namespace skiff::kvm
