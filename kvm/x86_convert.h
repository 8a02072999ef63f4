// Conversions between skiff's register structs (base/x86_state.h) and the
// KVM ABI structs, plus the power-on FPU image and the MSRs every skiff vCPU
// starts with. Pure functions, unit-tested without /dev/kvm.
//
//   kvm_sregs ks;                       // from KVM_GET_SREGS
//   ToKvmSregs(sregs, ks);              // keeps ks.interrupt_bitmap
//   Sregs back = FromKvmSregs(ks);
#ifndef SKIFF_KVM_X86_CONVERT_H_
#define SKIFF_KVM_X86_CONVERT_H_

#include <linux/kvm.h>

#include <vector>

#include "base/x86_state.h"

namespace skiff::kvm {

kvm_regs ToKvmRegs(const Regs& regs);
Regs FromKvmRegs(const kvm_regs& regs);

// Overwrites every field of `out` that Sregs has. interrupt_bitmap (an
// interrupt KVM has queued for injection) is left alone, so callers do
// KVM_GET_SREGS, ToKvmSregs, KVM_SET_SREGS and lose nothing.
void ToKvmSregs(const Sregs& sregs, kvm_sregs& out);
Sregs FromKvmSregs(const kvm_sregs& sregs);

kvm_segment ToKvmSegment(const Segment& seg);
Segment FromKvmSegment(const kvm_segment& seg);

// x87/SSE state after FNINIT and with MXCSR at its reset value (Intel SDM
// vol. 1, 8.1.5 and 10.2.3.1): FCW 0x37f (all exceptions masked, 64-bit
// precision), MXCSR 0x1f80 (all SIMD exceptions masked), registers zero.
kvm_fpu PowerOnFpu();

// IA32_MISC_ENABLE bit 0: fast-strings (REP MOVS/STOS) enabled, as firmware
// leaves it (Intel SDM vol. 4, table 2-2).
inline constexpr uint64_t kMiscEnableFastStrings = 1u << 0;
// IA32_MTRR_DEF_TYPE (SDM vol. 3A, 11.11.2.1): E (bit 11) enables MTRRs;
// type 6 = write-back is the default for memory no range MTRR covers.
inline constexpr uint32_t kMsrMtrrDefType = 0x2ff;
inline constexpr uint64_t kMtrrDefTypeEnableWb = (1u << 11) | 6;

// The MSR values a vCPU gets at creation, like Firecracker's boot MSRs and
// what firmware hands a kernel: SYSENTER_CS/ESP/EIP, STAR, LSTAR, CSTAR,
// SYSCALL_MASK, KERNEL_GS_BASE and TSC zero; MISC_ENABLE with fast strings.
// Every KVM accepts these; a refusal is an error.
std::vector<MsrEntry> DefaultBootMsrs();

// MSRs set when the host accepts them (a refusal is only logged): MTRRs
// enabled with a write-back default type, as firmware leaves them (a Linux
// guest otherwise reports "MTRRs disabled" and may fall back to uncached
// mappings on some paths). KVM variants differ in MTRR emulation, so this
// is not worth failing a vCPU over.
std::vector<MsrEntry> BestEffortBootMsrs();

}  // namespace skiff::kvm

#endif  // SKIFF_KVM_X86_CONVERT_H_
