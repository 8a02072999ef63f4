#include "kvm/cpuid.h"

#include <cstring>
#include <vector>

#include "gtest/gtest.h"

namespace skiff::kvm {
namespace {

uint32_t Chars(const char* s) {
  uint32_t v;
  std::memcpy(&v, s, 4);
  return v;
}

CpuidEntry Leaf(uint32_t function, uint32_t eax, uint32_t ebx, uint32_t ecx,
                uint32_t edx) {
  return CpuidEntry{function, 0, 0, eax, ebx, ecx, edx};
}

CpuidEntry Subleaf(uint32_t function, uint32_t index, uint32_t eax,
                   uint32_t ebx = 0, uint32_t ecx = 0, uint32_t edx = 0) {
  return CpuidEntry{function, index, kCpuidFlagSignificantIndex, eax, ebx,
                    ecx,      edx};
}

// A trimmed-down KVM_GET_SUPPORTED_CPUID of an Intel host.
std::vector<CpuidEntry> IntelSupported() {
  return {
      Leaf(0, 0x1f, Chars("Genu"), Chars("ntel"), Chars("ineI")),
      // EBX: APIC id 7 and count 16 from the host, CLFLUSH 0.
      Leaf(1, 0x000906ea, 0x07100000, (1u << 5) | (1u << 15) | (1u << 21),
           0x178bfbff),
      // Leaf 4: L1d (type 1, level 1), L2 (type 3, level 2), L3 (type 3,
      // level 3), terminator; host says 8 cores, 16 sharing L3.
      Subleaf(4, 0, 0x1c004121),
      Subleaf(4, 1, 0x1c004143),
      Subleaf(4, 2, 0x1c03c163),
      Subleaf(4, 3, 0),
      Leaf(6, 0x77, 0x2, 0x9, 0),
      Leaf(7, 0, 0x029c6fbf, 0, 0),
      Leaf(0xa, 0x07300404, 0, 0, 0x603),
      Subleaf(0xb, 0, 1, 2, 0x100, 7),
      Subleaf(0xb, 1, 4, 16, 0x201, 7),
      Subleaf(0x1f, 0, 1, 2, 0x100, 7),
      Leaf(0x40000000, 0x40000001, Chars("KVMK"), Chars("VMKV"),
           Chars("M\0\0\0")),
      Leaf(0x40000001, 0x01007afb, 0, 0, 1),
      Leaf(0x40000010, 1, 2, 3, 4),
      Leaf(0x80000000, 0x80000008, 0, 0, 0),
      Leaf(0x80000001, 0, 0, 0x121, 0x2c100800),
      Leaf(0x80000008, 0x3027, 0, 0, 0),
  };
}

std::vector<CpuidEntry> AmdSupported() {
  return {
      Leaf(0, 0x10, Chars("Auth"), Chars("cAMD"), Chars("enti")),
      Leaf(1, 0x00a20f10, 0, 0, 0),
      Leaf(0x80000000, 0x80000022, 0, 0, 0),
      Leaf(0x80000001, 0, 0, (1u << 2) | (1u << 23) | (1u << 22), 0),
      Leaf(0x80000008, 0x3030, 0, 0x0000400f, 0),
      Subleaf(0x8000001d, 0, 0x00004121),
      Subleaf(0x8000001d, 3, 0x0003c163),
      Leaf(0x8000001e, 0x12, 0x105, 0x300, 0),
      Leaf(0x80000022, 0x7, 0x5, 0, 0),
  };
}

std::vector<CpuidEntry> Build(const std::vector<CpuidEntry>& supported,
                              CpuidOptions options) {
  auto table = BuildCpuid(supported, options);
  EXPECT_TRUE(table.ok()) << table.status();
  return table.ok() ? *table : std::vector<CpuidEntry>{};
}

TEST(Cpuid, VendorDetection) {
  EXPECT_EQ(VendorOf(IntelSupported()), CpuVendor::kIntel);
  EXPECT_EQ(VendorOf(AmdSupported()), CpuVendor::kAmd);
  EXPECT_EQ(VendorOf({}), CpuVendor::kOther);
}

TEST(Cpuid, RejectsBadOptions) {
  EXPECT_FALSE(
      BuildCpuid(IntelSupported(), {.vcpu_index = 0, .num_vcpus = 0}).ok());
  EXPECT_FALSE(
      BuildCpuid(IntelSupported(), {.vcpu_index = 2, .num_vcpus = 2}).ok());
  EXPECT_FALSE(
      BuildCpuid(IntelSupported(), {.vcpu_index = -1, .num_vcpus = 2}).ok());
  EXPECT_FALSE(BuildCpuid({}, {}).ok());
}

TEST(Cpuid, Leaf1ApicIdCountAndHypervisorBit) {
  auto table = Build(IntelSupported(), {.vcpu_index = 2, .num_vcpus = 4});
  const CpuidEntry* l1 = FindCpuid(table, 1);
  ASSERT_NE(l1, nullptr);
  EXPECT_EQ(l1->ebx >> 24, 2u);
  EXPECT_EQ((l1->ebx >> 16) & 0xff, 4u);
  EXPECT_EQ((l1->ebx >> 8) & 0xff, 8u);  // CLFLUSH 64 bytes filled in
  EXPECT_TRUE(l1->ecx & (1u << 31));     // hypervisor
  EXPECT_FALSE(l1->ecx & (1u << 5));     // no VMX
  EXPECT_FALSE(l1->ecx & (1u << 15));    // no PDCM without PMU
  EXPECT_TRUE(l1->ecx & (1u << 21));     // x2APIC kept with irqchip
  EXPECT_TRUE(l1->edx & (1u << 28));     // HTT with 4 vCPUs
  EXPECT_EQ(l1->eax, 0x000906eau);       // signature untouched
}

TEST(Cpuid, SingleVcpuClearsHtt) {
  auto table = Build(IntelSupported(), {.vcpu_index = 0, .num_vcpus = 1});
  const CpuidEntry* l1 = FindCpuid(table, 1);
  ASSERT_NE(l1, nullptr);
  EXPECT_FALSE(l1->edx & (1u << 28));
  EXPECT_EQ((l1->ebx >> 16) & 0xff, 1u);
  EXPECT_EQ(l1->ebx >> 24, 0u);
}

TEST(Cpuid, NoIrqchipHidesX2ApicAndTscDeadline) {
  auto table = Build(IntelSupported(),
                     {.num_vcpus = 1, .irqchip = false, .tsc_deadline = true});
  const CpuidEntry* l1 = FindCpuid(table, 1);
  ASSERT_NE(l1, nullptr);
  EXPECT_FALSE(l1->ecx & (1u << 21));
  EXPECT_FALSE(l1->ecx & (1u << 24));
  table = Build(IntelSupported(), {.num_vcpus = 1, .tsc_deadline = true});
  EXPECT_TRUE(FindCpuid(table, 1)->ecx & (1u << 24));
}

TEST(Cpuid, NestedAndPmuOptionsKeepBits) {
  auto table =
      Build(IntelSupported(), {.num_vcpus = 1, .pmu = true, .nested = true});
  EXPECT_TRUE(FindCpuid(table, 1)->ecx & (1u << 5));
  EXPECT_TRUE(FindCpuid(table, 1)->ecx & (1u << 15));
  EXPECT_EQ(FindCpuid(table, 0xa)->eax, 0x07300404u);
}

TEST(Cpuid, Leaf4CoresAndSharing) {
  auto table = Build(IntelSupported(), {.vcpu_index = 0, .num_vcpus = 6});
  const CpuidEntry* l1d = FindCpuid(table, 4, 0);
  const CpuidEntry* l2 = FindCpuid(table, 4, 1);
  const CpuidEntry* l3 = FindCpuid(table, 4, 2);
  const CpuidEntry* end = FindCpuid(table, 4, 3);
  ASSERT_TRUE(l1d && l2 && l3 && end);
  EXPECT_EQ(l1d->eax >> 26, 5u);
  EXPECT_EQ((l1d->eax >> 14) & 0xfff, 0u);
  EXPECT_EQ((l2->eax >> 14) & 0xfff, 0u);
  EXPECT_EQ((l3->eax >> 14) & 0xfff, 5u);
  EXPECT_EQ(l3->eax & 0x3fff, 0x163u);  // type/level bits untouched
  EXPECT_EQ(end->eax, 0u);              // terminator untouched
}

TEST(Cpuid, Leaf6KeepsOnlyArat) {
  auto table = Build(IntelSupported(), {});
  const CpuidEntry* l6 = FindCpuid(table, 6);
  ASSERT_NE(l6, nullptr);
  EXPECT_EQ(l6->eax, 0x4u);
  EXPECT_EQ(l6->ebx, 0u);
  EXPECT_EQ(l6->ecx, 0u);
}

TEST(Cpuid, PmuLeafZeroedByDefault) {
  auto table = Build(IntelSupported(), {});
  const CpuidEntry* la = FindCpuid(table, 0xa);
  ASSERT_NE(la, nullptr);
  EXPECT_EQ(la->eax, 0u);
  EXPECT_EQ(la->edx, 0u);
}

TEST(Cpuid, X2ApicTopology) {
  auto table = Build(IntelSupported(), {.vcpu_index = 3, .num_vcpus = 5});
  for (uint32_t leaf : {0xbu, 0x1fu}) {
    SCOPED_TRACE(leaf);
    const CpuidEntry* smt = FindCpuid(table, leaf, 0);
    const CpuidEntry* core = FindCpuid(table, leaf, 1);
    const CpuidEntry* end = FindCpuid(table, leaf, 2);
    ASSERT_TRUE(smt && core && end);
    EXPECT_EQ(smt->eax, 0u);
    EXPECT_EQ(smt->ebx, 1u);
    EXPECT_EQ(smt->ecx, 0x100u);
    EXPECT_EQ(smt->edx, 3u);
    EXPECT_EQ(core->eax, 3u);  // ceil(log2(5))
    EXPECT_EQ(core->ebx, 5u);
    EXPECT_EQ(core->ecx, 0x201u);
    EXPECT_EQ(core->edx, 3u);
    EXPECT_EQ((end->ecx >> 8) & 0xff, 0u);
    EXPECT_EQ(end->ecx & 0xff, 2u);
    EXPECT_EQ(end->edx, 3u);
    int count = 0;
    for (const CpuidEntry& e : table) count += e.function == leaf;
    EXPECT_EQ(count, 3);
  }
}

TEST(Cpuid, No1fWhenKvmDoesNotReportIt) {
  auto supported = IntelSupported();
  std::erase_if(supported,
                [](const CpuidEntry& e) { return e.function == 0x1f; });
  auto table = Build(supported, {.num_vcpus = 2});
  EXPECT_EQ(FindCpuid(table, 0x1f, 0), nullptr);
  EXPECT_NE(FindCpuid(table, 0xb, 1), nullptr);
}

TEST(Cpuid, NoTopologyLeafBelowMaxBasicLeaf) {
  auto supported = IntelSupported();
  supported[0].eax = 0xa;
  auto table = Build(supported, {.num_vcpus = 2});
  EXPECT_EQ(FindCpuid(table, 0xb, 0), nullptr);
  EXPECT_EQ(FindCpuid(table, 0x1f, 0), nullptr);
}

TEST(Cpuid, HypervisorLeaves) {
  auto table = Build(IntelSupported(), {.num_vcpus = 2});
  const CpuidEntry* hv = FindCpuid(table, 0x40000000);
  ASSERT_NE(hv, nullptr);
  EXPECT_EQ(hv->eax, 0x40000001u);
  char sig[13] = {};
  std::memcpy(sig, &hv->ebx, 4);
  std::memcpy(sig + 4, &hv->ecx, 4);
  std::memcpy(sig + 8, &hv->edx, 4);
  EXPECT_EQ(std::memcmp(sig, "KVMKVMKVM\0\0\0", 12), 0);
  const CpuidEntry* features = FindCpuid(table, 0x40000001);
  ASSERT_NE(features, nullptr);
  EXPECT_EQ(features->eax, 0x01007afbu);
  EXPECT_EQ(features->edx, 0u);  // no "realtime" hint
  EXPECT_EQ(FindCpuid(table, 0x40000010), nullptr);
  int count = 0;
  for (const CpuidEntry& e : table) count += e.function == 0x40000000;
  EXPECT_EQ(count, 1);
}

TEST(Cpuid, HypervisorLeavesAddedWhenKvmListsNone) {
  auto supported = IntelSupported();
  std::erase_if(supported, [](const CpuidEntry& e) {
    return (e.function & 0xffff0000) == 0x40000000;
  });
  auto table = Build(supported, {});
  ASSERT_NE(FindCpuid(table, 0x40000000), nullptr);
  ASSERT_NE(FindCpuid(table, 0x40000001), nullptr);
  EXPECT_EQ(FindCpuid(table, 0x40000001)->eax, 0u);
}

TEST(Cpuid, OtherLeavesPassThrough) {
  auto supported = IntelSupported();
  auto table = Build(supported, {.num_vcpus = 3});
  for (uint32_t leaf : {0x7u, 0x80000000u, 0x80000008u}) {
    EXPECT_EQ(*FindCpuid(table, leaf), *FindCpuid(supported, leaf)) << leaf;
  }
}

TEST(Cpuid, AmdTopologyAndFeatures) {
  auto table = Build(AmdSupported(), {.vcpu_index = 2, .num_vcpus = 3});
  const CpuidEntry* ext1 = FindCpuid(table, 0x80000001);
  ASSERT_NE(ext1, nullptr);
  EXPECT_FALSE(ext1->ecx & (1u << 2));   // SVM hidden
  EXPECT_FALSE(ext1->ecx & (1u << 23));  // PerfCtrExtCore hidden
  EXPECT_TRUE(ext1->ecx & (1u << 22));   // TOPOEXT kept
  const CpuidEntry* size = FindCpuid(table, 0x80000008);
  EXPECT_EQ(size->ecx & 0xff, 2u);
  EXPECT_EQ((size->ecx >> 12) & 0xf, 2u);
  EXPECT_EQ((FindCpuid(table, 0x8000001d, 0)->eax >> 14) & 0xfff, 0u);
  EXPECT_EQ((FindCpuid(table, 0x8000001d, 3)->eax >> 14) & 0xfff, 2u);
  const CpuidEntry* ext_apic = FindCpuid(table, 0x8000001e);
  EXPECT_EQ(ext_apic->eax, 2u);
  EXPECT_EQ(ext_apic->ebx, 2u);
  EXPECT_EQ(ext_apic->ecx, 0u);
  const CpuidEntry* perf = FindCpuid(table, 0x80000022);
  EXPECT_EQ(perf->eax, 0u);
  EXPECT_EQ(perf->ebx, 0u);
}

TEST(Cpuid, FindHonoursSignificantIndex) {
  std::vector<CpuidEntry> t = {Leaf(2, 1, 2, 3, 4), Subleaf(4, 1, 9)};
  EXPECT_NE(FindCpuid(t, 2, 5), nullptr);  // index ignored
  EXPECT_EQ(FindCpuid(t, 4, 0), nullptr);
  EXPECT_EQ(FindCpuid(t, 4, 1)->eax, 9u);
}

}  // namespace
}  // namespace skiff::kvm
