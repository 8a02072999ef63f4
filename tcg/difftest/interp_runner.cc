#include "tcg/difftest/interp_runner.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace skiff::tcg::difftest {
namespace {

using testing::FlatMachine;
using testing::kPtAddr;
using testing::kRsp0Top;
using testing::kStubAddr;

// A page table (guest-physical) for the 2 MiB region holding the data area
// and the code page; FlatMachine's RAM below 2 MiB has room after the IST1
// stack.
inline constexpr uint64_t kDiffPtAddr = 0xb0000;
inline constexpr uint64_t kPdAddr = 0x3000;
inline constexpr uint64_t kPdptAddr = 0x2000;
inline constexpr uint64_t kMemorySize = 16 << 20;
static_assert(kDataBase >> 21 == kCodeBase >> 21);
static_assert(kCodeBase + kCodePage <= kMemorySize);

// Vectors that push an error code (Intel SDM vol. 3, table 6-1).
bool HasErrorCode(int v) {
  return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
}

Segment UserSeg(uint16_t sel, bool code) {
  Segment s{};
  s.selector = sel;
  s.limit = 0xffffffff;
  s.type = code ? 0xb : 0x3;
  s.s = 1;
  s.dpl = 3;
  s.present = 1;
  s.l = code;
  s.db = !code;
  s.g = 1;
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<InterpRunner>> InterpRunner::Create() {
  auto r = std::unique_ptr<InterpRunner>(new InterpRunner());
  SKIFF_RETURN_IF_ERROR(r->Setup());
  return r;
}

absl::Status InterpRunner::Setup() {
  FlatMachine::Options o;
  o.memory_size = kMemorySize;
  SKIFF_ASSIGN_OR_RETURN(m_, FlatMachine::Create(o));
  // User mode sees only the data area and the code page, as natively:
  // FlatMachine maps everything user-accessible, so clear U everywhere
  // else (4 KiB PTEs below 2 MiB, the 2 MiB PDEs, the 1 GiB MMIO page).
  for (uint64_t i = 1; i < 512; ++i)
    m_->Write64(kPtAddr + i * 8, (i << 12) | 3);
  for (uint64_t i = 1; i < 512; ++i) {
    m_->Write64(kPdAddr + i * 8, (i << 21) | 0x83);
  }
  m_->Write64(kPdptAddr + 3 * 8, testing::kMmioBase | 0x83);
  m_->Write64(kPdAddr + (kDataBase >> 21) * 8, kDiffPtAddr | 7);
  const uint64_t region = kDataBase & ~((1ull << 21) - 1);
  for (uint64_t i = 0; i < 512; ++i) {
    const uint64_t lin = region + i * 4096;
    const bool user =
        (lin >= kDataBase && lin < kDataBase + kDataSize) || lin == kCodeBase;
    m_->Write64(kDiffPtAddr + i * 8, user ? (lin | 7) : 0);
  }
  // Exception stubs: push imm8 vector; hlt.
  for (int v = 0; v < 256; ++v) {
    const uint8_t stub[3] = {0x6a, static_cast<uint8_t>(v), 0xf4};
    SKIFF_RETURN_IF_ERROR(m_->memory().Write(
        GuestAddr(kStubAddr + static_cast<uint64_t>(v) * 16), stub));
  }
  sregs_ = testing::FlatLongModeSregs();
  sregs_.cs = UserSeg(testing::kUserCs, true);
  sregs_.ss = sregs_.ds = sregs_.es = sregs_.fs = sregs_.gs =
      UserSeg(testing::kUserDs, false);
  return absl::OkStatus();
}

Outcome InterpRunner::Run(const Snippet& s) {
  Outcome out;
  GuestMemory& mem = m_->memory();
  TcgVcpu& vcpu = m_->vcpu();
  std::vector<uint8_t> code(
      s.code.begin(), s.code.begin() + static_cast<std::ptrdiff_t>(std::min(
                                           s.code.size(), kMaxCodeSize)));
  const uint64_t end = kCodeBase + code.size();
  code.push_back(0xf4);  // HLT: #GP(0) at CPL 3
  std::vector<uint8_t> data(kDataSize);
  FillData(s.data_seed, data.data());
  if (!mem.Write(GuestAddr(kCodeBase), code).ok() ||
      !mem.Write(GuestAddr(kDataBase), data).ok() ||
      !vcpu.SetSregs(sregs_).ok()) {
    out.kind = Outcome::Kind::kCrashed;
    out.detail = "interpreter setup failed";
    return out;
  }
  Regs regs{};
  uint64_t* r = &regs.rax;  // rax rbx rcx rdx rsi rdi rsp rbp r8..r15
  static constexpr int kOrder[16] = {kRax, kRbx, kRcx, kRdx, kRsi, kRdi,
                                     kRsp, kRbp, 8,    9,    10,   11,
                                     12,   13,   14,   15};
  for (int k = 0; k < 16; ++k) r[k] = s.gpr[kOrder[k]];
  regs.rip = kCodeBase;
  regs.rflags = (s.rflags & kComparedFlags) | 0x202;
  (void)vcpu.SetRegs(regs);
  vcpu.set_instruction_limit(insn_limit_);
  const uint64_t retired0 = vcpu.instructions_retired();
  auto exit = m_->Run();
  out.retired = vcpu.instructions_retired() - retired0;
  if (!exit.ok()) {
    out.kind = Outcome::Kind::kCrashed;
    out.detail = exit.status().ToString();
    return out;
  }
  if (exit->kind == VcpuExit::Kind::kInterrupted) {
    out.kind = Outcome::Kind::kTimeout;
    return out;
  }
  if (exit->kind != VcpuExit::Kind::kHalt) {
    out.kind = Outcome::Kind::kCrashed;
    out.detail = DescribeVcpuExit(*exit);
    return out;
  }
  // Not the snippet's: the faulting instruction (or the final HLT), the
  // stub's PUSH and HLT.
  out.retired = out.retired >= 3 ? out.retired - 3 : 0;
  Regs after{};
  (void)vcpu.GetRegs(after);
  const int vector = static_cast<int>(m_->Read64(after.rsp) & 0xff);
  const uint64_t frame = kRsp0Top - 40;  // RIP CS RFLAGS RSP SS
  const uint64_t expect_rsp = frame - (HasErrorCode(vector) ? 8 : 0) - 8;
  if (after.rsp != expect_rsp ||
      after.rip != kStubAddr + static_cast<uint64_t>(vector) * 16 + 3) {
    out.kind = Outcome::Kind::kCrashed;
    out.detail = absl::StrCat("halted outside the exception stubs: rip=0x",
                              absl::Hex(after.rip));
    return out;
  }
  r = &after.rax;
  for (int k = 0; k < 16; ++k) out.gpr[kOrder[k]] = r[k];
  out.rip = m_->Read64(frame);
  out.rflags = m_->Read64(frame + 16);
  out.gpr[kRsp] = m_->Read64(frame + 24);
  if (vector == 13 && out.rip == end) {
    out.kind = Outcome::Kind::kCompleted;
  } else {
    out.kind = Outcome::Kind::kException;
    out.vector = vector;
    if (HasErrorCode(vector)) out.error_code = m_->Read64(frame - 8);
    if (vector == 14) out.fault_addr = m_->sregs().cr2;
  }
  out.data = std::move(data);
  (void)mem.Read(GuestAddr(kDataBase), absl::MakeSpan(out.data));
  return out;
}

}  // namespace skiff::tcg::difftest
