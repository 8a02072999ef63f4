// Integer families: ALU, INC/DEC, NEG/NOT, MUL/IMUL/DIV/IDIV, shifts,
// rotates, bit operations, data movement, stack, strings.
#include "gtest/gtest.h"
#include "tcg/flags.h"
#include "tcg/testing/asm_fixture.h"

namespace skiff::tcg::testing {
namespace {

constexpr uint64_t kF =
    kFlagCf | kFlagPf | kFlagAf | kFlagZf | kFlagSf | kFlagOf;

TEST_F(AsmTest, MovAndHalt) {
  Regs r = RunToHalt(R"(
    mov eax, 42
    mov rbx, 0x123456789abcdef0
    mov ecx, -1
    mov rdx, -1
    mov dx, 0x1234
    mov r8b, 0x77
    mov ah, 0x55
    hlt)");
  EXPECT_EQ(r.rax, 0x552a);
  EXPECT_EQ(r.rbx, 0x123456789abcdef0);
  EXPECT_EQ(r.rcx, 0xffffffff);
  EXPECT_EQ(r.rdx, 0xffffffffffff1234);
  EXPECT_EQ(r.r8, 0x77);
  EXPECT_EQ(r.rip, kCodeAddr + Assemble(R"(
    mov eax, 42
    mov rbx, 0x123456789abcdef0
    mov ecx, -1
    mov rdx, -1
    mov dx, 0x1234
    mov r8b, 0x77
    mov ah, 0x55
    hlt)")
                                   ->size());
}

TEST_F(AsmTest, AddFlags) {
  Regs r = RunToHalt(R"(
    mov eax, 0x7fffffff
    add eax, 1
    pushfq
    pop rbx
    mov cl, 0xff
    add cl, 1
    pushfq
    pop rdx
    hlt)");
  EXPECT_EQ(r.rax, 0x80000000);
  EXPECT_EQ(r.rbx & kF, kFlagOf | kFlagSf | kFlagAf | kFlagPf);
  EXPECT_EQ(r.rcx & 0xff, 0);
  EXPECT_EQ(r.rdx & kF, kFlagCf | kFlagZf | kFlagAf | kFlagPf);
}

TEST_F(AsmTest, SubSbbAdcCmp) {
  Regs r = RunToHalt(R"(
    mov rax, 5
    sub rax, 7          ; -2, CF
    mov rbx, 10
    sbb rbx, 3          ; 10-3-1 = 6
    mov rcx, 1
    stc
    adc rcx, 1          ; 3
    mov rdx, 3
    cmp rdx, 3
    sete sil
    cmp rdx, 4
    setl dil
    setb r8b
    seta r9b
    hlt)");
  EXPECT_EQ(r.rax, static_cast<uint64_t>(-2));
  EXPECT_EQ(r.rbx, 6);
  EXPECT_EQ(r.rcx, 3);
  EXPECT_EQ(r.rsi & 0xff, 1);
  EXPECT_EQ(r.rdi & 0xff, 1);
  EXPECT_EQ(r.r8 & 0xff, 1);
  EXPECT_EQ(r.r9 & 0xff, 0);
}

TEST_F(AsmTest, LogicIncDecNegNot) {
  Regs r = RunToHalt(R"(
    mov eax, 0xf0f0
    and eax, 0xff00
    or eax, 1
    xor eax, 0x10
    stc
    inc rax             ; CF preserved
    setc bl
    mov rcx, 0
    dec rcx
    mov rdx, 5
    neg rdx
    setc sil
    mov r8, 0
    not r8
    test r8, r8
    sets dil
    mov r9b, 0x7f
    inc r9b
    seto r10b
    hlt)");
  EXPECT_EQ(r.rax, 0xf012);
  EXPECT_EQ(r.rbx & 0xff, 1);
  EXPECT_EQ(r.rcx, ~0ull);
  EXPECT_EQ(r.rdx, static_cast<uint64_t>(-5));
  EXPECT_EQ(r.rsi & 0xff, 1);
  EXPECT_EQ(r.r8, ~0ull);
  EXPECT_EQ(r.rdi & 0xff, 1);
  EXPECT_EQ(r.r9 & 0xff, 0x80);
  EXPECT_EQ(r.r10 & 0xff, 1);
}

TEST_F(AsmTest, MulDiv) {
  Regs r = RunToHalt(R"(
    mov rax, 0x100000000
    mov rcx, 0x100000000
    mul rcx             ; rdx:rax = 2^64
    mov r8, rax
    mov r9, rdx
    mov rax, -3
    mov rcx, 7
    imul rcx            ; -21
    mov r10, rax
    mov r11, rdx
    mov eax, 100
    xor edx, edx
    mov ecx, 7
    div ecx             ; 14 r 2
    mov r12, rax
    mov r13, rdx
    mov rax, -100
    cqo
    mov rcx, 7
    idiv rcx            ; -14 r -2
    mov r14, rax
    mov r15, rdx
    imul rbx, rcx, -2
    mov esi, 3
    imul esi, ecx
    hlt)");
  EXPECT_EQ(r.r8, 0);
  EXPECT_EQ(r.r9, 1);
  EXPECT_EQ(r.r10, static_cast<uint64_t>(-21));
  EXPECT_EQ(r.r11, ~0ull);
  EXPECT_EQ(r.r12, 14);
  EXPECT_EQ(r.r13, 2);
  EXPECT_EQ(r.r14, static_cast<uint64_t>(-14));
  EXPECT_EQ(r.r15, static_cast<uint64_t>(-2));
  EXPECT_EQ(r.rbx, static_cast<uint64_t>(-14));
  EXPECT_EQ(r.rsi, 21);
}

TEST_F(AsmTest, ByteMulDiv) {
  Regs r = RunToHalt(R"(
    mov eax, 200
    mov cl, 3
    mul cl              ; ax = 600
    mov ebx, eax
    mov ax, 601
    mov cl, 10
    div cl              ; al=60 ah=1
    hlt)");
  EXPECT_EQ(r.rbx & 0xffff, 600);
  EXPECT_EQ(r.rax & 0xffff, 0x013c);
}

TEST_F(AsmTest, SignExtension) {
  Regs r = RunToHalt(R"(
    mov eax, 0x80
    cbw                 ; ax = 0xff80
    mov ebx, eax
    mov eax, 0x8000
    cwde
    mov ecx, eax
    mov eax, 0x80000000
    cdqe
    mov rdx, rax
    mov r8, -1
    movzx r9, r8b
    movsx r10, r8w
    movzx r11d, r8w
    mov r12d, 0x80000000
    movsxd r13, r12d
    hlt)");
  EXPECT_EQ(r.rbx & 0xffff, 0xff80);
  EXPECT_EQ(r.rcx, 0xffff8000);
  EXPECT_EQ(r.rdx, 0xffffffff80000000);
  EXPECT_EQ(r.r9, 0xff);
  EXPECT_EQ(r.r10, ~0ull);
  EXPECT_EQ(r.r11, 0xffff);
  EXPECT_EQ(r.r13, 0xffffffff80000000);
}

TEST_F(AsmTest, ShiftsAndRotates) {
  Regs r = RunToHalt(R"(
    mov rax, 0x8000000000000001
    shl rax, 1
    setc bl             ; 1
    mov rcx, 0x80
    shr ecx, 4          ; 8
    mov rdx, -16
    sar rdx, 2          ; -4
    mov esi, 0x80000001
    rol esi, 1          ; 3
    mov edi, 1
    ror edi, 1          ; 0x80000000
    mov r8d, 1
    stc
    rcl r8d, 1          ; 3
    mov r9d, 2
    stc
    rcr r9d, 1          ; 0x80000001
    mov r10, 0x1234
    mov r11, 0xabcd000000000000
    shld r10, r11, 8    ; 0x1234ab
    mov r12, 0xff
    mov cl, 4
    mov r13, 0x5
    shrd r12, r13, cl   ; 0x500000000000000f
    hlt)");
  EXPECT_EQ(r.rax, 2);
  EXPECT_EQ(r.rbx & 0xff, 1);
  EXPECT_EQ(r.rdx, static_cast<uint64_t>(-4));
  EXPECT_EQ(r.rsi, 3);
  EXPECT_EQ(r.rdi, 0x80000000);
  EXPECT_EQ(r.r8, 3);
  EXPECT_EQ(r.r9, 0x80000001);
  EXPECT_EQ(r.r10, 0x1234ab);
  EXPECT_EQ(r.r12, 0x500000000000000f);
}

TEST_F(AsmTest, BitOps) {
  Regs r = RunToHalt(R"(
    mov rax, 0x10
    bt rax, 4
    setc bl
    bts rax, 0          ; 0x11
    btr rax, 4          ; 0x1
    btc rax, 63         ; 0x8000000000000001
    mov rcx, 0x100
    bsf rdx, rcx        ; 8
    bsr rsi, rax        ; 63
    popcnt rdi, rax     ; 2
    lzcnt r8, rcx       ; 55
    mov r9d, 0x12345678
    bswap r9d
    mov qword [0x20000], 0
    mov r10, 67
    bts [0x20000], r10  ; bit 3 of qword at +8
    mov r11, [0x20008]
    hlt)");
  EXPECT_EQ(r.rbx & 0xff, 1);
  EXPECT_EQ(r.rax, 0x8000000000000001);
  EXPECT_EQ(r.rdx, 8);
  EXPECT_EQ(r.rsi, 63);
  EXPECT_EQ(r.rdi, 2);
  EXPECT_EQ(r.r8, 55);
  EXPECT_EQ(r.r9, 0x78563412);
  EXPECT_EQ(r.r11, 8);
}

// A register bit offset reaches up to 2^60 bytes from the operand: far
// beyond the 32 bits of a displacement, so the interpreter must not fold it
// into one. The address still wraps at the address size (67 prefix).
TEST_F(AsmTest, BitOpsWithFarRegisterOffsets) {
  Regs r = RunToHalt(R"(
    mov qword [0x20008], 0
    mov qword [0x20010], 0
    mov rbx, 0xffffff0000020008  ; 0x20008 - 2^40
    mov rcx, 0x80000000003       ; 2^43 + 3: bit 3, 2^40 bytes on
    bts [rbx], rcx
    mov rsi, 0x10000020010       ; 0x20010 + 2^40
    mov rdx, 0xfffff80000000002  ; -2^43 + 2: bit 2, 2^40 bytes back
    btc [rsi], rdx
    mov ebx, 0x20008
    mov rcx, 0x80000000005       ; bit 5, 2^40 bytes on: wraps to +0
    bts [ebx], rcx
    bt [rsi], rdx
    setc al
    mov r8, [0x20008]
    mov r9, [0x20010]
    hlt)");
  EXPECT_EQ(r.r8, 0x28);
  EXPECT_EQ(r.r9, 0x4);
  EXPECT_EQ(r.rax & 0xff, 1);
}

TEST_F(AsmTest, StackCallRet) {
  Regs r = RunToHalt(R"(
    mov rsp, 0x80000
    push 5
    push qword 0x1234
    pop rax
    pop rbx
    call func
    mov rdx, rsp
    enter 16, 0
    mov rsi, rsp
    leave
    mov rdi, rsp
    hlt
  func:
    mov rcx, [rsp]
    ret)");
  EXPECT_EQ(r.rax, 0x1234);
  EXPECT_EQ(r.rbx, 5);
  EXPECT_EQ(r.rdx, 0x80000);
  EXPECT_EQ(r.rsi, 0x80000 - 8 - 16);
  EXPECT_EQ(r.rdi, 0x80000);
  EXPECT_NE(r.rcx, 0);
}

TEST_F(AsmTest, LoopsAndJumps) {
  Regs r = RunToHalt(R"(
    xor eax, eax
    mov ecx, 10
  l1:
    add eax, ecx
    loop l1             ; 55
    xor ebx, ebx
    mov ecx, 0
    jrcxz skip
    mov ebx, 1
  skip:
    lea rdx, [rel target]
    jmp rdx
    mov ebx, 2
  target:
    mov esi, 3
    cmp esi, 2
    jg bigger
    mov esi, 0
  bigger:
    cmove edi, esi      ; not taken; edi stays 0
    cmovne r8d, esi
    hlt)");
  EXPECT_EQ(r.rax, 55);
  EXPECT_EQ(r.rbx, 0);
  EXPECT_EQ(r.rsi, 3);
  EXPECT_EQ(r.rdi, 0);
  EXPECT_EQ(r.r8, 3);
}

TEST_F(AsmTest, MemoryAddressing) {
  Regs r = RunToHalt(R"(
    mov rbx, 0x20000
    mov rsi, 2
    mov dword [rbx + rsi*4 + 8], 0xdeadbeef
    mov eax, [0x20010]
    lea rcx, [rbx + rsi*8 - 4]
    mov qword [rel data], 77
    mov rdx, [rel data]
    xchg rdx, [rbx]
    mov rdi, [rbx]
    mov r8d, 0x20000
    mov r9d, [r8d]
    hlt
  data: dq 0)");
  EXPECT_EQ(r.rax, 0xdeadbeef);
  EXPECT_EQ(r.rcx, 0x2000c);
  EXPECT_EQ(r.rdi, 77);
  EXPECT_EQ(r.r9, 77);
}

TEST_F(AsmTest, StringOps) {
  Regs r = RunToHalt(R"(
    cld
    mov rdi, 0x20000
    mov al, 0xab
    mov rcx, 100
    rep stosb
    mov rsi, 0x20000
    mov rdi, 0x21000
    mov rcx, 25
    rep movsd
    mov rsi, 0x20000
    mov rdi, 0x21000
    mov rcx, 100
    repe cmpsb
    mov rbx, rcx        ; 0: all equal
    mov rdi, 0x21000
    mov byte [0x21010], 0
    mov al, 0
    mov rcx, 100
    repne scasb
    mov rdx, rdi        ; 0x21011
    mov rsi, 0x21000
    lodsw
    std
    mov rdi, 0x22008
    mov rax, 0x1122
    stosq
    mov r8, rdi
    cld
    hlt)");
  EXPECT_EQ(r.rbx, 0);
  EXPECT_EQ(r.rdx, 0x21011);
  EXPECT_EQ(r.rax & 0xffff, 0x1122);
  EXPECT_EQ(r.r8, 0x22000);
  EXPECT_EQ(m_->Read64(0x21000), 0xabababababababab);
  EXPECT_EQ(m_->Read64(0x22008), 0x1122);
}

// REP MOVS/STOS move page-sized runs at a time; these cases must still
// behave element by element.
TEST_F(AsmTest, RepMovsOverlapsReplicateAsElementByElement) {
  Regs r = RunToHalt(R"(
    cld
    mov byte [0x20000], 1
    mov byte [0x20001], 2
    mov rsi, 0x20000
    mov rdi, 0x20001
    mov rcx, 100
    rep movsb             ; forward onto its own unread source
    mov rdi, 0x21000      ; 0x21000.. = 0, 1, 2, ..., 199
    xor eax, eax
  fill:
    stosb
    inc eax
    cmp eax, 200
    jne fill
    std
    mov rsi, 0x21000 + 100
    mov rdi, 0x21000 + 99
    mov rcx, 100
    rep movsb             ; backward onto its own unread source
    cld
    mov rsi, 0x22001      ; forward, destination below the source: a move
    mov rdi, 0x22000
    mov dword [0x22001], 0x44332211
    mov rcx, 4
    rep movsb
    hlt)");
  for (uint64_t a = 0x20000; a <= 0x20064; ++a) {
    ASSERT_EQ(m_->memory().ReadObj<uint8_t>(GuestAddr(a)).value(), 1u) << a;
  }
  for (uint64_t k = 0; k < 100; ++k) {
    ASSERT_EQ(m_->memory().ReadObj<uint8_t>(GuestAddr(0x21000 + k)).value(),
              100u)
        << k;
  }
  EXPECT_EQ(m_->memory().ReadObj<uint32_t>(GuestAddr(0x22000)).value(),
            0x44332211u);
  EXPECT_EQ(r.rcx, 0u);
  EXPECT_EQ(r.rsi, 0x22005u);
}

TEST_F(AsmTest, RepStringsCrossPagesAndSplitElements) {
  Regs r = RunToHalt(R"(
    cld
    mov rdi, 0x23ffe      ; dwords from 2 bytes below a page boundary: the
    mov eax, 0x11223344   ; first element straddles it
    mov rcx, 2000
    rep stosd
    mov rsi, 0x23ffe      ; qwords across two page boundaries on both sides
    mov rdi, 0x27ffa
    mov rcx, 1000
    rep movsq
    std
    mov rdi, 0x2a004      ; dwords downwards across a page boundary
    mov eax, 0x55667788
    mov rcx, 3
    rep stosd
    cld
    hlt)");
  EXPECT_EQ(r.rdi, 0x2a004u - 12);
  EXPECT_EQ(r.rsi, 0x23ffeu + 8000);
  for (uint64_t k = 0; k < 2000; ++k) {
    ASSERT_EQ(
        m_->memory().ReadObj<uint32_t>(GuestAddr(0x23ffe + 4 * k)).value(),
        0x11223344u)
        << k;
    ASSERT_EQ(
        m_->memory().ReadObj<uint32_t>(GuestAddr(0x27ffa + 4 * k)).value(),
        0x11223344u)
        << k;
  }
  for (uint64_t a : {0x2a004, 0x2a000, 0x29ffc}) {
    EXPECT_EQ(m_->memory().ReadObj<uint32_t>(GuestAddr(a)).value(), 0x55667788u)
        << a;
  }
  EXPECT_EQ(m_->memory().ReadObj<uint32_t>(GuestAddr(0x29ff8)).value(), 0u);
}

TEST_F(AsmTest, RepStosFaultsAtTheUnmappedPageWithCountsSoFar) {
  m_->SetPte(0x2c000, 0);
  Regs r = RunToHalt(R"(
    cld
    mov rdi, 0x2bf00
    mov rcx, 0x300
    mov al, 0x5a
    rep stosb
    hlt)");
  EXPECT_EQ(r.r14, 14u);  // #PF
  EXPECT_EQ(m_->sregs().cr2, 0x2c000u);
  EXPECT_EQ(r.rcx, 0x200u);
  EXPECT_EQ(r.rdi, 0x2c000u);
  EXPECT_EQ(m_->memory().ReadObj<uint8_t>(GuestAddr(0x2bfff)).value(), 0x5au);
  EXPECT_EQ(m_->memory().ReadObj<uint8_t>(GuestAddr(0x2c000)).value(), 0u);
}

TEST_F(AsmTest, FlagInstructions) {
  Regs r = RunToHalt(R"(
    stc
    cmc
    setc al
    mov ah, 0xd5
    sahf
    lahf
    mov bl, ah
    pushfq
    pop rcx
    or rcx, 0x400
    push rcx
    popfq
    pushfq
    pop rdx
    cld
    hlt)");
  EXPECT_EQ(r.rax & 0xff, 0);
  EXPECT_EQ(r.rbx & 0xff, 0xd7);
  EXPECT_TRUE(r.rdx & kFlagDf);
}

TEST_F(AsmTest, CmpxchgXaddCx16) {
  Regs r = RunToHalt(R"(
    mov qword [0x20000], 5
    mov rax, 5
    mov rcx, 9
    lock cmpxchg [0x20000], rcx
    setz r10b
    mov rax, 1
    cmpxchg [0x20000], rcx  ; fails: rax = 9
    mov rdx, rax
    mov rsi, 3
    lock xadd [0x20000], rsi   ; mem 12, rsi 9
    mov rdi, [0x20000]
    mov qword [0x20010], 1
    mov qword [0x20018], 2
    mov rax, 1
    mov rdx, 2
    mov rbx, 3
    mov rcx, 4
    lock cmpxchg16b [0x20010]
    setz r8b
    mov r9, [0x20018]
    hlt)");
  EXPECT_EQ(r.r10 & 0xff, 1);
  EXPECT_EQ(r.rdx, 2);
  EXPECT_EQ(r.rsi, 9);
  EXPECT_EQ(r.rdi, 12);
  EXPECT_EQ(r.r8 & 0xff, 1);
  EXPECT_EQ(r.r9, 4);
}

}  // namespace
}  // namespace skiff::tcg::testing
