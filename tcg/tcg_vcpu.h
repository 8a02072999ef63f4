// TcgVcpu: the interpreter's VcpuBackend. Run() fetches, decodes (through a
// per-vCPU DecodeCache) and executes guest instructions on the calling
// thread until HLT, Kick(), a triple fault or an internal error.
//
//   SKIFF_ASSIGN_OR_RETURN(auto vm, tcg::TcgVm::Create(*memory, {}));
//   SKIFF_ASSIGN_OR_RETURN(auto vcpu, vm->CreateVcpu(0));
//   SKIFF_RETURN_IF_ERROR(vcpu->SetSregs(sregs));
//   SKIFF_ASSIGN_OR_RETURN(VcpuExit exit, vcpu->Run(io));
//
// Thread-safety: everything except Kick() runs on the vCPU's thread.
#ifndef SKIFF_TCG_TCG_VCPU_H_
#define SKIFF_TCG_TCG_VCPU_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "base/guest_clock.h"
#include "base/guest_memory.h"
#include "base/vcpu_backend.h"
#include "tcg/block_cache.h"
#include "tcg/cpu.h"
#include "tcg/decode_cache.h"
#include "tcg/jit.h"

namespace skiff::tcg {

class TcgVcpu : public VcpuBackend {
 public:
  // `code_epoch` (owned by the TcgVm) is bumped by TcgVm::InvalidateCode.
  // `writes_reported`: every write to guest RAM other than this vCPU's is
  // reported (GuestMemory::NoteWrite): no other vCPU, and no other process
  // that maps the RAM. Then blocks are trusted between reported writes
  // (block_cache.h).
  TcgVcpu(const GuestMemory& memory, int index,
          const std::atomic<uint64_t>* code_epoch, bool writes_reported);
  // A TcgVcpu (mostly its TLBs and jump cache, some 260 KiB) lives in a
  // mapping named "skiff-tcg-vcpu" (base/named_mapping.h).
  static void* operator new(size_t size);
  static void operator delete(void* p, size_t size);

  int index() const override { return index_; }
  absl::StatusOr<VcpuExit> Run(VcpuIo& io) override;
  void Kick() override { kick_.store(true, std::memory_order_release); }

  absl::Status GetRegs(Regs& regs) override;
  absl::Status SetRegs(const Regs& regs) override;
  absl::Status GetSregs(Sregs& sregs) override;
  absl::Status SetSregs(const Sregs& sregs) override;
  absl::Status SetMsrs(absl::Span<const MsrEntry> msrs) override;
  absl::StatusOr<uint64_t> GetMsr(uint32_t index) override;
  // Resets x87/MMX/SSE state to power-on values (tcg/fpu_state.h).
  absl::Status ResetFpu() override;

  // The interrupt controller hook (not owned; may be null). Polled between
  // instructions when RFLAGS.IF=1 and no STI/MOV SS shadow is active.
  void set_interrupt_source(InterruptSource* source) { cpu_.irq = source; }
  absl::Status SetInterruptSource(InterruptSource* source) override {
    cpu_.irq = source;
    return absl::OkStatus();
  }
  // The clock RDTSC and IA32_TSC follow (not owned; must outlive the vCPU).
  // Null restores the vCPU's own MonotonicGuestClock. vCPUs of one machine
  // share the machine's clock so their TSCs agree with each other and with
  // the LAPIC timers.
  void set_guest_clock(const GuestClock* clock) {
    cpu_.clock = clock != nullptr ? clock : &own_clock_;
    icount_ = nullptr;
  }
  // Deterministic mode (--icount; not owned, may be null): the vCPU adds
  // the instructions it retires to `clock`, reads time from it, and ends a
  // Run() (kInterrupted) when the clock reaches its next deadline, so that
  // the caller can fire the timer at exactly that instruction count. A
  // device access during the run that arms an earlier timer shortens the
  // run too. All vCPUs sharing the clock must run on one thread.
  // RDRAND/RDSEED then return a fixed sequence per vCPU index, so that
  // repeated runs stay identical.
  void set_instruction_clock(InstructionClock* clock) {
    set_guest_clock(clock);
    icount_ = clock;
    entropy_ =
        clock != nullptr
            ? GuestEntropy::Deterministic(kDeterministicEntropySeed + index_)
            : GuestEntropy::Host();
  }
  absl::Status SetInstructionClock(InstructionClock& clock) override {
    set_instruction_clock(&clock);
    return absl::OkStatus();
  }
  // Makes Run() return kInterrupted after `n` more instructions (0: no
  // limit). For fuzzing and deterministic runs.
  void set_instruction_limit(uint64_t n) { insn_limit_ = n; }
  absl::Status SetTimeSlice(uint64_t instructions) override {
    set_instruction_limit(instructions);
    return absl::OkStatus();
  }
  uint64_t instructions_retired() const { return retired_; }
  // With false, every instruction runs through the one-at-a-time path with
  // the generic handlers (for tests comparing the two; default true).
  void set_block_cache_enabled(bool on) { blocks_enabled_ = on; }
  // Compiling hot 64-bit blocks to host code (tcg/jit.h), which needs
  // writes_reported and a code mapping (made here, before the seccomp
  // filter forbids it); off until enabled.
  void set_jit_enabled(bool on) {
    SetJitThreshold(on ? kJitThreshold : kJitOff);
  }
  // Compiles every block on its first entry (tests).
  void set_jit_eager() { SetJitThreshold(1); }
  // Direct access for tests and the differential harness.
  Cpu& cpu() { return cpu_; }

 private:
  // Executes one instruction. Returns false when Run() must return `*exit`.
  bool Step(VcpuExit* exit);
  // Executes cached basic blocks from RIP (building them on a miss), at
  // most up to instruction limit_, until the run loop must poll
  // something. Returns 1 to go on, -1 when Run() must return `*exit`, 0 when
  // there is no block (RIP's page is not the current fetch page, or its
  // first instruction crosses into a page that does not follow it): then
  // Step() runs one instruction.
  int RunBlocks(VcpuExit* exit);
  // Compiles `b` for the current CPL (BlockJit).
  [[gnu::noinline]] void Compile(const Block& b);
  // Whether a block at `lin` may take bytes from the next page.
  bool NextPageFollows(uint64_t lin, uint64_t phys, const uint8_t* host);
  [[gnu::noinline]] const Block* FindBlock(const Block* prev, uint64_t context,
                                           uint64_t epoch,
                                           const uint8_t** host);
  // The epoch blocks are checked under (BlockCache::Current). With
  // writes_reported_: the memory's write epoch, which moves with every
  // write that could change a block's bytes (Cpu::MarkCodePage). Otherwise
  // another vCPU (or process) may write a page without a report, so every
  // call returns a new number and every block entry compares bytes. The fence
  // orders the guest's earlier reads (say, of a used-ring index) before the
  // epoch's.
  uint64_t CheckEpoch() {
    if (!writes_reported_) return ++entries_;
    std::atomic_thread_fence(std::memory_order_acquire);
    return cpu_.memory().write_epoch();
  }
  // Finishes an instruction that returned `st` (fault delivery, HLT...).
  // Returns false when Run() must return `*exit`.
  bool Finish(ExecStatus st, VcpuExit* exit);
  bool Fetch(Insn* insn, const Insn** out);
  VcpuExit InternalError(const char* message);
  // --icount: lowers limit_ to the clock's next deadline (at least one more
  // instruction, so a run always makes progress).
  void ClampLimitToDeadline();

  // Forwards device accesses and, after each one, re-reads the clock's
  // deadline: the access may have armed a timer (--icount only).
  class IcountIo : public VcpuIo {
   public:
    explicit IcountIo(TcgVcpu* vcpu) : vcpu_(vcpu) {}
    void PioRead(uint16_t port, absl::Span<uint8_t> data) override {
      inner->PioRead(port, data);
      vcpu_->ClampLimitToDeadline();
    }
    void PioWrite(uint16_t port, absl::Span<const uint8_t> data) override {
      inner->PioWrite(port, data);
      vcpu_->ClampLimitToDeadline();
    }
    void MmioRead(uint64_t addr, absl::Span<uint8_t> data) override {
      inner->MmioRead(addr, data);
      vcpu_->ClampLimitToDeadline();
    }
    void MmioWrite(uint64_t addr, absl::Span<const uint8_t> data) override {
      inner->MmioWrite(addr, data);
      vcpu_->ClampLimitToDeadline();
    }
    bool MsrRead(uint32_t index, uint64_t& value) override {
      const bool ok = inner->MsrRead(index, value);
      vcpu_->ClampLimitToDeadline();
      return ok;
    }
    bool MsrWrite(uint32_t index, uint64_t value) override {
      const bool ok = inner->MsrWrite(index, value);
      vcpu_->ClampLimitToDeadline();
      return ok;
    }
    VcpuIo* inner = nullptr;

   private:
    TcgVcpu* const vcpu_;
  };

  const int index_;
  const std::atomic<uint64_t>* code_epoch_;
  uint64_t seen_epoch_ = 0;
  bool writes_reported_;
  uint64_t entries_ = 0;  // CheckEpoch's numbers with several vCPUs
  DecodeCache cache_;
  BlockCache blocks_;
  // Entries after which a 64-bit block is compiled: a boot to init took
  // about as long at 64 and 256, and 16% longer at 16 (compiling blocks
  // that hardly run again).
  static constexpr uint32_t kJitThreshold = 128;
  static constexpr uint32_t kJitOff = 1u << 16;  // more than Block::runs holds
  void SetJitThreshold(uint32_t threshold);
  BlockJit jit_;
  // A block's compiled code (Block::native), or 0 when it has none in the
  // code space's current generation.
  uint32_t Native(const Block& b) const {
    return b.native_gen == jit_.generation() ? b.native : 0;
  }
  uint32_t jit_threshold_ = kJitOff;
  // The last chain generation started (Cpu::chain_gen, chain_gen_global),
  // and the TLB epoch and global TLB epoch they hold for.
  uint32_t chain_gens_ = 0;
  uint32_t NextChainGen() {
    if (++chain_gens_ == Cpu::kChainOff) chain_gens_ = 1;
    return chain_gens_;
  }
  uint64_t chain_tlb_epoch_ = 0;
  uint64_t chain_global_epoch_ = 0;
  uint64_t chain_jit_gen_ = 0;
  Insn scratch_;  // decode target for instructions not served by the cache
  MonotonicGuestClock own_clock_;
  static constexpr uint64_t kDeterministicEntropySeed = 0x736b696666;
  GuestEntropy entropy_ = GuestEntropy::Host();
  Cpu cpu_;
  std::atomic<bool> kick_{false};
  InstructionClock* icount_ = nullptr;
  IcountIo icount_io_{this};
  uint64_t insn_limit_ = 0;
  // The retired_ value at which the current Run() ends.
  static constexpr uint64_t kNoLimit = ~0ull;
  uint64_t limit_ = kNoLimit;
  uint64_t retired_ = 0;
  bool blocks_enabled_ = true;
};

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_TCG_VCPU_H_
