// KVM's paravirtual clock ("kvmclock", Linux Documentation/virt/kvm/x86/
// msr.rst and cpuid.rst, arch/x86/include/asm/pvclock-abi.h), which the
// interpreter offers so that a Linux guest learns the TSC frequency without
// calibrating it against the PIT. Linux 6.1 reads the CPUID frequency leaves
// 0x15/0x16 only on GenuineIntel CPUs and 0x40000010 only under VMware or
// ACRN; kvmclock is the vendor-neutral way (arch/x86/kernel/kvmclock.c:
// calibrate_tsc = kvm_get_tsc_khz, X86_FEATURE_TSC_KNOWN_FREQ).
//
// The guest writes the guest-physical address of a per-vCPU
// pvclock_vcpu_time_info to MSR_KVM_SYSTEM_TIME_NEW; the interpreter fills
// it once: since the guest TSC is the GuestClock at a fixed rate, the
// (tsc_timestamp, system_time, mul, shift) tuple never needs updating.
//
//   WriteMsr(c, kMsrKvmSystemTimeNew, gpa | 1);  // -> WritePvclockTimeInfo
#ifndef SKIFF_TCG_PVCLOCK_H_
#define SKIFF_TCG_PVCLOCK_H_

#include <cstdint>

#include "tcg/cpu.h"

namespace skiff::tcg {

inline constexpr uint32_t kMsrKvmWallClockNew = 0x4b564d00;
inline constexpr uint32_t kMsrKvmSystemTimeNew = 0x4b564d01;
// CPUID 0x40000001 EAX (KVM_CPUID_FEATURES).
inline constexpr uint32_t kKvmFeatureClocksource2 = 1u << 3;
inline constexpr uint32_t kKvmFeatureClocksourceStable = 1u << 24;

// ns = ((tsc_delta << shift) * mul) >> 32, or >> -shift for negative shift
// (pvclock_scale_delta); the computation of KVM's kvm_get_time_scale.
struct PvclockScale {
  uint32_t mul = 0;
  int8_t shift = 0;
};
PvclockScale PvclockScaleFor(uint64_t tsc_hz);

// Fill the guest's structures at guest-physical `gpa`. False when the
// structure is not entirely in guest RAM (then nothing is written).
bool WritePvclockTimeInfo(Cpu& c, uint64_t gpa);
bool WritePvclockWallClock(Cpu& c, uint64_t gpa);

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_PVCLOCK_H_
