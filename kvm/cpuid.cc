#include "kvm/cpuid.h"

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace skiff::kvm {
namespace {

// Leaf 1 (Intel SDM vol. 2A, table 3-10 and 3-11).
constexpr uint32_t kLeaf1EcxVmx = 1u << 5;
constexpr uint32_t kLeaf1EcxPdcm = 1u << 15;
constexpr uint32_t kLeaf1EcxX2Apic = 1u << 21;
constexpr uint32_t kLeaf1EcxTscDeadline = 1u << 24;
constexpr uint32_t kLeaf1EcxHypervisor = 1u << 31;
constexpr uint32_t kLeaf1EdxHtt = 1u << 28;
// Leaf 6 EAX bit 2: APIC timer always running.
constexpr uint32_t kLeaf6EaxArat = 1u << 2;
// AMD APM vol. 3, CPUID Fn8000_0001 ECX.
constexpr uint32_t kExt1EcxSvm = 1u << 2;
constexpr uint32_t kExt1EcxPerfCtrExtCore = 1u << 23;

// x2APIC topology level types (SDM vol. 2A, leaf 0BH, ECX[15:8]).
constexpr uint32_t kLevelInvalid = 0;
constexpr uint32_t kLevelSmt = 1;
constexpr uint32_t kLevelCore = 2;

constexpr uint32_t kHypervisorBase = 0x40000000;
constexpr uint32_t kKvmFeatures = 0x40000001;

uint32_t FourChars(const char* s) {
  uint32_t v;
  std::memcpy(&v, s, 4);
  return v;
}

// Bits needed to hold IDs 0 .. n-1: ceil(log2(n)).
uint32_t IdBits(uint32_t n) {
  uint32_t bits = 0;
  while ((1ull << bits) < n) ++bits;
  return bits;
}

uint32_t SetField(uint32_t reg, int lo, int width, uint32_t value) {
  uint32_t mask = ((width >= 32) ? ~0u : ((1u << width) - 1)) << lo;
  return (reg & ~mask) | ((value << lo) & mask);
}

void AddTopologyLeaf(std::vector<CpuidEntry>& out, uint32_t function,
                     uint32_t apic_id, uint32_t num_vcpus) {
  CpuidEntry smt{function, 0, kCpuidFlagSignificantIndex};
  smt.eax = 0;  // one thread per core: no SMT bits in the APIC ID
  smt.ebx = 1;
  smt.ecx = (kLevelSmt << 8) | 0;
  smt.edx = apic_id;
  CpuidEntry core{function, 1, kCpuidFlagSignificantIndex};
  core.eax = IdBits(num_vcpus);
  core.ebx = num_vcpus & 0xffff;
  core.ecx = (kLevelCore << 8) | 1;
  core.edx = apic_id;
  CpuidEntry end{function, 2, kCpuidFlagSignificantIndex};
  end.ecx = (kLevelInvalid << 8) | 2;
  end.edx = apic_id;
  out.push_back(smt);
  out.push_back(core);
  out.push_back(end);
}

// Leaf 4 / 0x8000001D: EAX[4:0] cache type, EAX[7:5] level, EAX[25:14]
// logical processors sharing the cache - 1.
void FixCacheSharing(CpuidEntry& e, uint32_t num_vcpus, bool cores_field) {
  if ((e.eax & 0x1f) == 0) return;  // no cache at this subleaf
  uint32_t level = (e.eax >> 5) & 0x7;
  uint32_t sharing = level >= 3 ? std::min<uint32_t>(num_vcpus, 4096) - 1 : 0;
  e.eax = SetField(e.eax, 14, 12, sharing);
  if (cores_field) {
    e.eax = SetField(e.eax, 26, 6, std::min<uint32_t>(num_vcpus, 64) - 1);
  }
}

}  // namespace

const CpuidEntry* FindCpuid(absl::Span<const CpuidEntry> table,
                            uint32_t function, uint32_t index) {
  for (const CpuidEntry& e : table) {
    if (e.function != function) continue;
    if ((e.flags & kCpuidFlagSignificantIndex) && e.index != index) continue;
    return &e;
  }
  return nullptr;
}

CpuVendor VendorOf(absl::Span<const CpuidEntry> table) {
  const CpuidEntry* leaf0 = FindCpuid(table, 0);
  if (leaf0 == nullptr) return CpuVendor::kOther;
  if (leaf0->ebx == FourChars("Genu") && leaf0->edx == FourChars("ineI") &&
      leaf0->ecx == FourChars("ntel")) {
    return CpuVendor::kIntel;
  }
  if ((leaf0->ebx == FourChars("Auth") && leaf0->edx == FourChars("enti") &&
       leaf0->ecx == FourChars("cAMD")) ||
      (leaf0->ebx == FourChars("Hygo") && leaf0->edx == FourChars("nGen") &&
       leaf0->ecx == FourChars("uine"))) {
    return CpuVendor::kAmd;
  }
  return CpuVendor::kOther;
}

absl::StatusOr<std::vector<CpuidEntry>> BuildCpuid(
    absl::Span<const CpuidEntry> supported, const CpuidOptions& options) {
  if (options.num_vcpus < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("CPUID: num_vcpus ", options.num_vcpus, " < 1"));
  }
  if (options.vcpu_index < 0 || options.vcpu_index >= options.num_vcpus) {
    return absl::InvalidArgumentError(
        absl::StrCat("CPUID: vCPU index ", options.vcpu_index, " outside [0, ",
                     options.num_vcpus, ")"));
  }
  const CpuidEntry* leaf0 = FindCpuid(supported, 0);
  if (leaf0 == nullptr) {
    return absl::InvalidArgumentError(
        "CPUID: KVM's supported list has no leaf 0");
  }
  const uint32_t max_basic = leaf0->eax;
  const uint32_t n = static_cast<uint32_t>(options.num_vcpus);
  const uint32_t apic_id = static_cast<uint32_t>(options.vcpu_index);
  const bool amd = VendorOf(supported) == CpuVendor::kAmd;
  bool has_leaf_1f = false;
  CpuidEntry kvm_features{kKvmFeatures, 0, 0};

  std::vector<CpuidEntry> out;
  out.reserve(supported.size() + 8);
  for (CpuidEntry e : supported) {
    switch (e.function) {
      case 0x1: {
        e.ebx = SetField(e.ebx, 24, 8, apic_id & 0xff);
        e.ebx = SetField(e.ebx, 16, 8, std::min<uint32_t>(n, 255));
        if (((e.ebx >> 8) & 0xff) == 0) e.ebx = SetField(e.ebx, 8, 8, 8);
        if (n > 1) {
          e.edx |= kLeaf1EdxHtt;
        } else {
          e.edx &= ~kLeaf1EdxHtt;
        }
        e.ecx |= kLeaf1EcxHypervisor;
        if (!options.nested) e.ecx &= ~kLeaf1EcxVmx;
        if (!options.pmu) e.ecx &= ~kLeaf1EcxPdcm;
        if (options.irqchip && options.tsc_deadline) {
          e.ecx |= kLeaf1EcxTscDeadline;
        }
        if (!options.irqchip)
          e.ecx &= ~(kLeaf1EcxX2Apic | kLeaf1EcxTscDeadline);
        break;
      }
      case 0x4:
        FixCacheSharing(e, n, /*cores_field=*/true);
        break;
      case 0x6:
        e = CpuidEntry{e.function, e.index, e.flags, e.eax & kLeaf6EaxArat};
        break;
      case 0xa:
        if (!options.pmu || (e.eax & 0xff) == 0) {
          e = CpuidEntry{e.function, e.index, e.flags};
        }
        break;
      case 0xb:
        continue;  // rebuilt below
      case 0x1f:
        has_leaf_1f = true;
        continue;  // rebuilt below
      case 0x80000001:
        if (amd && !options.nested) e.ecx &= ~kExt1EcxSvm;
        if (!options.pmu) e.ecx &= ~kExt1EcxPerfCtrExtCore;
        break;
      case 0x80000008:
        if (amd) {
          e.ecx = SetField(e.ecx, 0, 8, std::min<uint32_t>(n, 256) - 1);
          e.ecx = SetField(e.ecx, 12, 4, IdBits(n));
        }
        break;
      case 0x8000001d:
        if (amd) FixCacheSharing(e, n, /*cores_field=*/false);
        break;
      case 0x8000001e:
        if (amd) {
          e.eax = apic_id;
          e.ebx = apic_id & 0xff;  // core id; threads per compute unit - 1 = 0
          e.ecx = 0;               // node 0, one node per processor
          e.edx = 0;
        }
        break;
      case 0x80000022:
        if (!options.pmu) e = CpuidEntry{e.function, e.index, e.flags};
        break;
      default:
        break;
    }
    if ((e.function & 0xffff0000) == kHypervisorBase) {
      if (e.function == kKvmFeatures) kvm_features.eax = e.eax;
      continue;  // rebuilt below
    }
    out.push_back(e);
  }

  if (max_basic >= 0xb) AddTopologyLeaf(out, 0xb, apic_id, n);
  if (max_basic >= 0x1f && has_leaf_1f) AddTopologyLeaf(out, 0x1f, apic_id, n);

  CpuidEntry hv{kHypervisorBase, 0, 0};
  hv.eax = kKvmFeatures;  // highest hypervisor leaf
  hv.ebx = FourChars("KVMK");
  hv.ecx = FourChars("VMKV");
  hv.edx = FourChars("M\0\0\0");
  out.push_back(hv);
  kvm_features.edx = 0;  // no hints: vCPUs are not pinned to host CPUs
  out.push_back(kvm_features);
  return out;
}

}  // namespace skiff::kvm
