// The interpreter's fixed CPU model: CPUID leaves and the MSRs it keeps.
// It advertises exactly what tcg/ implements (see Cpuid() in
// cpuid_msr.cc for the list); FPU/SSE bits stay clear until the x87/SSE
// handlers exist.
//
//   CpuidResult r = Cpuid(cpu, /*leaf=*/1, /*subleaf=*/0);
//   if (!WriteMsr(cpu, kMsrEfer, value)) return cpu.Gp0();
#ifndef SKIFF_TCG_CPUID_MSR_H_
#define SKIFF_TCG_CPUID_MSR_H_

#include <cstdint>

#include "tcg/cpu.h"

namespace skiff::tcg {

// 12-byte vendor string. Deliberately not GenuineIntel/AuthenticAMD: guests
// must not apply vendor-specific quirks or errata to this model.
inline constexpr char kCpuVendor[13] = "SkiffVirtCPU";

struct CpuidResult {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};
CpuidResult Cpuid(const Cpu& c, uint32_t leaf, uint32_t subleaf);

// The guest TSC: host TSC plus the per-vCPU offset.
uint64_t ReadTsc(const Cpu& c);

// False for an unknown MSR or a value the MSR rejects (the caller raises
// #GP(0)).
bool ReadMsr(Cpu& c, uint32_t index, uint64_t* value);
bool WriteMsr(Cpu& c, uint32_t index, uint64_t value);

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_CPUID_MSR_H_
