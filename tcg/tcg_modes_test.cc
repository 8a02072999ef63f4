// Real mode, 32-bit protected mode (PVH/multiboot entry: flat, paging off)
// and the transitions real -> protected -> long mode, as an SMP trampoline
// does them.
#include "gtest/gtest.h"
#include "tcg/testing/asm_fixture.h"

namespace skiff::tcg::testing {
namespace {

using Kind = VcpuExit::Kind;

Segment RealSeg(uint16_t sel, bool code) {
  Segment s{};
  s.selector = sel;
  s.base = static_cast<uint64_t>(sel) << 4;
  s.limit = 0xffff;
  s.type = code ? 0xb : 0x3;
  s.s = 1;
  s.present = 1;
  return s;
}

Sregs RealModeSregs(uint16_t cs) {
  Sregs s{};
  s.cs = RealSeg(cs, true);
  s.ds = s.es = s.ss = s.fs = s.gs = RealSeg(0, false);
  s.tr.type = 0xb;
  s.tr.present = 1;
  s.ldt.type = 2;
  s.ldt.present = 1;
  s.gdt = {0, 0xffff};
  s.idt = {0, 0x3ff};
  s.cr0 = kCr0Et;
  return s;
}

Sregs Flat32Sregs() {
  Sregs s = FlatLongModeSregs();
  s.cs.l = 0;
  s.cs.db = 1;
  s.cs.selector = kKernelCs32;
  s.cr0 = kCr0Pe | kCr0Et;
  s.cr4 = 0;
  s.efer = 0;
  return s;
}

class ModesTest : public AsmTest {
 protected:
  VcpuExit RunWith(const Sregs& sregs, const std::string& source,
                   uint64_t rip) {
    auto code = Assemble(source, kCodeAddr);
    EXPECT_TRUE(code.ok()) << code.status();
    if (!code.ok()) return VcpuExit{};
    EXPECT_TRUE(m_->LoadCode(*code).ok());
    EXPECT_TRUE(m_->vcpu().SetSregs(sregs).ok());
    Regs r = m_->regs();
    r.rip = rip;
    m_->SetRegs(r);
    auto exit = m_->Run();
    EXPECT_TRUE(exit.ok());
    return exit.ok() ? *exit : VcpuExit{};
  }
};

TEST_F(ModesTest, RealModeArithmeticAndIvt) {
  // IVT entry for INT 0x10 -> 0x1000:0x0100.
  ASSERT_TRUE(
      m_->memory().WriteObj(GuestAddr(0x10 * 4), uint32_t{0x10000100}).ok());
  VcpuExit exit = RunWith(RealModeSregs(0x1000), R"(
    BITS 16
    mov ax, 0x2000
    mov ds, ax
    mov bx, 0x10
    mov si, 4
    mov word [bx+si], 0xbeef      ; 0x20014
    mov cx, [bx+si]
    mov sp, 0x8000
    xor ax, ax
    mov ss, ax
    mov eax, 0x12345678           ; operand-size prefix in 16-bit code
    int 0x10
    mov dx, 0x55
    hlt
    times 0x100 - ($ - $$) db 0
    mov di, 0x77
    iret)",
                          0);
  EXPECT_EQ(exit.kind, Kind::kHalt) << DescribeVcpuExit(exit);
  Regs r = m_->regs();
  EXPECT_EQ(r.rcx & 0xffff, 0xbeef);
  EXPECT_EQ(r.rax, 0x12345678u);
  EXPECT_EQ(r.rdi & 0xffff, 0x77);
  EXPECT_EQ(r.rdx & 0xffff, 0x55);
  EXPECT_EQ(r.rsp & 0xffff, 0x8000);
  EXPECT_EQ(m_->memory().ReadObj<uint16_t>(GuestAddr(0x20014)).value(), 0xbeef);
}

TEST_F(ModesTest, RealModeRepStringsWrapTheirOffsetsAtSixteenBits) {
  // ES = DS = 0x2001: base 0x20010, so an offset wrap falls inside a page
  // (at linear 0x30010) rather than on a page boundary. DI runs
  // 0xfff8..0xffff and wraps to 0x0000..0x0007: the bytes land at
  // 0x30008..0x3000f and 0x20010..0x20017, never at 0x30010. The copy back
  // down (DF=1) wraps SI below zero the same way.
  VcpuExit exit = RunWith(RealModeSregs(0x1000), R"(
    BITS 16
    mov ax, 0x2001
    mov es, ax
    mov ds, ax
    cld
    mov di, 0xfff8
    mov cx, 16
    mov al, 0x5a
    rep stosb
    mov bx, di                ; 0x0008
    std
    mov si, 0x0003            ; 0x20013 down to 0x20010, then 0x3000f..
    mov di, 0x1003            ; 0x21013 down to 0x2100c
    mov cx, 8
    rep movsb
    cld
    mov dx, si                ; 0xfffb
    hlt)",
                          0);
  EXPECT_EQ(exit.kind, Kind::kHalt) << DescribeVcpuExit(exit);
  Regs r = m_->regs();
  EXPECT_EQ(r.rbx & 0xffff, 0x0008u);
  EXPECT_EQ(r.rdx & 0xffff, 0xfffbu);
  auto byte = [&](uint64_t a) {
    return m_->memory().ReadObj<uint8_t>(GuestAddr(a)).value();
  };
  for (uint64_t a = 0x30008; a < 0x30010; ++a) EXPECT_EQ(byte(a), 0x5a) << a;
  for (uint64_t a = 0x20010; a < 0x20018; ++a) EXPECT_EQ(byte(a), 0x5a) << a;
  EXPECT_EQ(byte(0x30010), 0u);
  EXPECT_EQ(byte(0x20018), 0u);
  // All eight bytes copied came from stored ones, across SI's wrap.
  for (uint64_t a = 0x2100c; a <= 0x21013; ++a) EXPECT_EQ(byte(a), 0x5a) << a;
  EXPECT_EQ(byte(0x2100b), 0u);
}

TEST_F(ModesTest, Flat32BitProtectedMode) {
  VcpuExit exit = RunWith(Flat32Sregs(), R"(
    BITS 32
    mov esp, 0x80000
    mov eax, 7
    push eax
    call f
    pop ebx
    mov dword [0x20000], 0x11223344
    mov ecx, [0x20000]
    inc ecx                 ; 0x41: INC in 32-bit code, not REX
    dec edx
    hlt
  f:
    mov esi, [esp + 4]
    ret)",
                          kCodeAddr);
  EXPECT_EQ(exit.kind, Kind::kHalt) << DescribeVcpuExit(exit);
  Regs r = m_->regs();
  EXPECT_EQ(r.rbx, 7u);
  EXPECT_EQ(r.rsi, 7u);
  EXPECT_EQ(r.rcx, 0x11223345u);
  EXPECT_EQ(r.rsp, 0x80000u);
}

TEST_F(ModesTest, RealToProtectedToLongMode) {
  // A trampoline at 0x10000 entered in real mode with CS = 0x1000.
  VcpuExit exit = RunWith(RealModeSregs(0x1000), R"(
    BITS 16
    cli
    o32 lgdt [cs:gdtr - $$]
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    jmp dword 0x08:pm32
  gdtr:
    dw 0x47
    dd 0x5000
    BITS 32
  pm32:
    mov ax, 0x18
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x80000
    mov dword [0x20000], 0xabcd
    mov eax, cr4
    or eax, 0x20            ; PAE
    mov cr4, eax
    mov eax, 0x1000
    mov cr3, eax
    mov ecx, 0xc0000080
    rdmsr
    or eax, 0x100           ; LME
    wrmsr
    mov eax, cr0
    or eax, 0x80000000      ; PG: activates long mode (compatibility)
    mov cr0, eax
    jmp 0x10:lm64
    BITS 64
  lm64:
    mov rax, 0x123456789
    mov rbx, [0x20000]
    push rbx
    pop rcx
    hlt)",
                          0);
  EXPECT_EQ(exit.kind, Kind::kHalt) << DescribeVcpuExit(exit);
  Regs r = m_->regs();
  EXPECT_EQ(r.rax, 0x123456789u);
  EXPECT_EQ(r.rcx, 0xabcdu);
  Sregs s = m_->sregs();
  EXPECT_TRUE(s.efer & kEferLma);
  EXPECT_EQ(s.cs.selector, kKernelCs);
  EXPECT_EQ(s.cs.l, 1);
}

TEST_F(ModesTest, Protected32WithPseAndPaePaging) {
  // 32-bit paging with a 4 MiB page: PD at 0x3000 maps 0-4 MiB. Then PAE
  // with a PDPT at 0x40000 and 2 MiB pages (the 64-bit PD at 0x3000 again).
  VcpuExit exit = RunWith(Flat32Sregs(), R"(
    BITS 32
    mov esp, 0x80000
    mov dword [0x50000], 0x83          ; PDE: 4 MiB page at 0, RW
    mov eax, cr4
    or eax, 0x10                       ; PSE
    mov cr4, eax
    mov eax, 0x50000
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    mov dword [0x20000], 0x5a5a
    mov ebx, [0x20000]
    mov eax, cr0
    and eax, 0x7fffffff
    mov cr0, eax
    mov dword [0x40000], 0x3001        ; PDPTE 0 -> PD at 0x3000
    mov dword [0x40004], 0
    mov eax, cr4
    or eax, 0x20                       ; PAE
    mov cr4, eax
    mov eax, 0x40000
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    mov ecx, [0x20000]
    pusha
    popa
    hlt)",
                          kCodeAddr);
  EXPECT_EQ(exit.kind, Kind::kHalt) << DescribeVcpuExit(exit);
  Regs r = m_->regs();
  EXPECT_EQ(r.rbx, 0x5a5au);
  EXPECT_EQ(r.rcx, 0x5a5au);
  EXPECT_EQ(r.rsp, 0x80000u);
  EXPECT_EQ(m_->memory().ReadObj<uint32_t>(GuestAddr(0x50000)).value() & 0x20,
            0x20u);  // accessed
}

TEST_F(ModesTest, Protected32ExceptionThroughIdt) {
  // A 32-bit IDT at 0x60000 with an interrupt gate for #UD to `handler`.
  VcpuExit exit = RunWith(Flat32Sregs(), R"(
    BITS 32
    mov esp, 0x80000
    mov eax, handler
    mov word [0x60000 + 6*8], ax
    mov word [0x60000 + 6*8 + 2], 0x08
    mov word [0x60000 + 6*8 + 4], 0x8e00
    shr eax, 16
    mov word [0x60000 + 6*8 + 6], ax
    lidt [idtr]
    ud2
  handler:
    mov esi, [esp]                     ; faulting EIP
    mov edi, [esp + 4]                 ; CS
    hlt
  idtr:
    dw 0x7ff
    dd 0x60000)",
                          kCodeAddr);
  EXPECT_EQ(exit.kind, Kind::kHalt) << DescribeVcpuExit(exit);
  Regs r = m_->regs();
  EXPECT_EQ(r.rdi, kKernelCs32);
  EXPECT_EQ(r.rsp, 0x80000u - 12);
  EXPECT_GT(r.rsi, kCodeAddr);
}

}  // namespace
}  // namespace skiff::tcg::testing
