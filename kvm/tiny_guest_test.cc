#include "kvm/tiny_guest.h"

#include <cstring>

#include "gtest/gtest.h"

namespace skiff::kvm {
namespace {

// Records what EnterLongMode sets, without any backend.
class FakeVcpu : public VcpuBackend {
 public:
  int index() const override { return 0; }
  absl::StatusOr<VcpuExit> Run(VcpuIo&) override { return VcpuExit{}; }
  void Kick() override {}
  absl::Status GetRegs(Regs& r) override {
    r = regs;
    return absl::OkStatus();
  }
  absl::Status SetRegs(const Regs& r) override {
    regs = r;
    return absl::OkStatus();
  }
  absl::Status GetSregs(Sregs& s) override {
    s = sregs;
    return absl::OkStatus();
  }
  absl::Status SetSregs(const Sregs& s) override {
    sregs = s;
    return absl::OkStatus();
  }
  absl::Status SetMsrs(absl::Span<const MsrEntry>) override {
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> GetMsr(uint32_t) override { return 0; }
  absl::Status ResetFpu() override { return absl::OkStatus(); }
  Regs regs{};
  Sregs sregs{};
};

uint64_t Read64(const GuestMemory& mem, uint64_t addr) {
  auto v = mem.ReadObj<uint64_t>(GuestAddr(addr));
  EXPECT_TRUE(v.ok());
  return v.ok() ? *v : 0;
}

TEST(TinyGuest, PageTablesIdentityMapFirstGigabyte) {
  auto mem = CreateTinyGuestMemory();
  ASSERT_TRUE(mem.ok()) << mem.status();
  ASSERT_TRUE(WriteLongModeTables(**mem).ok());
  EXPECT_EQ(Read64(**mem, kTinyPml4), kTinyPdpt | 3);
  EXPECT_EQ(Read64(**mem, kTinyPdpt), kTinyPd | 3);
  EXPECT_EQ(Read64(**mem, kTinyPd), 0x83u);
  EXPECT_EQ(Read64(**mem, kTinyPd + 8), 0x200083u);
  EXPECT_EQ(Read64(**mem, kTinyPd + 511 * 8), (511ull << 21) | 0x83);
  EXPECT_EQ(Read64(**mem, kTinyPml4 + 8), 0u);
}

TEST(TinyGuest, GdtHasCodeDataAndTss) {
  auto mem = CreateTinyGuestMemory();
  ASSERT_TRUE(mem.ok());
  ASSERT_TRUE(WriteLongModeTables(**mem).ok());
  EXPECT_EQ(Read64(**mem, kTinyGdt), 0u);
  EXPECT_EQ(Read64(**mem, kTinyGdt + kTinyCodeSelector), 0x00af9b000000ffffu);
  EXPECT_EQ(Read64(**mem, kTinyGdt + kTinyDataSelector), 0x00cf93000000ffffu);
  // Base 0x5800, limit 0x67, type 9, present.
  EXPECT_EQ(Read64(**mem, kTinyGdt + kTinyTssSelector), 0x0000890058000067u);
  EXPECT_EQ(Read64(**mem, kTinyGdt + kTinyTssSelector + 8), 0u);
}

TEST(TinyGuest, IdtGateEncoding) {
  auto mem = CreateTinyGuestMemory();
  ASSERT_TRUE(mem.ok());
  ASSERT_TRUE(WriteLongModeTables(**mem).ok());
  ASSERT_TRUE(SetIdtGate(**mem, 3, 0x123456789abc).ok());
  EXPECT_EQ(Read64(**mem, kTinyIdt + 48), 0x56788e0000089abcu);
  EXPECT_EQ(Read64(**mem, kTinyIdt + 56), 0x1234u);
  EXPECT_EQ(Read64(**mem, kTinyIdt), 0u);  // vector 0 stays not-present
  EXPECT_FALSE(SetIdtGate(**mem, 256, 0).ok());
  EXPECT_FALSE(SetIdtGate(**mem, -1, 0).ok());
}

TEST(TinyGuest, EnterLongModeSetsState) {
  FakeVcpu vcpu;
  vcpu.sregs.apic_base = 0xfee00900;
  ASSERT_TRUE(EnterLongMode(vcpu, kTinyCode, kTinyStackTop).ok());
  EXPECT_EQ(vcpu.regs.rip, kTinyCode);
  EXPECT_EQ(vcpu.regs.rsp, kTinyStackTop);
  EXPECT_EQ(vcpu.regs.rflags, 2u);
  const Sregs& s = vcpu.sregs;
  EXPECT_EQ(s.apic_base, 0xfee00900u);  // kept from the backend
  EXPECT_TRUE(s.cr0 & kCr0Pg);
  EXPECT_TRUE(s.cr0 & kCr0Pe);
  EXPECT_EQ(s.cr3, kTinyPml4);
  EXPECT_TRUE(s.cr4 & kCr4Pae);
  EXPECT_EQ(s.efer, kEferLme | kEferLma);
  EXPECT_EQ(s.cs.selector, kTinyCodeSelector);
  EXPECT_EQ(s.cs.l, 1);
  EXPECT_EQ(s.cs.db, 0);
  EXPECT_EQ(s.cs.dpl, 0);
  EXPECT_EQ(s.ss.selector, kTinyDataSelector);
  EXPECT_EQ(s.ss.present, 1);
  EXPECT_EQ(s.tr.type, 0xb);
  EXPECT_EQ(s.tr.base, kTinyTss);
  EXPECT_EQ(s.idt.base, kTinyIdt);
  EXPECT_EQ(s.idt.limit, 0xfff);
  EXPECT_EQ(s.gdt.limit, 39);
}

}  // namespace
}  // namespace skiff::kvm
