#include "tcg/tcg_vm.h"

#include "gtest/gtest.h"
#include "tcg/tcg_vcpu.h"

namespace skiff::tcg {
namespace {

std::unique_ptr<GuestMemory> Memory() {
  return *GuestMemory::Create({{GuestAddr(0), 1 << 20}}, {});
}

TEST(TcgVm, CreatesEachVcpuOnce) {
  auto mem = Memory();
  auto vm = *TcgVm::Create(*mem, {.num_vcpus = 2});
  EXPECT_EQ(vm->name(), "tcg");
  auto v0 = vm->CreateVcpu(0);
  ASSERT_TRUE(v0.ok());
  EXPECT_EQ((*v0)->index(), 0);
  EXPECT_FALSE(vm->CreateVcpu(0).ok());
  EXPECT_TRUE(vm->CreateVcpu(1).ok());
  EXPECT_FALSE(vm->CreateVcpu(2).ok());
  EXPECT_FALSE(vm->CreateVcpu(-1).ok());
}

TEST(TcgVm, RejectsBadVcpuCount) {
  auto mem = Memory();
  EXPECT_FALSE(TcgVm::Create(*mem, {.num_vcpus = 0}).ok());
}

TEST(TcgVm, IrqLineRecordsLevel) {
  auto mem = Memory();
  auto vm = *TcgVm::Create(*mem, {});
  auto line = *vm->CreateIrqLine(4);
  auto* tcg_line = static_cast<TcgIrqLine*>(line.get());
  EXPECT_EQ(tcg_line->gsi(), 4u);
  EXPECT_FALSE(tcg_line->level());
  line->SetLevel(true);
  EXPECT_TRUE(tcg_line->level());
  line->Pulse();
  EXPECT_FALSE(tcg_line->level());
}

TEST(TcgVcpu, PowerOnStateAndRegsRoundTrip) {
  auto mem = Memory();
  auto vm = *TcgVm::Create(*mem, {});
  auto vcpu = *vm->CreateVcpu(0);
  Regs r{};
  ASSERT_TRUE(vcpu->GetRegs(r).ok());
  EXPECT_EQ(r.rip, 0xfff0u);
  EXPECT_EQ(r.rdx, 0x600u);
  Sregs s{};
  ASSERT_TRUE(vcpu->GetSregs(s).ok());
  EXPECT_EQ(s.cs.base, 0xffff0000u);
  for (uint64_t k = 0; k < 16; ++k) (&r.rax)[k] = k * 0x1111;
  r.rflags = 0x202;
  ASSERT_TRUE(vcpu->SetRegs(r).ok());
  Regs back{};
  ASSERT_TRUE(vcpu->GetRegs(back).ok());
  EXPECT_EQ(back.rbx, 0x1111u);
  EXPECT_EQ(back.rsp, 6 * 0x1111u);
  EXPECT_EQ(back.r15, 15 * 0x1111u);
  EXPECT_EQ(back.rflags, 0x202u);
  EXPECT_TRUE(vcpu->SetMsrs({{kMsrLstar, 0xffffffff81000000}}).ok());
  EXPECT_EQ(*vcpu->GetMsr(kMsrLstar), 0xffffffff81000000u);
  EXPECT_FALSE(vcpu->SetMsrs({{0x12345, 1}}).ok());
  EXPECT_FALSE(vcpu->GetMsr(0x12345).ok());
  EXPECT_TRUE(vcpu->ResetFpu().ok());
}

TEST(TcgVcpu, RealModeResetVectorRuns) {
  // HLT at the reset vector 0xffff0 (CS base 0xffff0000 is outside this
  // 1 MiB of RAM, so place code at the real-mode alias instead).
  auto mem = Memory();
  auto vm = *TcgVm::Create(*mem, {});
  auto vcpu = *vm->CreateVcpu(0);
  Sregs s{};
  ASSERT_TRUE(vcpu->GetSregs(s).ok());
  s.cs.base = 0xf0000;
  ASSERT_TRUE(vcpu->SetSregs(s).ok());
  const uint8_t code[] = {0xb8, 0x34, 0x12, 0xf4};  // mov ax, 0x1234; hlt
  ASSERT_TRUE(mem->Write(GuestAddr(0xffff0), code).ok());
  class NoIo : public VcpuIo {
    void PioRead(uint16_t, absl::Span<uint8_t>) override {}
    void PioWrite(uint16_t, absl::Span<const uint8_t>) override {}
    void MmioRead(uint64_t, absl::Span<uint8_t>) override {}
    void MmioWrite(uint64_t, absl::Span<const uint8_t>) override {}
  } io;
  auto exit = vcpu->Run(io);
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->kind, VcpuExit::Kind::kHalt);
  Regs r{};
  ASSERT_TRUE(vcpu->GetRegs(r).ok());
  EXPECT_EQ(r.rax & 0xffff, 0x1234u);
  EXPECT_EQ(r.rip, 0xfff4u);
}

}  // namespace
}  // namespace skiff::tcg
