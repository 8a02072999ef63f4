// libFuzzer target: runs arbitrary bytes as guest code on a small flat
// machine (the first byte picks 64-bit long mode, 32-bit protected mode or
// real mode) for a bounded number of instructions. Any crash, sanitizer
// report or hang is a bug: guest code must only ever produce #UD/#GP/...,
// a shutdown or an internal-error exit.
#include <cstddef>
#include <cstdint>

#include "tcg/testing/tcg_test_util.h"

namespace {

class NullIo : public skiff::VcpuIo {
 public:
  void PioRead(uint16_t, absl::Span<uint8_t> data) override {
    for (uint8_t& b : data) b = 0xff;
  }
  void PioWrite(uint16_t, absl::Span<const uint8_t>) override {}
  void MmioRead(uint64_t, absl::Span<uint8_t> data) override {
    for (uint8_t& b : data) b = 0xff;
  }
  void MmioWrite(uint64_t, absl::Span<const uint8_t>) override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace skiff;
  using namespace skiff::tcg::testing;
  if (size < 1 || size > 4096) return 0;
  auto m = FlatMachine::Create();
  if (!m.ok()) return 0;
  if (!(*m)->LoadCode(absl::MakeConstSpan(data + 1, size - 1)).ok()) return 0;
  tcg::TcgVcpu& vcpu = (*m)->vcpu();
  const int mode = data[0] % 3;
  if (mode != 0) {
    Sregs s = FlatLongModeSregs();
    s.cs.l = 0;
    s.cs.db = 1;
    s.cr4 = 0;
    s.efer = 0;
    s.cr0 = kCr0Pe | kCr0Et;
    if (mode == 2) {
      s.cr0 = kCr0Et;
      s.cs.db = 0;
      s.cs.selector = 0x1000;
      s.cs.base = 0x10000;
      Regs r{};
      r.rflags = kRflagsReserved1;
      r.rsp = 0x8000;
      (void)vcpu.SetRegs(r);
    }
    (void)vcpu.SetSregs(s);
  }
  NullIo io;
  constexpr uint64_t kBudget = 4000;
  while (vcpu.instructions_retired() < kBudget) {
    vcpu.set_instruction_limit(kBudget - vcpu.instructions_retired());
    auto exit = vcpu.Run(io);
    if (!exit.ok() || exit->kind != VcpuExit::Kind::kHalt) break;
    // HLT: continue after it (the IDT stubs halt), bounded by the budget.
    if (vcpu.instructions_retired() == 0) break;
  }
  return 0;
}
