// The CPUID model a skiff vCPU sees under KVM: a pure function from the
// host's KVM_GET_SUPPORTED_CPUID list to the table given to KVM_SET_CPUID2
// for one vCPU. It includes no KVM header, so it is unit-tested with
// synthetic lists.
//
//   SKIFF_ASSIGN_OR_RETURN(std::vector<CpuidEntry> table,
//       BuildCpuid(system.supported_cpuid(),
//                  {.vcpu_index = 1, .num_vcpus = 4}));
//
// The model, leaf by leaf (Intel SDM vol. 2A, CPUID; AMD APM vol. 3, E.3):
// - Everything KVM reports as supported passes through unchanged, except:
// - Leaf 1: EBX[31:24] initial APIC ID = vCPU index; EBX[23:16] = number of
//   vCPUs (addressable logical processors in the one package), with EDX.HTT
//   (bit 28) set when there is more than one; EBX[15:8] CLFLUSH line size
//   forced to 8 (64 bytes) when KVM left it 0. ECX.HYPERVISOR (bit 31) set so
//   the guest looks for leaf 0x40000000. ECX.VMX (bit 5) cleared unless
//   `nested`. ECX.PDCM (bit 15) cleared unless `pmu`. ECX.x2APIC (bit 21)
//   and ECX.TSC-DEADLINE (bit 24) cleared without an in-kernel irqchip (the
//   in-kernel LAPIC implements them); TSC-DEADLINE set when `tsc_deadline`
//   (KVM_CAP_TSC_DEADLINE_TIMER) and an irqchip are present.
// - Leaf 4 (Intel deterministic cache parameters), every subleaf with a cache
//   type: EAX[31:26] cores per package - 1 = num_vcpus - 1 (max 63);
//   EAX[25:14] logical processors sharing the cache - 1 = 0 for L1/L2 (one
//   thread per core), num_vcpus - 1 for L3.
// - Leaf 6 (thermal and power): zeroed except EAX.ARAT (bit 2, the APIC
//   timer keeps running in C-states), which KVM always emulates.
// - Leaf 0xA (architectural PMU): zeroed unless `pmu` and KVM reports a
//   non-zero PMU version. AMD leaf 0x80000022 likewise, and 0x80000001
//   ECX.PerfCtrExtCore (bit 23) cleared.
// - Leaves 0xB and 0x1F (x2APIC topology): rebuilt as one socket of
//   num_vcpus cores with one thread each: subleaf 0 (SMT: shift 0, 1
//   logical processor), subleaf 1 (core: shift = ceil(log2(num_vcpus)),
//   num_vcpus logical processors), subleaf 2 (invalid level, terminates
//   the enumeration); EDX = x2APIC ID = vCPU index in each. 0xB is present
//   when the maximum basic leaf reaches it; 0x1F only when KVM reported it.
// - Leaves 0x40000000/0x40000001 (hypervisor): 0x40000000 = {max leaf
//   0x40000001, "KVMKVMKVM\0\0\0"}. Advertising KVM's signature is what
//   makes a Linux guest enable kvm-clock (a stable clock without PIT/HPET
//   calibration) and the paravirt features listed in 0x40000001 (async page
//   faults, PV EOI, PV TLB flush, steal time, ...), all implemented in the
//   host kernel, so skiff needs no code for them. 0x40000001 EAX (features)
//   comes from KVM's supported list; EDX (hints such as KVM_HINTS_REALTIME,
//   which promises dedicated host CPUs) is cleared because skiff does not
//   pin vCPUs by default. Other 0x4000xxxx leaves are dropped.
// - AMD (vendor AuthenticAMD/HygonGenuine): 0x80000001 ECX.SVM (bit 2)
//   cleared unless `nested`; 0x80000008 ECX[7:0] = num_vcpus - 1 and
//   ECX[15:12] = APIC ID size; 0x8000001D cache sharing as for leaf 4;
//   0x8000001E extended APIC ID = vCPU index, core ID = vCPU index, one
//   thread per core, node 0.
#ifndef SKIFF_KVM_CPUID_H_
#define SKIFF_KVM_CPUID_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace skiff::kvm {

// Same values as KVM_CPUID_FLAG_SIGNIFCANT_INDEX (sic) in <asm/kvm.h>.
inline constexpr uint32_t kCpuidFlagSignificantIndex = 1u << 0;

// One CPUID leaf/subleaf, like struct kvm_cpuid_entry2.
struct CpuidEntry {
  uint32_t function = 0;
  uint32_t index = 0;  // subleaf; meaningful with kCpuidFlagSignificantIndex
  uint32_t flags = 0;
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
  bool operator==(const CpuidEntry&) const = default;
};

struct CpuidOptions {
  int vcpu_index = 0;
  int num_vcpus = 1;
  // An in-kernel LAPIC exists (KVM_CREATE_IRQCHIP).
  bool irqchip = true;
  // KVM_CHECK_EXTENSION(KVM_CAP_TSC_DEADLINE_TIMER) was positive.
  bool tsc_deadline = false;
  // Expose KVM's PMU virtualization (off: the guest sees no PMU).
  bool pmu = false;
  // Expose VMX/SVM (nested virtualization).
  bool nested = false;
};

// Builds the CPUID table of one vCPU. Fails on inconsistent options
// (num_vcpus < 1, vcpu_index out of range) or an empty supported list.
absl::StatusOr<std::vector<CpuidEntry>> BuildCpuid(
    absl::Span<const CpuidEntry> supported, const CpuidOptions& options);

// The entry CPUID(function, index) would read, or nullptr. `index` is
// ignored for entries without kCpuidFlagSignificantIndex.
const CpuidEntry* FindCpuid(absl::Span<const CpuidEntry> table,
                            uint32_t function, uint32_t index = 0);

// CPU vendor from leaf 0 (ebx, edx, ecx spell e.g. "GenuineIntel").
enum class CpuVendor { kIntel, kAmd, kOther };
CpuVendor VendorOf(absl::Span<const CpuidEntry> table);

}  // namespace skiff::kvm

#endif  // SKIFF_KVM_CPUID_H_
