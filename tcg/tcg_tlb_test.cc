// The software TLB (tcg/cpu.h TlbEntry): one tag per access kind and
// privilege, so these check that a translation cached for one access never
// lets a different one through without the walk it needs: a write to a page
// first read (the D bit), a user access to a page a supervisor access
// cached, a fetch from an NX page first read; and that global pages survive
// a CR3 write, MMIO pages never hit, and page-crossing accesses split.
#include "gtest/gtest.h"
#include "tcg/testing/asm_fixture.h"

namespace skiff::tcg::testing {
namespace {

constexpr uint64_t kPteA = 1ull << 5, kPteD = 1ull << 6, kPteG = 1ull << 8;

// The user-mode entry sequence: IRETQ to `user` at CPL 3.
constexpr char kToUser[] = R"(
    push 0x2b
    push 0x70000
    push 0x2
    push 0x33
    lea rax, [rel user]
    push rax
    iretq
)";

TEST_F(AsmTest, WriteToPageFirstReadSetsDirty) {
  m_->SetPte(0x3e000, 0x3e000 | 7);  // A = D = 0
  Regs r = RunToHalt(R"(
    mov rax, [0x3e000]        ; caches the page for reads: A only
    mov rbx, [0x4000 + 0x3e * 8]
    mov qword [0x3e008], 5    ; must walk again to set D
    mov rcx, [0x4000 + 0x3e * 8]
    hlt)");
  EXPECT_EQ(r.rbx & (kPteA | kPteD), kPteA);
  EXPECT_EQ(r.rcx & (kPteA | kPteD), kPteA | kPteD);
  EXPECT_EQ(m_->Read64(0x3e008), 5u);
}

TEST_F(AsmTest, WriteAfterDirtyIsCachedUntilInvlpg) {
  // Once a write set D, writes hit the TLB: clearing D in the PTE without
  // INVLPG is not seen (as on hardware), and after INVLPG it is set again.
  m_->SetPte(0x3e000, 0x3e000 | 7);
  Regs r = RunToHalt(R"(
    mov qword [0x3e000], 1
    and qword [0x4000 + 0x3e * 8], ~0x40
    mov qword [0x3e000], 2
    mov rbx, [0x4000 + 0x3e * 8]
    invlpg [0x3e000]
    mov qword [0x3e000], 3
    mov rcx, [0x4000 + 0x3e * 8]
    hlt)");
  EXPECT_EQ(r.rbx & kPteD, 0u);
  EXPECT_EQ(r.rcx & kPteD, kPteD);
  EXPECT_EQ(m_->Read64(0x3e000), 3u);
}

TEST_F(AsmTest, UserReadFaultsOnPageASupervisorReadCached) {
  m_->SetPte(0x37000, 0x37000 | 3 | kPteA | kPteD);  // supervisor only
  Regs r = RunToHalt(std::string(R"(
    mov rax, [0x37000]
    mov qword [0x37008], 1)") +
                     kToUser + R"(
  user:
    mov rax, [0x37000]
    hlt)");
  EXPECT_EQ(r.r14, 14u);
  EXPECT_EQ(m_->sregs().cr2, 0x37000u);
  EXPECT_EQ(m_->Read64(r.rsp), 5u);  // present | user
}

// A program that stores 7 at supervisor-only 0x37000 (in rbx), runs
// `kernel` at CPL 0 (which leaves what `load` read in rax, kept in rsi),
// then `user` at CPL 3; `functions` and `load` (mov rax, [rbx]; ret)
// follow.
std::string KernelThenUser(const std::string& kernel, const std::string& user,
                           const std::string& functions) {
  return R"(
    mov rbx, 0x37000
    mov qword [rbx], 7
)" + kernel +
         R"(
    mov rsi, rax)" +
         kToUser + R"(
  user:
)" + user +
         functions +
         R"(
  load:
    mov rax, [rbx]
    ret)";
}

TEST_F(AsmTest, ReturnAtCpl3SkipsTheJumpCacheEntryMadeAtCpl0) {
  // `load` is compiled at CPL 0 and, reached by the RET in `kernel_ret`,
  // enters the jump cache. The RET in `user_ret`, compiled at CPL 3, must
  // not take that entry: its code checks the supervisor's TLB tags.
  m_->SetPte(0x37000, 0x37000 | 3 | kPteA | kPteD);  // supervisor only
  Regs r = RunToHalt(KernelThenUser(R"(
    call kernel_ret
    call kernel_ret
    call kernel_ret)",
                                    R"(
    call user_ret
    hlt)",
                                    R"(
  kernel_ret:
    lea rax, [rel load]
    push rax
    ret
  user_ret:
    lea rax, [rel load]
    push rax
    ret)"));
  EXPECT_EQ(r.rsi, 7u);
  EXPECT_EQ(r.r14, 14u);
  EXPECT_EQ(m_->sregs().cr2, 0x37000u);
}

TEST_F(AsmTest, CodeCompiledAtCpl0FaultsAsUserCodeAtCpl3) {
  // The fixture compiles `load` on its first call, at CPL 0, with the
  // supervisor's TLB tags; from CPL 3 the same block must fault.
  m_->SetPte(0x37000, 0x37000 | 3 | kPteA | kPteD);  // supervisor only
  Regs r = RunToHalt(KernelThenUser(R"(
    call load
    call load)",
                                    R"(
    call load
    hlt)",
                                    ""));
  EXPECT_EQ(r.rsi, 7u);
  EXPECT_EQ(r.r14, 14u);
  EXPECT_EQ(m_->sregs().cr2, 0x37000u);
  EXPECT_EQ(m_->Read64(r.rsp), 5u);  // present | user
}

TEST_F(AsmTest, UserWriteFaultsOnPageASupervisorWriteCached) {
  m_->SetPte(0x37000, 0x37000 | 3 | kPteA | kPteD);  // supervisor only
  Regs r = RunToHalt(std::string(R"(
    mov qword [0x37008], 1)") +
                     kToUser + R"(
  user:
    mov qword [0x37010], 2
    hlt)");
  EXPECT_EQ(r.r14, 14u);
  EXPECT_EQ(m_->sregs().cr2, 0x37010u);
  EXPECT_EQ(m_->Read64(r.rsp), 7u);  // present | write | user
  EXPECT_EQ(m_->Read64(0x37010), 0u);
}

TEST_F(AsmTest, UserWriteFaultsOnReadOnlyUserPageASupervisorWriteCached) {
  // CR0.WP = 0: supervisor writes to read-only pages are allowed, user
  // writes are not, even once the supervisor write is cached.
  m_->SetPte(0x31000, 0x31000 | 5 | kPteA | kPteD);
  Regs r = RunToHalt(std::string(R"(
    mov rax, cr0
    and rax, ~0x10000
    mov cr0, rax
    mov qword [0x31008], 1)") +
                     kToUser + R"(
  user:
    mov rbx, [0x31008]
    mov qword [0x31010], 2
    hlt)");
  EXPECT_EQ(r.rbx, 1u);
  EXPECT_EQ(r.r14, 14u);
  EXPECT_EQ(m_->sregs().cr2, 0x31010u);
  EXPECT_EQ(m_->Read64(r.rsp), 7u);  // present | write | user
}

TEST_F(AsmTest, FetchFaultsOnNxPageAReadCached) {
  m_->SetPte(0x32000, 0x32000 | 7 | kPteA | (1ull << 63));
  ASSERT_TRUE(m_->memory().Fill(GuestAddr(0x32000), 0x90, 16).ok());
  Regs r = RunToHalt(R"(
    mov rax, 0x32000
    mov rbx, [rax]
    jmp rax)");
  EXPECT_EQ(r.rbx, 0x9090909090909090u);
  EXPECT_EQ(r.r14, 14u);
  EXPECT_EQ(m_->sregs().cr2, 0x32000u);
  EXPECT_EQ(m_->Read64(r.rsp), 0x11u);  // present | instruction fetch
}

TEST_F(AsmTest, GlobalPageSurvivesCr3WriteButNotPgeToggle) {
  m_->SetPte(0x35000, 0x35000 | 7 | kPteG);
  m_->SetPte(0x3a000, 0x3a000 | 7);
  Regs r = RunToHalt(R"(
    mov rax, [0x35000]        ; cached, global
    mov rax, [0x3a000]        ; cached, not global
    mov qword [0x4000 + 0x35 * 8], 0x36107   ; remap 0x35000 -> 0x36000
    mov qword [0x4000 + 0x3a * 8], 0x36007   ; remap 0x3a000 -> 0x36000
    mov qword [0x36000], 99
    mov rdx, cr3
    mov cr3, rdx
    mov rbx, [0x35000]        ; still the old page: 0
    mov rsi, [0x3a000]        ; flushed: 99
    mov rdx, cr4
    and rdx, ~0x80
    mov cr4, rdx              ; clearing CR4.PGE flushes global entries too
    or rdx, 0x80
    mov cr4, rdx
    mov rcx, [0x35000]        ; 99
    hlt)");
  EXPECT_EQ(r.rbx, 0u);
  EXPECT_EQ(r.rsi, 99u);
  EXPECT_EQ(r.rcx, 99u);
}

// The TLB is direct-mapped (kTlbSize entries): a non-global translation
// that replaces a global one in the same entry is flushed by a CR3 write
// like any other non-global one.
TEST_F(AsmTest, NonGlobalEntryReplacingAGlobalOneIsFlushedByCr3Write) {
  static_assert(kTlbSize == 1024, "0x43a000 and 0x3a000 share an entry");
  m_->SetPte(0x3a000, 0x3a000 | 7);
  Regs r = RunToHalt(R"(
    mov qword [0x3000 + 2 * 8], 0x187   ; 0x400000: a global 2 MiB page at 0
    mov rax, [0x43a000]       ; the entry: global
    mov rax, [0x3a000]        ; the same entry: not global
    mov qword [0x4000 + 0x3a * 8], 0x36007   ; remap 0x3a000 -> 0x36000
    mov qword [0x36000], 99
    mov rdx, cr3
    mov cr3, rdx
    mov rbx, [0x3a000]        ; flushed: 99
    hlt)");
  EXPECT_EQ(r.rbx, 99u);
}

// Flushes visit the entries the TLB lists as in use; INVLPG and a refill
// list an entry again, and past kTlbSize listings flushes scan the whole
// TLB. A global page listed after that is still flushed with the rest.
TEST_F(AsmTest, FlushesStayCompleteAfterManyRefills) {
  m_->SetPte(0x35000, 0x35000 | 7 | kPteG);
  m_->SetPte(0x37000, 0x37000 | 7 | kPteG);
  Regs r = RunToHalt(R"(
    mov ecx, 1100
  again:
    mov rax, [0x35000]
    invlpg [0x35000]
    dec ecx
    jnz again
    mov rax, [0x37000]        ; cached, global
    mov qword [0x4000 + 0x37 * 8], 0x36107   ; remap 0x37000 -> 0x36000
    mov qword [0x36000], 99
    mov rdx, cr4
    and rdx, ~0x80
    mov cr4, rdx              ; flushes global entries
    or rdx, 0x80
    mov cr4, rdx
    mov rbx, [0x37000]        ; 99
    hlt)");
  EXPECT_EQ(r.rbx, 99u);
}

TEST_F(AsmTest, InvlpgFlushesAGlobalPage) {
  m_->SetPte(0x35000, 0x35000 | 7 | kPteG);
  Regs r = RunToHalt(R"(
    mov rax, [0x35000]
    mov qword [0x4000 + 0x35 * 8], 0x36107
    mov qword [0x36000], 99
    invlpg [0x35000]
    mov rbx, [0x35000]
    hlt)");
  EXPECT_EQ(r.rbx, 99u);
}

TEST_F(AsmTest, MmioPageNeverHitsTheTlb) {
  Regs r = RunToHalt(R"(
    mov rbx, 0xc0002000
    mov rax, [rbx]
    mov rcx, [rbx + 8]
    mov dword [rbx], 1
    mov dword [rbx + 4], 2
    hlt)");
  EXPECT_EQ(r.rax, 0x1122334455667788u);
  EXPECT_EQ(r.rcx, 0x1122334455667788u);
  auto acc = m_->io().accesses();
  ASSERT_EQ(acc.size(), 4u);
  EXPECT_EQ(acc[1].addr, 0xc0002008u);
  EXPECT_TRUE(acc[3].write);
  EXPECT_EQ(acc[3].addr, 0xc0002004u);
  EXPECT_EQ(acc[3].value, 2u);
}

TEST_F(AsmTest, ReadCrossingFromRamIntoMmioSplits) {
  // 0x200000 starts a 2 MiB page beyond the 2 MiB of RAM: MMIO. Both pages
  // are cached before the crossing read.
  Regs r = RunToHalt(R"(
    mov dword [0x1ffffc], 0xaabbccdd
    mov rax, [0x1ff000]
    mov rax, [0x200000]
    mov rcx, [0x1ffffc]
    hlt)");
  EXPECT_EQ(r.rcx, 0x55667788aabbccddu);
  auto acc = m_->io().accesses();
  ASSERT_EQ(acc.size(), 2u);
  EXPECT_EQ(acc[1].addr, 0x200000u);
  EXPECT_EQ(acc[1].size, 4);
}

TEST_F(AsmTest, WriteCrossingIntoReadOnlyCachedPageFaults) {
  m_->SetPte(0x38000, 0x38000 | 5 | kPteA | kPteD);  // read-only
  Regs r = RunToHalt(R"(
    mov qword [0x37ff8], 0    ; first page cached for writes
    mov rax, [0x38000]        ; second cached for reads
    mov rax, -1
    mov [0x37ffc], rax
    hlt)");
  EXPECT_EQ(r.r14, 14u);
  EXPECT_EQ(m_->sregs().cr2, 0x38000u);
  EXPECT_EQ(m_->Read64(r.rsp), 3u);  // present | write
  EXPECT_EQ(m_->Read64(0x37ff8), 0u);
}

TEST_F(AsmTest, AccessesCrossingCachedPagesSplit) {
  Regs r = RunToHalt(R"(
    mov qword [0x37ff8], 0
    mov qword [0x38000], 0
    mov rax, 0x1122334455667788
    mov [0x37ffd], rax
    mov rbx, [0x37ff8]
    mov rcx, [0x38000]
    mov rdx, [0x37ffd]
    hlt)");
  EXPECT_EQ(r.rbx, 0x6677880000000000u);
  EXPECT_EQ(r.rcx, 0x1122334455u);
  EXPECT_EQ(r.rdx, 0x1122334455667788u);
}

// The hot handlers skip the canonical check on a TLB hit: an address that
// differs from a cached page only in bits 63:48 must still miss and fault.
TEST_F(AsmTest, NonCanonicalAliasOfACachedPageFaults) {
  Regs r = RunToHalt(R"(
    mov rax, [0x37000]        ; cached for reads
    mov rax, 0x0f00000000037000
    mov rbx, [rax]
    hlt)");
  EXPECT_EQ(r.r14, 13u);
  EXPECT_EQ(m_->Read64(r.rsp), 0u);
  r = RunToHalt(R"(
    mov qword [0x37000], 1    ; cached for writes
    mov rax, 0x8000000000037000
    add qword [rax], 1
    hlt)");
  EXPECT_EQ(r.r14, 13u);
  EXPECT_EQ(m_->Read64(0x37000), 1u);
  r = RunToHalt(R"(
    mov qword [0x37000], 1
    mov rax, 0xffff000000037000
    mov qword [rax], 2
    hlt)");
  EXPECT_EQ(r.r14, 13u);
  EXPECT_EQ(m_->Read64(0x37000), 1u);
}

}  // namespace
}  // namespace skiff::tcg::testing
