#include "tcg/jit.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "tcg/flags.h"
#include "tcg/ops_fast.h"

namespace skiff::tcg {
namespace {

enum Reg : int {
  kAx = 0,
  kCx = 1,
  kDx = 2,
  kBx = 3,
  kSp = 4,
  kSi = 6,
  kDi = 7,
  kR12 = 12,
  kR13 = 13,
  kR14 = 14,
  kR15 = 15,
};

// A memory operand: base + (index << scale) + disp (base -1: none, then
// a 32-bit displacement; index -1: none).
struct Mem {
  int base;
  int index;
  int32_t disp;
  int scale = 0;
};

// Just the x86-64 encodings the translator uses.
class Asm {
 public:
  Asm(uint8_t* buf, size_t cap) : buf_(buf), cap_(cap) {}
  // Whether everything emitted fitted.
  bool fits() const { return n_ <= cap_; }
  size_t pos() const { return n_; }
  void Byte(uint8_t b) {
    if (n_ < cap_) buf_[n_] = b;
    ++n_;
  }
  void U16(uint16_t v) {
    Byte(static_cast<uint8_t>(v));
    Byte(static_cast<uint8_t>(v >> 8));
  }
  void U32(uint32_t v) {
    for (int k = 0; k < 4; ++k) Byte(static_cast<uint8_t>(v >> (8 * k)));
  }
  void U64(uint64_t v) {
    for (int k = 0; k < 8; ++k) Byte(static_cast<uint8_t>(v >> (8 * k)));
  }
  void Patch32(size_t at, uint32_t v) {
    if (at + 4 <= cap_) std::memcpy(buf_ + at, &v, 4);
  }

  // opcode (1 or 2 bytes) with a ModRM register `reg` and memory `m`.
  void OpM(bool w, uint32_t opcode, int reg, Mem m) {
    uint8_t rex = 0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0) |
                  (m.index >= 0 && (m.index & 8) ? 2 : 0) |
                  (m.base >= 0 && (m.base & 8) ? 1 : 0);
    if (rex != 0x40) Byte(rex);
    Opcode(opcode);
    if (m.base < 0) {  // SIB without a base: [index << scale + disp32]
      Byte(static_cast<uint8_t>((reg & 7) << 3 | 4));
      Byte(static_cast<uint8_t>(m.scale << 6 | (m.index & 7) << 3 | 5));
      U32(static_cast<uint32_t>(m.disp));
      return;
    }
    const bool sib = m.index >= 0 || (m.base & 7) == kSp;
    int mod;
    if (m.disp == 0 && (m.base & 7) != 5) {
      mod = 0;
    } else if (m.disp >= -128 && m.disp <= 127) {
      mod = 1;
    } else {
      mod = 2;
    }
    Byte(static_cast<uint8_t>(mod << 6 | (reg & 7) << 3 |
                              (sib ? 4 : m.base & 7)));
    if (sib) {
      Byte(static_cast<uint8_t>(m.scale << 6 |
                                (m.index >= 0 ? (m.index & 7) : 4) << 3 |
                                (m.base & 7)));
    }
    if (mod == 1) Byte(static_cast<uint8_t>(m.disp));
    if (mod == 2) U32(static_cast<uint32_t>(m.disp));
  }
  // opcode with ModRM register `reg` and register operand `rm`.
  void OpR(bool w, uint32_t opcode, int reg, int rm) {
    uint8_t rex = 0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((rm & 8) ? 1 : 0);
    if (rex != 0x40) Byte(rex);
    Opcode(opcode);
    Byte(static_cast<uint8_t>(0xc0 | (reg & 7) << 3 | (rm & 7)));
  }
  void Opcode(uint32_t opcode) {
    if (opcode > 0xff) Byte(static_cast<uint8_t>(opcode >> 8));
    Byte(static_cast<uint8_t>(opcode));
  }

  void Load(bool w, int r, Mem m) { OpM(w, 0x8b, r, m); }
  void Store(bool w, Mem m, int r) { OpM(w, 0x89, r, m); }
  void Lea(bool w, int r, Mem m) { OpM(w, 0x8d, r, m); }
  // mov r, imm: the shortest encoding with the same 64-bit result.
  void MovImm(int r, uint64_t v) {
    if (v <= 0xffffffffull) {
      if (r & 8) Byte(0x41);
      Byte(static_cast<uint8_t>(0xb8 + (r & 7)));
      U32(static_cast<uint32_t>(v));
    } else if (static_cast<int64_t>(v) == static_cast<int32_t>(v)) {
      OpR(true, 0xc7, 0, r);
      U32(static_cast<uint32_t>(v));
    } else {
      Byte(0x48 | ((r & 8) ? 1 : 0));
      Byte(static_cast<uint8_t>(0xb8 + (r & 7)));
      U64(v);
    }
  }
  // mov qword [m], simm32
  void StoreImm64(Mem m, int32_t v) {
    OpM(true, 0xc7, 0, m);
    U32(static_cast<uint32_t>(v));
  }
  void StoreImm16(Mem m, uint16_t v) {
    Byte(0x66);
    OpM(false, 0xc7, 0, m);
    U16(v);
  }
  // ALU (ModRM.reg encoding `op`) r, r/m register.
  void AluRR(bool w, int op, int dst, int src) {
    OpR(w, static_cast<uint32_t>(op << 3 | 3), dst, src);
  }
  void AluRM(bool w, int op, int dst, Mem m) {
    OpM(w, static_cast<uint32_t>(op << 3 | 3), dst, m);
  }
  void AluRImm(bool w, int op, int r, int32_t v) {
    if (v >= -128 && v <= 127) {
      OpR(w, 0x83, op, r);
      Byte(static_cast<uint8_t>(v));
    } else {
      OpR(w, 0x81, op, r);
      U32(static_cast<uint32_t>(v));
    }
  }
  void AluMImm(bool w, int op, Mem m, int32_t v) {
    if (v >= -128 && v <= 127) {
      OpM(w, 0x83, op, m);
      Byte(static_cast<uint8_t>(v));
    } else {
      OpM(w, 0x81, op, m);
      U32(static_cast<uint32_t>(v));
    }
  }
  void ShrImm(bool w, int r, uint8_t n) {
    OpR(w, 0xc1, 5, r);
    Byte(n);
  }
  void Push(int r) {
    if (r & 8) Byte(0x41);
    Byte(static_cast<uint8_t>(0x50 + (r & 7)));
  }
  void Pop(int r) {
    if (r & 8) Byte(0x41);
    Byte(static_cast<uint8_t>(0x58 + (r & 7)));
  }
  // jcc rel32 / jmp rel32 to be patched: returns the displacement's offset.
  size_t Jcc(uint8_t cc) {
    Byte(0x0f);
    Byte(static_cast<uint8_t>(0x80 | cc));
    U32(0);
    return pos() - 4;
  }
  size_t Jmp() {
    Byte(0xe9);
    U32(0);
    return pos() - 4;
  }
  // cmp byte [m], imm8
  void CmpByte(Mem m, uint8_t v) {
    OpM(false, 0x80, 7, m);
    Byte(v);
  }
  // lea r, [rip + disp32] to be bound: returns the displacement's offset.
  size_t LeaRip(int r) {
    Byte(static_cast<uint8_t>(0x48 | ((r & 8) ? 4 : 0)));
    Byte(0x8d);
    Byte(static_cast<uint8_t>((r & 7) << 3 | 5));
    U32(0);
    return pos() - 4;
  }
  // mov dword [m], imm32: returns the immediate's offset.
  size_t StoreImm32(Mem m, uint32_t v) {
    OpM(false, 0xc7, 0, m);
    U32(v);
    return pos() - 4;
  }
  void Bind(size_t disp_at, size_t target) {
    Patch32(disp_at, static_cast<uint32_t>(static_cast<int64_t>(target) -
                                           static_cast<int64_t>(disp_at + 4)));
  }

 private:
  uint8_t* const buf_;
  const size_t cap_;
  size_t n_ = 0;
};

constexpr uint8_t kCcB = 2, kCcE = 4, kCcNe = 5;

// A list of at most N elements without allocation.
template <typename T, size_t N>
class FixedList {
 public:
  void push_back(const T& v) { v_[n_++] = v; }
  T& back() { return v_[n_ - 1]; }
  T& operator[](size_t k) { return v_[k]; }
  size_t size() const { return n_; }
  const T* begin() const { return v_; }
  const T* end() const { return v_ + n_; }

 private:
  T v_[N];
  size_t n_ = 0;
};

// Offsets from the pinned register (rbx = the Cpu + kBias), so that the
// guest registers and the lazy-flag record take 8-bit displacements.
constexpr int32_t kBias = 128;

struct Layout {
  int32_t gpr, next_rip, block_end, lazy_res, lazy_a, lazy_b, lazy_aux, lazy_op,
      tlb, seg_base, rflags, chain_gen, chain_gen_global, chain_exit,
      chain_epoch, chain_left, chain_block, chain_rip, write_epoch_word,
      irq_flag, kick, jump_cache, cpl, shadow_next, code_bits;
  explicit Layout(const Cpu& c) {
    const auto* base = reinterpret_cast<const char*>(&c) + kBias;
    auto off = [&](const void* p) {
      return static_cast<int32_t>(reinterpret_cast<const char*>(p) - base);
    };
    gpr = off(&c.s.gpr[0]);
    next_rip = off(&c.next_rip);
    block_end = off(&c.block_end);
    lazy_res = off(&c.s.lazy.res);
    lazy_a = off(&c.s.lazy.a);
    lazy_b = off(&c.s.lazy.b);
    lazy_aux = off(&c.s.lazy.aux);
    lazy_op = off(&c.s.lazy.op);
    tlb = off(c.tlb_entries());
    seg_base = off(&c.s.seg[0].base);
    rflags = off(&c.s.rflags);
    chain_gen = off(&c.chain_gen);
    chain_gen_global = off(&c.chain_gen_global);
    chain_exit = off(&c.chain_exit);
    chain_epoch = off(&c.chain_epoch);
    chain_left = off(&c.chain_left);
    chain_block = off(&c.chain_block);
    chain_rip = off(&c.chain_rip);
    write_epoch_word = off(&c.write_epoch_word);
    irq_flag = off(&c.irq_flag);
    kick = off(&c.kick);
    jump_cache = off(&c.jump_cache[0]);
    cpl = off(&c.s.cpl);
    shadow_next = off(&c.shadow_next);
    code_bits = off(&c.s.code_bits);
  }
  Mem Gpr(int r) const { return {kBx, -1, gpr + 8 * r}; }
  // A register operand of `size` bytes: byte registers 4..7 are AH..BH
  // without REX.
  Mem Reg(int r, int size, bool rex) const {
    if (size == 1 && !rex && r >= 4 && r < 8)
      return {kBx, -1, gpr + 8 * (r - 4) + 1};
    return Gpr(r);
  }
  Mem SegBase(int seg) const {
    return {kBx, -1, seg_base + seg * static_cast<int32_t>(sizeof(Segment))};
  }
  Mem At(int32_t o) const { return {kBx, -1, o}; }
};
static_assert(offsetof(LazyFlags, size) == offsetof(LazyFlags, op) + 1);

// Forms that neither read nor write the flags and cannot leave the block.
bool Transparent(FastForm::Kind k) {
  using K = FastForm::Kind;
  return k == K::kMovRmR || k == K::kMovRRm || k == K::kMovRegImm ||
         k == K::kMovRmImm || k == K::kLea;
}
// Forms that replace the whole lazy-flag record and cannot leave first.
bool SetsAllFlags(FastForm::Kind k) {
  using K = FastForm::Kind;
  return k == K::kAluRmR || k == K::kAluRRm || k == K::kAluRmImm ||
         k == K::kAluAccImm || k == K::kTestRR || k == K::kTestImm ||
         k == K::kShiftImm;
}

// Whether the next form after k that is not Transparent is a Jcc.
bool JccNext(const FastForm* form, int k, int n) {
  for (int j = k + 1; j < n; ++j) {
    if (!Transparent(form[j].kind)) return form[j].kind == FastForm::kJcc;
  }
  return false;
}

CcOp CcOf(int op) {
  switch (op) {
    case 0:
      return kCcAdd;
    case 5:
    case 7:
      return kCcSub;
    default:
      return kCcLogic;
  }
}

}  // namespace

bool BlockJit::Map() {
  if (rx_ != nullptr) return true;
  const int fd = memfd_create("skiff-tcg-code", MFD_CLOEXEC);
  if (fd < 0) return false;
  if (ftruncate(fd, kCodeBytes) != 0) {
    close(fd);
    return false;
  }
  // Executable near the handlers, so that calls take a rel32.
  const auto text = reinterpret_cast<uintptr_t>(&FactsOf);
  void* hint = reinterpret_cast<void*>((text & ~0xfffffull) - (256ull << 20));
  void* rx = mmap(hint, kCodeBytes, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
  void* rw =
      mmap(nullptr, kCodeBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (rx == MAP_FAILED || rw == MAP_FAILED) {
    if (rx != MAP_FAILED) munmap(rx, kCodeBytes);
    if (rw != MAP_FAILED) munmap(rw, kCodeBytes);
    return false;
  }
  rx_ = static_cast<uint8_t*>(rx);
  rw_ = static_cast<uint8_t*>(rw);
  used_ = released_ = kSharedBytes;
  shared_used_ = 0;
  thunks_.clear();
  branch_thunks_.clear();
  return true;
}

void BlockJit::Unmap() {
  if (rx_ == nullptr) return;
  munmap(rx_, kCodeBytes);
  munmap(rw_, kCodeBytes);
  rx_ = rw_ = nullptr;
  shared_used_ = 0;
  thunks_.clear();
  branch_thunks_.clear();
}

// Jumps and calls between the shared code and blocks, by code-space offset.
namespace {
// The rel32 from code `a` writes at code-space offset `base` to `target`.
void RelTo(Asm& a, size_t base, size_t target) {
  a.U32(static_cast<uint32_t>(static_cast<int64_t>(target) -
                              static_cast<int64_t>(base + a.pos() + 4)));
}
void JumpTo(Asm& a, size_t base, size_t target) {
  a.Byte(0xe9);
  RelTo(a, base, target);
}
void CallTo(Asm& a, size_t base, size_t target) {
  a.Byte(0xe8);
  RelTo(a, base, target);
}
void JccTo(Asm& a, size_t base, uint8_t cc, size_t target) {
  a.Byte(0x0f);
  a.Byte(static_cast<uint8_t>(0x80 | cc));
  RelTo(a, base, target);
}

// Fields of Cpu::JumpCacheEntry as displacements.
constexpr int32_t kJumpRip = offsetof(Cpu::JumpCacheEntry, rip);
constexpr int32_t kJumpGen = offsetof(Cpu::JumpCacheEntry, gen);
constexpr int32_t kJumpCpl = offsetof(Cpu::JumpCacheEntry, cpl);
constexpr int32_t kJumpCode = offsetof(Cpu::JumpCacheEntry, code);

// Into the block of the jump cache entry at rdx that a check accepted: its
// RIP in r12, then its code.
void EnterJumpEntry(Asm& a) {
  a.Load(true, kR12, {kDx, -1, kJumpRip});
  a.OpM(false, 0xff, 4, {kDx, -1, kJumpCode});  // jmp [rdx + code]
}

}  // namespace

void BlockJit::MakeShared(const Cpu& c) {
  const Layout L(c);
  Asm a(rw_, kSharedBytes);
  // The epilogue: every block returns through it, with rax its result.
  epilogue_ = static_cast<uint32_t>(a.pos());
  a.Store(true, L.At(L.chain_rip), kR12);
  a.Pop(kR15);
  a.Pop(kR14);
  a.Pop(kR13);
  a.Pop(kR12);
  a.Pop(kBx);
  a.Byte(0xc3);
  // From a thunk (its return address on the stack, rsi = the Insn, al =
  // its handler's status): the block returns status | count << 8, count
  // being the instruction's index + 1.
  auto count_from_insn = [&] {
    a.AluRR(true, 5, kSi, kR14);  // sub rsi, r14
    a.ShrImm(true, kSi, 5);       // / sizeof(Insn)
    a.AluRImm(true, 0, kSi, 1);   // + 1
    a.OpR(true, 0xc1, 4, kSi);    // shl rsi, 8
    a.Byte(8);
  };
  static_assert(sizeof(Insn) == 32);
  leave_status_ = static_cast<uint32_t>(a.pos());
  a.AluRImm(true, 0, kSp, 8);      // add rsp, 8
  a.OpR(false, 0x0fb6, kAx, kAx);  // movzx eax, al
  count_from_insn();
  a.AluRR(true, 1, kAx, kSi);  // or rax, rsi
  JumpTo(a, 0, epilogue_);
  leave_after_ = static_cast<uint32_t>(a.pos());
  a.AluRImm(true, 0, kSp, 8);  // add rsp, 8
  count_from_insn();
  a.OpR(true, 0x8b, kAx, kSi);  // mov rax, rsi
  JumpTo(a, 0, epilogue_);
  // The chained jump's checks (Cpu::chain_gen), called with rdx = the
  // exit's ChainRecord and ecx = the instructions run: ZF set when the jump
  // may be taken, and then chain_left, chain_block and r14 are the next
  // block's.
  chain_check_ = static_cast<uint32_t>(a.pos());
  FixedList<size_t, 6> no;
  a.Load(false, kAx, {kDx, -1, offsetof(ChainRecord, gen)});
  a.AluRM(false, 7, kAx, L.At(L.chain_gen));  // cmp eax, [chain_gen]
  const size_t current = a.Jcc(kCcE);
  a.AluRM(false, 7, kAx, L.At(L.chain_gen_global));
  no.push_back(a.Jcc(kCcNe));
  a.Bind(current, a.pos());
  a.Load(true, kAx, {kDx, -1, offsetof(ChainRecord, rip)});
  a.AluRR(true, 7, kAx, kR12);  // cmp rax, r12
  no.push_back(a.Jcc(kCcNe));
  const size_t common = a.pos();
  a.Load(true, kAx, L.At(L.write_epoch_word));
  a.Load(true, kAx, {kAx, -1, 0});
  a.AluRM(true, 7, kAx, L.At(L.chain_epoch));
  no.push_back(a.Jcc(kCcNe));
  a.OpM(false, 0xf6, 0, L.At(L.rflags + 1));  // test byte [rflags+1], IF
  a.Byte(static_cast<uint8_t>(kRflagsIf >> 8));
  const size_t masked = a.Jcc(kCcE);
  a.Load(true, kAx, L.At(L.irq_flag));
  a.CmpByte({kAx, -1, 0}, 0);
  no.push_back(a.Jcc(kCcNe));
  a.Bind(masked, a.pos());
  a.Load(true, kAx, L.At(L.kick));
  a.CmpByte({kAx, -1, 0}, 0);
  no.push_back(a.Jcc(kCcNe));
  a.Load(true, kAx, L.At(L.chain_left));
  a.AluRR(true, 5, kAx, kCx);  // sub rax, rcx
  a.Load(false, kCx, {kDx, -1, offsetof(ChainRecord, ninsn)});
  a.AluRR(true, 7, kAx, kCx);  // cmp rax, rcx
  no.push_back(a.Jcc(kCcB));
  a.Store(true, L.At(L.chain_left), kAx);
  a.Load(true, kAx, {kDx, -1, offsetof(ChainRecord, block)});
  a.Store(true, L.At(L.chain_block), kAx);
  a.Load(true, kR14, {kDx, -1, offsetof(ChainRecord, insns)});
  a.AluRR(false, 6, kAx, kAx);  // xor eax, eax: ZF set
  a.Byte(0xc3);
  const size_t fail = a.pos();
  for (size_t j : no) a.Bind(j, fail);
  a.AluRImm(false, 1, kAx, 1);  // or eax, 1: ZF clear
  a.Byte(0xc3);
  // The way on after a handler, called with ecx = the instructions run: as
  // jump_check_ below, unless the handler left an interrupt shadow or
  // another code size.
  handler_jump_check_ = static_cast<uint32_t>(a.pos());
  static_assert(sizeof(c.shadow_next) == 1 && sizeof(c.s.code_bits) == 1);
  a.CmpByte(L.At(L.shadow_next), 0);
  a.Bind(a.Jcc(kCcNe), fail);
  a.CmpByte(L.At(L.code_bits), 64);
  a.Bind(a.Jcc(kCcNe), fail);
  // A RET's way on (Cpu::jump_cache) to c.next_rip, called with ecx = the
  // instructions run: as chain_check_, with rdx = the cache entry whose
  // target is taken.
  jump_check_ = static_cast<uint32_t>(a.pos());
  a.Load(true, kAx, L.At(L.next_rip));
  static_assert((Cpu::kJumpCacheSlots & (Cpu::kJumpCacheSlots - 1)) == 0);
  static_assert(
      offsetof(Cpu::JumpCacheEntry, gen) == offsetof(ChainRecord, gen) &&
      offsetof(Cpu::JumpCacheEntry, ninsn) == offsetof(ChainRecord, ninsn) &&
      offsetof(Cpu::JumpCacheEntry, block) == offsetof(ChainRecord, block) &&
      offsetof(Cpu::JumpCacheEntry, insns) == offsetof(ChainRecord, insns));
  static_assert(sizeof(Cpu::JumpCacheEntry) == 48);
  a.OpR(false, 0x8b, kDx, kAx);                        // mov edx, eax
  a.ShrImm(false, kDx, 9);                             // shr edx, 9
  a.AluRR(false, 6, kDx, kAx);                         // xor edx, eax
  a.AluRImm(false, 4, kDx, Cpu::kJumpCacheSlots - 1);  // and edx, mask
  a.Lea(false, kDx, {kDx, kDx, 0, 1});  // lea edx, [rdx + rdx * 2]
  a.OpR(false, 0xc1, 4, kDx);           // shl edx, 4
  a.Byte(4);
  a.Lea(true, kDx, {kBx, kDx, L.jump_cache});
  a.AluRM(true, 7, kAx, {kDx, -1, kJumpRip});
  a.Bind(a.Jcc(kCcNe), fail);
  a.Load(false, kAx, {kDx, -1, kJumpGen});
  a.AluRM(false, 7, kAx, L.At(L.chain_gen));
  const size_t entry_current = a.Jcc(kCcE);
  a.AluRM(false, 7, kAx, L.At(L.chain_gen_global));
  a.Bind(a.Jcc(kCcNe), fail);
  a.Bind(entry_current, a.pos());
  a.Load(false, kAx, {kDx, -1, kJumpCpl});
  a.OpM(false, 0x3a, kAx, L.At(L.cpl));  // cmp al, [cpl]
  a.Bind(a.Jcc(kCcNe), fail);
  a.Bind(a.Jmp(), common);
  // From a branch's thunk after its handler jumped (ExitBlock; the return
  // address on the stack, rsi = the Insn): on through the jump cache, with
  // block_end set again for the blocks that follow, or out as leave_after_.
  leave_jump_ = static_cast<uint32_t>(a.pos());
  a.AluRImm(true, 0, kSp, 8);   // add rsp, 8
  a.OpR(true, 0x8b, kCx, kSi);  // mov rcx, rsi
  a.AluRR(true, 5, kCx, kR14);  // sub rcx, r14
  a.ShrImm(true, kCx, 5);       // / sizeof(Insn)
  a.AluRImm(true, 0, kCx, 1);   // + 1
  CallTo(a, 0, handler_jump_check_);
  const size_t out = a.Jcc(kCcNe);
  a.StoreImm64(L.At(L.block_end), 1);
  EnterJumpEntry(a);
  a.Bind(out, a.pos());
  count_from_insn();
  a.OpR(true, 0x8b, kAx, kSi);  // mov rax, rsi
  JumpTo(a, 0, epilogue_);
  shared_used_ = a.pos();
}

uint32_t BlockJit::Thunk(const Cpu& c, Handler h, bool branch) {
  auto& thunks = branch ? branch_thunks_ : thunks_;
  if (auto it = thunks.find(h); it != thunks.end()) return it->second;
  // rsi = the Insn, eax = its end as an offset from the block's RIP.
  const Layout L(c);
  Asm a(rw_ + shared_used_, kSharedBytes - shared_used_);
  a.Push(kSi);
  a.AluRR(true, 0, kAx, kR12);  // add rax, r12
  a.Store(true, L.At(L.next_rip), kAx);
  a.OpR(true, 0x8b, kDi, kR13);  // mov rdi, r13
  const int64_t rel = static_cast<int64_t>(reinterpret_cast<uintptr_t>(h)) -
                      static_cast<int64_t>(reinterpret_cast<uintptr_t>(
                          rx_ + shared_used_ + a.pos() + 5));
  if (rel != static_cast<int32_t>(rel)) return 0;
  a.Byte(0xe8);
  a.U32(static_cast<uint32_t>(rel));
  a.Pop(kSi);
  a.Byte(0x84);
  a.Byte(0xc0);  // test al, al
  JccTo(a, shared_used_, kCcNe, leave_status_);
  a.AluMImm(true, 7, L.At(L.block_end), 0);  // cmp qword [block_end], 0
  JccTo(a, shared_used_, kCcE, branch ? leave_jump_ : leave_after_);
  a.Byte(0xc3);
  if (!a.fits()) return 0;
  const auto at = static_cast<uint32_t>(shared_used_);
  shared_used_ += (a.pos() + 15) & ~size_t{15};
  thunks[h] = at;
  return at;
}

BlockJit::Fn BlockJit::Compile(const Cpu& c, const Block& b, int cpl) {
  if (rx_ == nullptr) return nullptr;
  if (shared_used_ == 0) MakeShared(c);
  const Layout L(c);
  const int user = cpl == 3 ? 3 : 0;
  const Insn* insns = b.insns();
  const int n = b.ninsn;
  FastForm form[Block::kMaxInsns];
  Handler alone[Block::kMaxInsns];
  for (int k = 0; k < n; ++k) {
    const HandlerFacts f = FactsOf(insns[k].fn);
    form[k] = f.form;
    alone[k] = f.alone;
  }
  // flags_dead[k]: instruction k's lazy record is replaced before it could
  // be read or observed.
  bool flags_dead[Block::kMaxInsns] = {};
  for (int k = 0; k < n; ++k) {
    for (int j = k + 1; j < n; ++j) {
      if (SetsAllFlags(form[j].kind)) {
        flags_dead[k] = true;
        break;
      }
      if (!Transparent(form[j].kind)) break;
    }
  }

  Asm a(rw_ + used_, kCodeBytes - used_);
  const uint8_t* const rx_at = rx_ + used_;
  // Prologue: rbx = Cpu + kBias, r12 = the block's RIP, r13 = Cpu, r14 =
  // its instructions (five pushes keep calls 16-byte aligned).
  a.Push(kBx);
  a.Push(kR12);
  a.Push(kR13);
  a.Push(kR14);
  a.Push(kR15);
  a.OpR(true, 0x8b, kR13, kDi);        // mov r13, rdi
  a.Lea(true, kBx, {kDi, -1, kBias});  // lea rbx, [rdi + bias]
  a.OpR(true, 0x8b, kR12, kSi);        // mov r12, rsi
  a.OpR(true, 0x8b, kR14, kDx);        // mov r14, rdx
  prologue_ = a.pos();

  // Jumps to out-of-line code, bound after the block's main path.
  struct Exit {
    int k;          // instruction
    size_t from;    // displacement of the jump to it
    size_t resume;  // stubs: where the inline path goes on
  };
  // A slow-path stub per memory form, and two exits per handler call.
  FixedList<Exit, 2 * Block::kMaxInsns> stubs;
  FixedList<Exit, Block::kMaxInsns> taken;  // resume: the target's offset
  FixedList<Exit, 2 * Block::kMaxInsns> exit_status;  // non-kNext status
  FixedList<Exit, 2 * Block::kMaxInsns> exit_after;   // ExitBlock called

  // Each instruction's end as an offset from the block's start.
  uint32_t ends[Block::kMaxInsns];
  for (uint32_t off = 0, k = 0; k < static_cast<uint32_t>(n); ++k) {
    off += insns[k].len;
    ends[k] = off;
  }
  auto call_handler = [&](int k, uint32_t end) {
    // Through the handler's thunk, which leaves the block itself after a
    // status other than kNext or an ExitBlock.
    if (const uint32_t t = Thunk(c, alone[k], form[k].kind == FastForm::kJcc);
        t != 0) {
      a.Lea(true, kSi, {kR14, -1, static_cast<int32_t>(sizeof(Insn)) * k});
      a.MovImm(kAx, end);
      CallTo(a, used_, t);
      return;
    }
    const Insn& i = insns[k];
    a.Lea(true, kAx, {kR12, -1, static_cast<int32_t>(end)});
    a.Store(true, L.At(L.next_rip), kAx);
    a.OpR(true, 0x8b, kDi, kR13);  // mov rdi, r13
    a.MovImm(kSi, reinterpret_cast<uint64_t>(&i));
    const auto fn = reinterpret_cast<uintptr_t>(alone[k]);
    const int64_t rel =
        static_cast<int64_t>(fn) -
        static_cast<int64_t>(reinterpret_cast<uintptr_t>(rx_at + a.pos() + 5));
    if (rel == static_cast<int32_t>(rel)) {
      a.Byte(0xe8);
      a.U32(static_cast<uint32_t>(rel));
    } else {
      a.MovImm(kAx, fn);
      a.Byte(0xff);
      a.Byte(0xd0);  // call rax
    }
    a.Byte(0x84);
    a.Byte(0xc0);  // test al, al
    exit_status.push_back({k, a.Jcc(kCcNe), 0});
    a.AluMImm(true, 7, L.At(L.block_end), 0);  // cmp qword [block_end], 0
    exit_after.push_back({k, a.Jcc(kCcE), 0});
  };
  // rax = linear address; jumps to a stub (insn k's handler) unless the TLB
  // maps `size` bytes there for access `kind`; then rdx = host address.
  auto tlb = [&](int k, int size, AccessKind kind) {
    a.OpR(false, 0x8b, kCx, kAx);           // mov ecx, eax
    a.ShrImm(false, kCx, 6);                // slot * 64 in bits 6..15
    a.AluRImm(false, 4, kCx, 0xffc0);       // and ecx, 0xffc0
    a.Lea(true, kDx, {kAx, -1, size - 1});  // last byte
    a.AluRImm(true, 4, kDx, -4096);         // its page
    a.AluRM(true, 7, kDx,
            {kBx, kCx, L.tlb + 8 * (kind + user)});  // cmp rdx, tag
    stubs.push_back({k, a.Jcc(kCcNe), 0});
    a.Load(
        true, kDx,
        {kBx, kCx, L.tlb + static_cast<int32_t>(offsetof(TlbEntry, addend))});
    a.AluRR(true, 0, kDx, kAx);  // add rdx, rax
  };
  // rax = the linear address of insn k's memory operand as Ea64 of its
  // form computes it (for kEaSeg: the segment base plus Cpu::EffAddr with
  // 64-bit addressing). Changes no flags, so that LEA keeps the host's.
  auto address = [&](int k) {
    const Insn& i = insns[k];
    if (i.rip_rel) {  // the decoder leaves no base or index with it
      const int64_t d = static_cast<int64_t>(ends[k]) + i.disp;
      if (d == static_cast<int32_t>(d)) {
        a.Lea(true, kAx, {kR12, -1, static_cast<int32_t>(d)});
      } else {
        a.Lea(true, kAx, {kR12, -1, static_cast<int32_t>(ends[k])});
        a.Lea(true, kAx, {kAx, -1, i.disp});
      }
    } else {
      const int base = i.base != 0xff ? i.base : -1;
      const int index = i.index != 0xff ? i.index : -1;
      if (index >= 0) a.Load(true, kCx, L.Gpr(index));
      if (base >= 0) a.Load(true, kAx, L.Gpr(base));
      if (index >= 0) {
        a.Lea(true, kAx, {base >= 0 ? kAx : -1, kCx, i.disp, i.scale});
      } else if (base < 0) {
        a.MovImm(kAx, static_cast<uint64_t>(static_cast<int64_t>(i.disp)));
      } else if (i.disp != 0) {
        a.Lea(true, kAx, {kAx, -1, i.disp});
      }
    }
    if (form[k].ea == kEaSeg) {
      a.Load(true, kCx, L.SegBase(i.seg));
      a.Lea(true, kAx, {kAx, kCx, 0});
    }
  };
  // rdx = the host address of `size` bytes of insn k's memory operand.
  auto mem = [&](int k, int size, AccessKind kind) {
    address(k);
    tlb(k, size, kind);
  };
  // host = `size` bytes at `m`, zero-extended.
  auto load_zx = [&](int host, int size, Mem m) {
    if (size == 1) {
      a.OpM(false, 0x0fb6, host, m);
    } else if (size == 2) {
      a.OpM(false, 0x0fb7, host, m);
    } else {
      a.Load(size == 8, host, m);
    }
  };
  // `size` bytes at `m` = the low bytes of host (rax, rcx or rdx).
  auto store_sized = [&](Mem m, int size, int host) {
    if (size == 1) {
      a.OpM(false, 0x88, host, m);
    } else {
      if (size == 2) a.Byte(0x66);
      a.Store(size == 8, m, host);
    }
  };
  // Guest register r of `size` bytes as x86 reads and writes it: a 32-bit
  // write zero-extends (host holds the zero-extended value), 8- and 16-bit
  // writes keep the other bits.
  auto get = [&](int host, int r, int size, bool rex) {
    load_zx(host, size, L.Reg(r, size, rex));
  };
  auto put = [&](int r, int size, bool rex, int host) {
    store_sized(L.Reg(r, size, rex), size >= 4 ? 8 : size, host);
  };
  // The host ALU op (ModRM.reg encoding) on the low `size` bytes; a 32-bit
  // op zero-extends dst, an 8-bit one keeps its other bits.
  auto alu = [&](int size, int op, int dst, int src) {
    if (size == 1) {
      a.OpR(false, static_cast<uint32_t>(op << 3 | 2), dst, src);
    } else {
      a.AluRR(size == 8, op, dst, src);
    }
  };
  // rdx = the host address of the stack slot a push writes, RSP lowered.
  auto push_slot = [&](int k) {
    a.Load(true, kAx, L.Gpr(kRsp));
    a.AluRImm(true, 5, kAx, 8);  // sub rax, 8
    tlb(k, 8, kAccWrite);
    a.Store(true, L.Gpr(kRsp), kAx);
  };
  auto lazy = [&](int k, int size, int op) {
    if (flags_dead[k]) return;
    // rcx = result, rax = a, rdx = b (masked to size).
    a.Store(true, L.At(L.lazy_res), kCx);
    a.Store(true, L.At(L.lazy_a), kAx);
    a.Store(true, L.At(L.lazy_b), kDx);
    a.StoreImm64(L.At(L.lazy_aux), 0);
    a.StoreImm16(L.At(L.lazy_op), static_cast<uint16_t>(CcOf(op) | size << 8));
  };

  // Chainable exits (BlockJit::Chain): each has a record after the code,
  // which RIP-relative loads read and the unchained path names.
  struct RecordRef {
    size_t at;  // a displacement or immediate to bind
    int record;
    int field;  // offset in ChainRecord; -1: the record's code-space offset
  };
  FixedList<RecordRef, 5 * (Block::kMaxInsns + 1)> record_refs;
  FixedList<size_t, Block::kMaxInsns + 1> record_jumps;  // chained jumps
  // An exit after `count` instructions to the block's RIP + `toff`: tries
  // the chained jump; otherwise stores next_rip, names the record, and
  // returns `count` through the epilogue.
  auto chain_exit = [&](int count, int32_t toff) {
    const int rec = static_cast<int>(record_jumps.size());
    record_refs.push_back({a.LeaRip(kDx), rec, 0});  // rdx = the record
    a.MovImm(kCx, static_cast<uint64_t>(count));
    CallTo(a, used_, chain_check_);
    const size_t unchained = a.Jcc(kCcNe);
    a.Lea(true, kR12, {kR12, -1, toff});
    // Unpatched, the jump goes to the int3 after it; the record's gen (0)
    // never matches, so it is not reached.
    record_jumps.push_back(a.Jmp());
    a.Byte(0xcc);
    a.Bind(unchained, a.pos());
    a.Lea(true, kAx, {kR12, -1, toff});
    a.Store(true, L.At(L.next_rip), kAx);
    record_refs.push_back({a.StoreImm32(L.At(L.chain_exit), 0), rec, -1});
    a.MovImm(kAx, static_cast<uint64_t>(count) << 8);
    JumpTo(a, used_, epilogue_);
  };

  // Whether the last instruction stored c.next_rip: it ran a handler (or
  // was a RET). Otherwise it was an inline form, and the block's end is a
  // chainable exit to the block's RIP + end_toff.
  bool set_next = false;
  // Whether the block ends in an inline RET: its exit tries the jump cache.
  bool ret_end = false;
  int64_t end_toff = 0;
  // Whether the host's arithmetic flags are the guest's (after an inline
  // ALU form, and only MOV and LEA forms since).
  bool host_flags = false;
  for (int k = 0; k < n; ++k) {
    const Insn& i = insns[k];
    const uint32_t end = ends[k];
    const FastForm f = form[k];
    const bool w = f.size == 8;
    const size_t first_stub = stubs.size();
    // A branch target as an offset from the block's start.
    const int64_t target =
        static_cast<int64_t>(end) + static_cast<int64_t>(i.imm);
    const bool near = target == static_cast<int32_t>(target);
    set_next = false;
    end_toff = end;
    const bool flags_before = host_flags;
    host_flags = false;
    // Where this instruction's stubs go on after the handler: after it,
    // unless a form sets this.
    size_t resume = 0;
    switch (f.kind) {
      case FastForm::kAluRmR:
      case FastForm::kAluRRm:
      case FastForm::kAluRmImm:
      case FastForm::kAluAccImm:
      case FastForm::kTestRR:
      case FastForm::kTestImm: {
        const bool test =
            f.kind == FastForm::kTestRR || f.kind == FastForm::kTestImm;
        int dst;
        if (f.kind == FastForm::kAluRRm) {
          dst = i.reg;
        } else if (f.kind == FastForm::kAluAccImm ||
                   (f.kind == FastForm::kTestImm && f.op == 1)) {
          dst = kRax;
        } else {
          dst = i.rm;
        }
        get(kAx, dst, f.size, i.rex);
        if (f.kind == FastForm::kAluRmR || f.kind == FastForm::kTestRR) {
          get(kDx, i.reg, f.size, i.rex);
        } else if (f.kind == FastForm::kAluRRm) {
          get(kDx, i.rm, f.size, i.rex);
        } else {
          a.MovImm(kDx, i.imm & SizeMask(f.size));
        }
        a.OpR(true, 0x8b, kCx, kAx);  // mov rcx, rax
        const int op = test ? 4 : f.op;
        alu(f.size, op == 7 ? 5 : op, kCx, kDx);
        lazy(k, f.size, op);
        if (op != 7 && !test) {
          put(dst, f.size, i.rex, kCx);
        }
        host_flags = true;
        break;
      }
      case FastForm::kAluRMem:
      case FastForm::kCmpMemR:
      case FastForm::kCmpMemImm:
      case FastForm::kAluMemR:
      case FastForm::kAluMemImm: {
        // rax = a, b (masked to the size) in rdx, or in r8 where rdx keeps
        // the host address for the write, as AluRMem and AluMem pass them
        // to AluOp.
        const bool rmw =
            f.kind == FastForm::kAluMemR || f.kind == FastForm::kAluMemImm;
        const int b = rmw ? 8 : kDx;
        mem(k, f.size, rmw ? kAccWrite : kAccRead);
        if (f.kind == FastForm::kAluRMem) {
          load_zx(kDx, f.size, {kDx, -1, 0});
          get(kAx, i.reg, f.size, i.rex);
        } else {
          load_zx(kAx, f.size, {kDx, -1, 0});
          if (f.kind == FastForm::kCmpMemR || f.kind == FastForm::kAluMemR) {
            get(b, i.reg, f.size, i.rex);
          } else {
            a.MovImm(b, i.imm & SizeMask(f.size));
          }
        }
        a.OpR(true, 0x8b, kCx, kAx);  // mov rcx, rax
        const int host_op = f.op == 7 ? 5 : f.op;
        alu(f.size, host_op, kCx, b);
        if (rmw) {
          store_sized({kDx, -1, 0}, f.size, kCx);
          a.OpR(true, 0x8b, kDx, 8);  // mov rdx, r8
        }
        lazy(k, f.size, f.op);
        if (f.kind == FastForm::kAluRMem && f.op != 7) {
          put(i.reg, f.size, i.rex, kCx);
        }
        if (JccNext(form, k, n)) {
          // After the stub's handler the host flags come from the record
          // it stored: the same operation on the same operands.
          const size_t over = a.Jmp();
          resume = a.pos();
          a.Load(true, kAx, L.At(L.lazy_a));
          a.Load(true, kDx, L.At(L.lazy_b));
          a.OpR(true, 0x8b, kCx, kAx);  // mov rcx, rax
          alu(f.size, host_op, kCx, kDx);
          a.Bind(over, a.pos());
          host_flags = true;
        }
        break;
      }
      case FastForm::kIncDec: {
        // CF stays the previous record's: from the host's flags, which INC
        // and DEC keep too; otherwise the handler works it out.
        if (!flags_before) {
          call_handler(k, end);
          set_next = true;
          break;
        }
        a.Load(w, kAx, L.Gpr(i.rm));
        a.OpR(true, 0x8b, kCx, kAx);  // mov rcx, rax
        a.OpR(w, 0xff, f.op, kCx);    // inc/dec rcx or ecx
        if (!flags_dead[k]) {
          a.OpR(false, 0x0f92, 0, kDx);    // setc dl
          a.OpR(false, 0x0fb6, kDx, kDx);  // movzx edx, dl
          a.Store(true, L.At(L.lazy_res), kCx);
          a.Store(true, L.At(L.lazy_a), kAx);
          a.StoreImm64(L.At(L.lazy_b), 1);
          a.Store(true, L.At(L.lazy_aux), kDx);
          a.StoreImm16(
              L.At(L.lazy_op),
              static_cast<uint16_t>((f.op ? kCcDec : kCcInc) | f.size << 8));
        }
        a.Store(true, L.Gpr(i.rm), kCx);
        host_flags = true;
        break;
      }
      case FastForm::kMovRmR:
      case FastForm::kMovRRm: {
        const int src = f.kind == FastForm::kMovRmR ? i.reg : i.rm;
        const int dst = f.kind == FastForm::kMovRmR ? i.rm : i.reg;
        a.Load(w, kAx, L.Gpr(src));
        a.Store(true, L.Gpr(dst), kAx);
        host_flags = flags_before;
        break;
      }
      case FastForm::kMovRegImm:
      case FastForm::kMovRmImm: {
        const int dst = f.kind == FastForm::kMovRegImm ? i.reg : i.rm;
        const uint64_t v = w ? i.imm : (i.imm & 0xffffffffull);
        if (static_cast<int64_t>(v) == static_cast<int32_t>(v)) {
          a.StoreImm64(L.Gpr(dst), static_cast<int32_t>(v));
        } else {
          a.MovImm(kAx, v);
          a.Store(true, L.Gpr(dst), kAx);
        }
        host_flags = flags_before;
        break;
      }
      case FastForm::kLea:
        address(k);
        if (!w) a.OpR(false, 0x8b, kAx, kAx);  // mov eax, eax
        a.Store(true, L.Gpr(i.reg), kAx);
        host_flags = flags_before;
        break;
      case FastForm::kLoad:
        mem(k, f.size, kAccRead);
        load_zx(kAx, f.size, {kDx, -1, 0});
        put(i.reg, f.size, i.rex, kAx);
        break;
      case FastForm::kLoadExt: {
        const int bytes = f.op & 3;
        const bool sign = f.op & 4;
        mem(k, bytes, kAccRead);
        // movzx eax / movsx eax or rax, byte or word [rdx]
        a.OpM(sign && w,
              sign ? (bytes == 1 ? 0x0fbe : 0x0fbf)
                   : (bytes == 1 ? 0x0fb6 : 0x0fb7),
              kAx, {kDx, -1, 0});
        a.Store(true, L.Gpr(i.reg), kAx);
        break;
      }
      case FastForm::kStore:
        mem(k, f.size, kAccWrite);
        get(kAx, i.reg, f.size, i.rex);
        store_sized({kDx, -1, 0}, f.size, kAx);
        break;
      case FastForm::kPush:
        push_slot(k);
        a.Load(true, kAx, L.Gpr(i.reg));
        // PUSH RSP pushes the old value.
        if (i.reg == kRsp) a.AluRImm(true, 0, kAx, 8);
        a.Store(true, {kDx, -1, 0}, kAx);
        break;
      case FastForm::kPop:
        a.Load(true, kAx, L.Gpr(kRsp));
        tlb(k, 8, kAccRead);
        a.Load(true, kDx, {kDx, -1, 0});
        a.AluMImm(true, 0, L.Gpr(kRsp), 8);  // add qword [rsp], 8
        a.Store(true, L.Gpr(i.reg), kDx);
        break;
      case FastForm::kJcc:
        if (near && flags_before) {
          taken.push_back({k, a.Jcc(f.op), static_cast<size_t>(target)});
          host_flags = true;  // not taken: unchanged
          break;
        }
        if (near) {
          // Flags from an earlier instruction (Jcc64's FastCond): the
          // guest's flags are brought into the host's, and the Jcc's own
          // condition code follows.
          size_t flags_set[2];
          int sets = 0;
          a.CmpByte(L.At(L.lazy_op), kCcNone);
          const size_t lazy = a.Jcc(kCcNe);
          // Already in rflags: its arithmetic flags through POPFQ, which
          // leaves IF and IOPL alone at CPL 3 (TF, DF and AC end clear).
          a.Load(false, kAx, L.At(L.rflags));
          a.AluRImm(false, 4, kAx, 0x8d5);  // and eax, OF|SF|ZF|AF|PF|CF
          a.Push(kAx);
          a.Byte(0x9d);  // popfq
          flags_set[sets++] = a.Jmp();
          a.Bind(lazy, a.pos());
          if (f.op == 4 || f.op == 5) {
            // ZF is "the stored result is 0" for every operation.
            a.AluMImm(true, 7, L.At(L.lazy_res), 0);  // cmp qword [res], 0
          } else if (f.op == 0xa || f.op == 0xb) {
            stubs.push_back({k, a.Jmp(), 0});  // PF: the handler
          } else {
            // On a SUB/CMP or a logic record, with the handler on any
            // other. The record keeps its values masked to its size;
            // shifted left by 64 - 8 * size, a SUB's operands compare,
            // and a logic result tests, with the guest's CF, ZF, SF and
            // OF.
            a.OpM(false, 0x0fb6, kCx, L.At(L.lazy_op + 1));  // movzx size
            a.OpR(false, 0xc1, 4, kCx);                      // shl ecx, 3
            a.Byte(3);
            a.OpR(false, 0xf7, 3, kCx);  // neg ecx: the count mod 64
            a.CmpByte(L.At(L.lazy_op), kCcSub);
            const size_t not_sub = a.Jcc(kCcNe);
            a.Load(true, kAx, L.At(L.lazy_a));
            a.Load(true, kDx, L.At(L.lazy_b));
            a.OpR(true, 0xd3, 4, kAx);   // shl rax, cl
            a.OpR(true, 0xd3, 4, kDx);   // shl rdx, cl
            a.AluRR(true, 7, kAx, kDx);  // cmp rax, rdx
            flags_set[sets++] = a.Jmp();
            a.Bind(not_sub, a.pos());
            a.CmpByte(L.At(L.lazy_op), kCcLogic);
            stubs.push_back({k, a.Jcc(kCcNe), 0});
            a.Load(true, kAx, L.At(L.lazy_res));
            a.OpR(true, 0xd3, 4, kAx);    // shl rax, cl
            a.OpR(true, 0x85, kAx, kAx);  // test rax, rax
          }
          for (int j = 0; j < sets; ++j) a.Bind(flags_set[j], a.pos());
          taken.push_back({k, a.Jcc(f.op), static_cast<size_t>(target)});
          break;
        }
        call_handler(k, end);
        set_next = true;
        break;
      case FastForm::kShiftImm: {
        // The record ShiftReg stores: CF the last bit out (the host's CF
        // for all three), OF as Shift() defines it for any count.
        const int bits = f.size * 8;
        a.Load(w, kAx, L.Gpr(i.rm));  // a, masked to the size
        a.OpR(true, 0x8b, kCx, kAx);  // mov rcx, rax
        a.OpR(w, 0xc1, f.op, kCx);    // shl/shr/sar rcx, count
        a.Byte(static_cast<uint8_t>(i.imm));
        if (!flags_dead[k]) {
          a.OpR(false, 0x0f92, 0, kDx);    // setc dl
          a.OpR(false, 0x0fb6, kDx, kDx);  // movzx edx, dl
          if (f.op != 7) {
            // OF: SHL msb(result) ^ CF, SHR msb(a); into bit 1 of aux.
            a.OpR(true, 0x8b, 8, f.op == 4 ? kCx : kAx);  // mov r8, r or a
            a.ShrImm(true, 8, static_cast<uint8_t>(bits - 1));
            if (f.op == 4) a.AluRR(false, 6, 8, kDx);  // xor r8d, edx
            a.AluRR(false, 0, 8, 8);                   // add r8d, r8d
            a.AluRR(false, 1, kDx, 8);                 // or edx, r8d
          }
          a.Store(true, L.At(L.lazy_res), kCx);
          a.Store(true, L.At(L.lazy_a), kAx);
          a.StoreImm64(L.At(L.lazy_b), 0);
          a.Store(true, L.At(L.lazy_aux), kDx);
          a.StoreImm16(L.At(L.lazy_op),
                       static_cast<uint16_t>(kCcShift | f.size << 8));
        }
        a.Store(true, L.Gpr(i.rm), kCx);
        break;
      }
      case FastForm::kJmpRel:
        if (!near) {
          call_handler(k, end);
          set_next = true;
          break;
        }
        end_toff = target;  // the exit stores next_rip
        break;
      case FastForm::kCallRel:
        if (!near) {
          call_handler(k, end);
          set_next = true;
          break;
        }
        // A stub's handler (a TLB miss on the push) sets next_rip to the
        // same target.
        push_slot(k);
        a.Lea(true, kAx, {kR12, -1, static_cast<int32_t>(end)});
        a.Store(true, {kDx, -1, 0}, kAx);
        end_toff = target;
        break;
      case FastForm::kRet:
        a.Load(true, kAx, L.Gpr(kRsp));
        tlb(k, 8, kAccRead);
        a.Load(true, kAx, {kDx, -1, 0});
        // A non-canonical return address: the handler raises #GP.
        a.OpR(true, 0x8b, kCx, kAx);  // mov rcx, rax
        a.OpR(true, 0xc1, 4, kCx);    // shl rcx, 16
        a.Byte(16);
        a.OpR(true, 0xc1, 7, kCx);  // sar rcx, 16
        a.Byte(16);
        a.AluRR(true, 7, kCx, kAx);  // cmp rcx, rax
        stubs.push_back({k, a.Jcc(kCcNe), 0});
        a.AluMImm(true, 0, L.Gpr(kRsp), 8);  // add qword [rsp], 8
        a.Store(true, L.At(L.next_rip), kAx);
        set_next = true;
        ret_end = k == n - 1;
        break;
      case FastForm::kNone:
        call_handler(k, end);
        set_next = true;
        break;
    }
    // A stub's handler call stands for the whole instruction.
    for (size_t t = first_stub; t < stubs.size(); ++t) {
      stubs[t].resume = resume != 0 ? resume : a.pos();
    }
  }
  if (!set_next) {
    chain_exit(n, static_cast<int32_t>(end_toff));
  } else {
    // To c.next_rip through the jump cache: after an inline RET (or its
    // handler, run by a stub on a TLB miss), or after any other handler.
    a.MovImm(kCx, static_cast<uint64_t>(n));
    CallTo(a, used_, ret_end ? jump_check_ : handler_jump_check_);
    const size_t unchained = a.Jcc(kCcNe);
    EnterJumpEntry(a);
    a.Bind(unchained, a.pos());
    a.MovImm(kAx, static_cast<uint64_t>(n) << 8);
    JumpTo(a, used_, epilogue_);
  }

  // Out of line: each inline form's slow path is its handler, after which
  // the block goes on after the instruction.
  for (const Exit& s : stubs) {
    a.Bind(s.from, a.pos());
    call_handler(s.k, ends[s.k]);
    a.Bind(a.Jmp(), s.resume);
  }
  for (const Exit& e : taken) {
    a.Bind(e.from, a.pos());
    chain_exit(e.k + 1, static_cast<int32_t>(e.resume));
  }
  for (const Exit& e : exit_status) {
    a.Bind(e.from, a.pos());
    a.OpR(false, 0xb6 | 0x0f00, kAx, kAx);     // movzx eax, al
    a.AluRImm(false, 1, kAx, (e.k + 1) << 8);  // or eax, count << 8
    JumpTo(a, used_, epilogue_);
  }
  for (const Exit& e : exit_after) {
    a.Bind(e.from, a.pos());
    a.MovImm(kAx, static_cast<uint64_t>(e.k + 1) << 8);
    JumpTo(a, used_, epilogue_);
  }

  // The chain records, 8-aligned.
  while (a.pos() % 8 != 0) a.Byte(0xcc);
  const size_t records = a.pos();
  for (size_t j : record_jumps) {
    const ChainRecord r = {.gen = 0,
                           .ninsn = 0,
                           .rip = 0,
                           .block = 0,
                           .insns = 0,
                           .jump = static_cast<uint32_t>(used_ + j),
                           .unused = 0};
    for (size_t k = 0; k < sizeof r; ++k) {
      a.Byte(reinterpret_cast<const uint8_t*>(&r)[k]);
    }
  }
  for (const RecordRef& r : record_refs) {
    const size_t at = records + sizeof(ChainRecord) * r.record;
    if (r.field < 0) {
      a.Patch32(r.at, static_cast<uint32_t>(used_ + at));
    } else {
      a.Bind(r.at, at + static_cast<size_t>(r.field));
    }
  }

  if (!a.fits()) {
    used_ = kCodeBytes;  // full until Reset
    return nullptr;
  }
  used_ = std::min(kCodeBytes, used_ + ((a.pos() + 15) & ~size_t{15}));
  if (used_ - released_ >= kReleaseBytes) ReleaseWritten();
  return reinterpret_cast<Fn>(const_cast<uint8_t*>(rx_at));
}

void BlockJit::ReleaseWritten() {
  released_ = used_;
  if (rw_ == nullptr) return;
  ::madvise(rw_, kCodeBytes, MADV_DONTNEED);
  // The next kReleaseBytes of code go to pages mapped in one call rather
  // than a fault each (where the kernel cannot, they fault as before).
  const size_t from = used_ & ~size_t{4095};
  ::madvise(rw_ + from, std::min(kReleaseBytes + 4096, kCodeBytes - from),
            MADV_POPULATE_WRITE);
}

void BlockJit::Chain(uint32_t record, uint32_t gen, uint64_t rip,
                     const Block& to) {
  ChainRecord r;
  std::memcpy(&r, rw_ + record, sizeof r);
  r.ninsn = to.ninsn;
  r.rip = rip;
  r.block = reinterpret_cast<uintptr_t>(&to);
  r.insns = reinterpret_cast<uintptr_t>(to.insns());
  const int64_t target = static_cast<int64_t>((to.native & ~15u) + prologue_);
  const auto rel =
      static_cast<int32_t>(target - static_cast<int64_t>(r.jump + 4));
  std::memcpy(rw_ + r.jump, &rel, 4);
  r.gen = gen;
  std::memcpy(rw_ + record, &r, sizeof r);
}

}  // namespace skiff::tcg
