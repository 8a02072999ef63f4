#include "tcg/cpuid_msr.h"

#include <cstring>
#include <numeric>

#include "tcg/flags.h"
#include "tcg/pvclock.h"

namespace skiff::tcg {
namespace {

uint32_t Str4(const char* s) {
  uint32_t v;
  std::memcpy(&v, s, 4);
  return v;
}

// CPUID.1:EDX (Intel SDM vol. 2, table 3-11).
// APIC: the machine attaches a userspace local APIC to every interpreter
// vCPU (devices/irqchip); without this bit Linux stays in PIC mode and
// brings up one CPU.
constexpr uint32_t kEdxFpu = 1u << 0, kEdxPse = 1u << 3, kEdxTsc = 1u << 4,
                   kEdxMsr = 1u << 5, kEdxPae = 1u << 6, kEdxCx8 = 1u << 8,
                   kEdxApic = 1u << 9, kEdxPge = 1u << 13, kEdxCmov = 1u << 15,
                   kEdxPat = 1u << 16;
// x87, MMX, FXSAVE/FXRSTOR, SSE, SSE2: ops_x87.cc, ops_sse*.cc. No SSE3+,
// no XSAVE/AVX (not implemented, so not advertised).
constexpr uint32_t kEdxMmx = 1u << 23, kEdxFxsr = 1u << 24, kEdxSse = 1u << 25,
                   kEdxSse2 = 1u << 26;
// CPUID.1:ECX. TSC-deadline: the LAPIC (devices/irqchip) implements
// IA32_TSC_DEADLINE on the same GuestClock as RDTSC, and with it Linux
// needs no LAPIC timer calibration (apic.c calibrate_APIC_clock). Bit 31:
// running under a hypervisor, so guests look at leaf 0x40000000.
// RDRAND (bit 30) and, in leaf 7, RDSEED: ops_arith.cc, from the vCPU's
// GuestEntropy; with them Linux seeds its crng at random_init() instead of
// from interrupt timing late in boot.
constexpr uint32_t kEcxCx16 = 1u << 13, kEcxPopcnt = 1u << 23,
                   kEcxTscDeadline = 1u << 24, kEcxRdrand = 1u << 30,
                   kEcxHypervisor = 1u << 31;
// CPUID.(EAX=7,ECX=0):EBX.
constexpr uint32_t kLeaf7EbxErms = 1u << 9, kLeaf7EbxRdseed = 1u << 18;
// CPUID.80000007h:EDX bit 8: invariant TSC (SDM vol. 3, 17.17.1).
constexpr uint32_t kPowerEdxInvariantTsc = 1u << 8;
// CPUID.80000001h.
constexpr uint32_t kExtEcxLahf = 1u << 0, kExtEcxAbm = 1u << 5;
constexpr uint32_t kExtEdxSyscall = 1u << 11, kExtEdxNx = 1u << 20,
                   kExtEdxPage1g = 1u << 26, kExtEdxRdtscp = 1u << 27,
                   kExtEdxLm = 1u << 29;

// The LAPIC timer's bus clock (devices/irqchip/lapic.h kBusHz), reported
// as the leaf 0x15 crystal, so that on Intel-style guests crystal == APIC
// bus (Linux then sets lapic_timer_period from it, tsc.c).
constexpr uint64_t kApicBusHz = 1'000'000'000;
// Hypervisor leaves (0x40000000.., the range Intel reserves for VMMs): the
// max leaf and KVM's signature, because the interpreter offers KVM's
// paravirtual clock (tcg/pvclock.h; its only KVM feature, 0x40000001), and
// 0x40000010, the timing leaf VMware and KVM document (EAX: TSC kHz, EBX:
// APIC bus kHz).
constexpr uint32_t kHvLeafMax = 0x40000010;
constexpr char kHvSignature[13] = "KVMKVMKVM\0\0\0";

constexpr char kBrand[49] = "Skiff TCG x86-64 interpreter                    ";

}  // namespace

CpuidResult Cpuid(const Cpu& c, uint32_t leaf, uint32_t subleaf) {
  CpuidResult r;
  switch (leaf) {
    case 0:
      r.eax = 0x16;
      r.ebx = Str4(kCpuVendor);
      r.edx = Str4(kCpuVendor + 4);
      r.ecx = Str4(kCpuVendor + 8);
      break;
    case 1:
      r.eax = 0x000606f1;  // family 6, model 0x6f, stepping 1
      r.ebx = (static_cast<uint32_t>(c.s.vcpu_index) << 24) | (1u << 16) |
              (8u << 8);
      r.ecx =
          kEcxCx16 | kEcxPopcnt | kEcxTscDeadline | kEcxRdrand | kEcxHypervisor;
      r.edx = kEdxFpu | kEdxPse | kEdxTsc | kEdxMsr | kEdxPae | kEdxCx8 |
              kEdxApic | kEdxPge | kEdxCmov | kEdxPat | kEdxMmx | kEdxFxsr |
              kEdxSse | kEdxSse2;
      break;
    case 7:
      // Subleaf 0 only: EAX (the highest subleaf) stays 0.
      if (subleaf == 0) r.ebx = kLeaf7EbxErms | kLeaf7EbxRdseed;
      break;
    case 0x15: {
      // TSC/crystal ratio EBX/EAX and the crystal in Hz (SDM vol. 2, CPUID
      // leaf 15h): TSC Hz = ECX * EBX / EAX.
      const uint64_t tsc_hz = c.clock->tsc_hz();
      uint64_t num = tsc_hz, den = kApicBusHz;
      const uint64_t g = std::gcd(num, den);
      num /= g;
      den /= g;
      while (num > 0xffffffff || den > 0xffffffff) {
        num >>= 1;
        den >>= 1;
      }
      if (num != 0 && den != 0) {
        r.eax = static_cast<uint32_t>(den);
        r.ebx = static_cast<uint32_t>(num);
        r.ecx = static_cast<uint32_t>(kApicBusHz);
      }
      break;
    }
    case 0x16:
      // Base and maximum frequency and bus (reference) frequency in MHz.
      r.eax = static_cast<uint32_t>(c.clock->tsc_hz() / 1'000'000) & 0xffff;
      r.ebx = r.eax;
      r.ecx = static_cast<uint32_t>(kApicBusHz / 1'000'000);
      break;
    case 0x40000000:
      r.eax = kHvLeafMax;
      r.ebx = Str4(kHvSignature);
      r.ecx = Str4(kHvSignature + 4);
      r.edx = Str4(kHvSignature + 8);
      break;
    case 0x40000001:
      r.eax = kKvmFeatureClocksource2 | kKvmFeatureClocksourceStable;
      break;
    case 0x40000010:
      r.eax = static_cast<uint32_t>(c.clock->tsc_hz() / 1000);
      r.ebx = static_cast<uint32_t>(kApicBusHz / 1000);
      break;
    case 0x80000007:
      r.edx = kPowerEdxInvariantTsc;
      break;
    case 0x80000000:
      r.eax = 0x80000008;
      r.ebx = Str4(kCpuVendor);
      r.edx = Str4(kCpuVendor + 4);
      r.ecx = Str4(kCpuVendor + 8);
      break;
    case 0x80000001:
      r.ecx = kExtEcxLahf | kExtEcxAbm;
      r.edx = kExtEdxSyscall | kExtEdxNx | kExtEdxPage1g | kExtEdxRdtscp |
              kExtEdxLm;
      break;
    case 0x80000002:
    case 0x80000003:
    case 0x80000004: {
      const char* p = kBrand + (leaf - 0x80000002) * 16;
      r.eax = Str4(p);
      r.ebx = Str4(p + 4);
      r.ecx = Str4(p + 8);
      r.edx = Str4(p + 12);
      break;
    }
    case 0x80000008:
      r.eax = 40 | (48 << 8);  // physical and linear address bits
      break;
    default:
      break;  // leaves 2..7 and unknown leaves: all zero
  }
  return r;
}

uint64_t ReadTsc(const Cpu& c) {
  return c.clock->Tsc() + static_cast<uint64_t>(c.s.tsc_offset);
}

bool ReadMsr(Cpu& c, uint32_t index, uint64_t* v) {
  CpuState& s = c.s;
  switch (index) {
    case kMsrIa32Tsc:
      *v = ReadTsc(c);
      return true;
    case kMsrIa32ApicBase:
      *v = s.apic_base;
      return true;
    case kMsrIa32MiscEnable:
      *v = s.misc_enable;
      return true;
    case kMsrIa32Pat:
      *v = s.pat;
      return true;
    case kMsrIa32SysenterCs:
      *v = s.sysenter_cs;
      return true;
    case kMsrIa32SysenterEsp:
      *v = s.sysenter_esp;
      return true;
    case kMsrIa32SysenterEip:
      *v = s.sysenter_eip;
      return true;
    case kMsrIa32TscDeadline:
      *v = s.tsc_deadline;
      return true;
    case kMsrEfer:
      *v = s.efer;
      return true;
    case kMsrStar:
      *v = s.star;
      return true;
    case kMsrLstar:
      *v = s.lstar;
      return true;
    case kMsrCstar:
      *v = s.cstar;
      return true;
    case kMsrSyscallMask:
      *v = s.fmask;
      return true;
    case kMsrFsBase:
      *v = s.seg[kFs].base;
      return true;
    case kMsrGsBase:
      *v = s.seg[kGs].base;
      return true;
    case kMsrKernelGsBase:
      *v = s.kernel_gs_base;
      return true;
    case kMsrTscAux:
      *v = s.tsc_aux;
      return true;
    case kMsrKvmSystemTimeNew:
      *v = s.kvm_system_time;
      return true;
    case kMsrKvmWallClockNew:
      *v = s.kvm_wall_clock;
      return true;
    default:
      return false;
  }
}

bool WriteMsr(Cpu& c, uint32_t index, uint64_t v) {
  CpuState& s = c.s;
  auto canonical = [&c](uint64_t a) { return c.IsCanonical(a); };
  switch (index) {
    case kMsrIa32Tsc:
      s.tsc_offset = static_cast<int64_t>(v - c.clock->Tsc());
      return true;
    case kMsrIa32ApicBase:
      s.apic_base = v;
      return true;
    case kMsrIa32MiscEnable:
      s.misc_enable = v;
      return true;
    case kMsrIa32Pat:
      s.pat = v;
      return true;
    case kMsrIa32SysenterCs:
      s.sysenter_cs = v;
      return true;
    case kMsrIa32SysenterEsp:
      s.sysenter_esp = v;
      return true;
    case kMsrIa32SysenterEip:
      s.sysenter_eip = v;
      return true;
    case kMsrIa32TscDeadline:
      s.tsc_deadline = v;
      return true;
    case kMsrEfer: {
      // SCE, LME, NXE are writable; LMA follows CR0.PG (Intel SDM vol. 3,
      // section 9.8.5).
      constexpr uint64_t kWritable = kEferSce | kEferLme | kEferNxe;
      if (v & ~(kWritable | kEferLma)) return false;
      if ((s.cr0 & kCr0Pg) && ((v ^ s.efer) & kEferLme)) return false;
      const uint64_t nv = (v & kWritable) | (s.efer & kEferLma);
      if ((nv ^ s.efer) & kEferNxe) c.FlushTlb(true);
      s.efer = nv;
      c.UpdateMode();
      return true;
    }
    case kMsrStar:
      s.star = v;
      return true;
    case kMsrLstar:
      if (!canonical(v)) return false;
      s.lstar = v;
      return true;
    case kMsrCstar:
      if (!canonical(v)) return false;
      s.cstar = v;
      return true;
    case kMsrSyscallMask:
      s.fmask = v & 0xffffffff;
      return true;
    case kMsrFsBase:
      if (!canonical(v)) return false;
      s.seg[kFs].base = v;
      return true;
    case kMsrGsBase:
      if (!canonical(v)) return false;
      s.seg[kGs].base = v;
      return true;
    case kMsrKernelGsBase:
      if (!canonical(v)) return false;
      s.kernel_gs_base = v;
      return true;
    case kMsrTscAux:
      s.tsc_aux = v & 0xffffffff;
      return true;
    case kMsrKvmSystemTimeNew:
      // Bit 0 enables; the structure is written once (pvclock.h). KVM
      // ignores an address outside RAM, so does this.
      s.kvm_system_time = v;
      if (v & 1) WritePvclockTimeInfo(c, v & ~1ull);
      return true;
    case kMsrKvmWallClockNew:
      s.kvm_wall_clock = v;
      WritePvclockWallClock(c, v);
      return true;
    default:
      return false;
  }
}

}  // namespace skiff::tcg
