#include "tcg/pvclock.h"

#include <cstring>

#include "tcg/cpuid_msr.h"

namespace skiff::tcg {
namespace {

// arch/x86/include/asm/pvclock-abi.h.
struct __attribute__((packed)) PvclockVcpuTimeInfo {
  uint32_t version;
  uint32_t pad0;
  uint64_t tsc_timestamp;
  uint64_t system_time;
  uint32_t tsc_to_system_mul;
  int8_t tsc_shift;
  uint8_t flags;
  uint8_t pad[2];
};
static_assert(sizeof(PvclockVcpuTimeInfo) == 32);

struct __attribute__((packed)) PvclockWallClock {
  uint32_t version;
  uint32_t sec;
  uint32_t nsec;
};
static_assert(sizeof(PvclockWallClock) == 12);

constexpr uint8_t kPvclockTscStableBit = 1;

template <typename T>
bool WriteStruct(Cpu& c, uint64_t gpa, const T& value) {
  absl::Span<uint8_t> span = c.memory().TrySlice(GuestAddr(gpa), sizeof(T));
  if (span.size() < sizeof(T)) return false;
  std::memcpy(span.data(), &value, sizeof(T));
  if (c.IsCodePage(gpa) || c.IsCodePage(gpa + sizeof(T) - 1)) {
    c.NoteCodePageWrite();
  }
  return true;
}

}  // namespace

PvclockScale PvclockScaleFor(uint64_t tsc_hz) {
  // kvm_get_time_scale(NSEC_PER_SEC, tsc_hz): normalise the TSC rate into
  // (scaled/2, scaled] by shifting, then mul = scaled / tps as a 0.32 fraction.
  constexpr uint64_t kHigh = 0xffffffff00000000ull;
  uint64_t scaled = 1'000'000'000;
  uint64_t tps64 = tsc_hz == 0 ? 1 : tsc_hz;
  int shift = 0;
  while (tps64 > scaled * 2 || (tps64 & kHigh)) {
    tps64 >>= 1;
    --shift;
  }
  uint32_t tps32 = static_cast<uint32_t>(tps64);
  while (tps32 <= scaled || (scaled & kHigh)) {
    if ((scaled & kHigh) || (tps32 & 0x80000000u)) {
      scaled >>= 1;
    } else {
      tps32 <<= 1;
    }
    ++shift;
  }
  PvclockScale s;
  s.mul = static_cast<uint32_t>((scaled << 32) / tps32);
  s.shift = static_cast<int8_t>(shift);
  return s;
}

bool WritePvclockTimeInfo(Cpu& c, uint64_t gpa) {
  const PvclockScale scale = PvclockScaleFor(c.clock->tsc_hz());
  PvclockVcpuTimeInfo info{};
  info.version = 2;  // even: not being updated
  info.tsc_timestamp = ReadTsc(c);
  info.system_time = c.clock->NowNs();
  info.tsc_to_system_mul = scale.mul;
  info.tsc_shift = scale.shift;
  // Every vCPU's TSC is the same GuestClock: monotonic across vCPUs.
  info.flags = kPvclockTscStableBit;
  return WriteStruct(c, gpa, info);
}

bool WritePvclockWallClock(Cpu& c, uint64_t gpa) {
  // The wall-clock time at which system_time was 0: the host's time, or
  // the fixed epoch of an instruction-counting clock (--icount).
  const int64_t at_zero = c.clock->WallClockAtZeroNs();
  const uint64_t boot_ns = at_zero > 0 ? static_cast<uint64_t>(at_zero) : 0;
  PvclockWallClock wc{};
  wc.version = 2;
  wc.sec = static_cast<uint32_t>(boot_ns / 1'000'000'000);
  wc.nsec = static_cast<uint32_t>(boot_ns % 1'000'000'000);
  return WriteStruct(c, gpa, wc);
}

}  // namespace skiff::tcg
