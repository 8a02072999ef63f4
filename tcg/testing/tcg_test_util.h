// Test helpers for the interpreter: FlatMachine, a one-vCPU VM already in
// flat 64-bit long mode (identity paging, Linux-like GDT, TSS, an IDT whose
// handlers record the vector and halt), RecordingIo, a VcpuIo that logs port
// and MMIO accesses, and Assemble(), which runs nasm on a source string.
//
//   SKIFF_ASSIGN_OR_RETURN(auto m, FlatMachine::Create());
//   ASSERT_OK(m->LoadCode(Assemble("mov eax, 42\nhlt").value()));
//   VcpuExit exit = m->Run().value();   // kHalt; m->regs().rax == 42
//
// Guest-physical layout (all below 2 MiB):
//   0x1000 PML4, 0x2000 PDPT, 0x3000 PD, 0x4000 PT for the first 2 MiB
//   (4 KiB pages, user-accessible, writable; other 2 MiB ranges use 2 MiB
//   pages; 0xC0000000-0xFFFFFFFF is one 1 GiB page onto MMIO),
//   0x5000 GDT, 0x6000 IDT, 0x7000 TSS, 0x8000 exception stubs (16 bytes a
//   vector: "mov r14, vector; hlt"), 0x10000 code (kCodeAddr),
//   0x20000 data (kDataAddr), stack top 0x80000 (kStackTop), RSP0 stack top
//   0x90000, IST1 stack top 0xa0000.
#ifndef SKIFF_TCG_TESTING_TCG_TEST_UTIL_H_
#define SKIFF_TCG_TESTING_TCG_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "base/guest_memory.h"
#include "base/vcpu_backend.h"
#include "tcg/tcg_vcpu.h"
#include "tcg/tcg_vm.h"

namespace skiff::tcg::testing {

inline constexpr uint64_t kPml4Addr = 0x1000;
inline constexpr uint64_t kPtAddr = 0x4000;
inline constexpr uint64_t kGdtAddr = 0x5000;
inline constexpr uint64_t kIdtAddr = 0x6000;
inline constexpr uint64_t kTssAddr = 0x7000;
inline constexpr uint64_t kStubAddr = 0x8000;
inline constexpr uint64_t kCodeAddr = 0x10000;
inline constexpr uint64_t kDataAddr = 0x20000;
inline constexpr uint64_t kStackTop = 0x80000;
inline constexpr uint64_t kRsp0Top = 0x90000;
inline constexpr uint64_t kIst1Top = 0xa0000;
inline constexpr uint64_t kMmioBase = 0xc0000000;
// Linux-like selectors.
inline constexpr uint16_t kKernelCs32 = 0x08, kKernelCs = 0x10,
                          kKernelDs = 0x18, kUserCs32 = 0x23, kUserDs = 0x2b,
                          kUserCs = 0x33, kTssSel = 0x38;

// Assembles `source` with nasm (BITS 64 unless the source says otherwise,
// ORG kCodeAddr). NotFound when nasm is not installed.
absl::StatusOr<std::vector<uint8_t>> Assemble(const std::string& source,
                                              uint64_t org = kCodeAddr);

// Records every access; reads return `pio_value` / `mmio_value`.
class RecordingIo : public VcpuIo {
 public:
  struct Access {
    bool mmio, write;
    uint64_t addr;
    int size;
    uint64_t value;
  };
  void PioRead(uint16_t port, absl::Span<uint8_t> data) override;
  void PioWrite(uint16_t port, absl::Span<const uint8_t> data) override;
  void MmioRead(uint64_t addr, absl::Span<uint8_t> data) override;
  void MmioWrite(uint64_t addr, absl::Span<const uint8_t> data) override;
  std::vector<Access> accesses() const;
  uint64_t pio_value = 0x12345678;
  uint64_t mmio_value = 0x1122334455667788;

 private:
  void Record(const Access& a);
  mutable absl::Mutex mu_;
  std::vector<Access> accesses_ ABSL_GUARDED_BY(mu_);
};

class FlatMachine {
 public:
  struct Options {
    uint64_t memory_size = 2 << 20;
    bool install_idt = true;
    int num_vcpus = 1;
    bool memfd = false;  // GuestMemory::Options::memfd
    // Every block compiled to host code on its first entry (BlockJit), so
    // that tests of blocks run compiled code too.
    bool compile_eagerly = true;
  };
  static absl::StatusOr<std::unique_ptr<FlatMachine>> Create(
      const Options& options);
  static absl::StatusOr<std::unique_ptr<FlatMachine>> Create() {
    return Create(Options());
  }

  GuestMemory& memory() { return *memory_; }
  TcgVm& vm() { return *vm_; }
  TcgVcpu& vcpu(int index = 0) { return *vcpus_[static_cast<size_t>(index)]; }
  RecordingIo& io() { return io_; }

  // Copies code to kCodeAddr (or `addr`) and points RIP there.
  absl::Status LoadCode(absl::Span<const uint8_t> code,
                        uint64_t addr = kCodeAddr);
  absl::StatusOr<VcpuExit> Run(int index = 0) { return vcpu(index).Run(io_); }
  Regs regs(int index = 0);
  void SetRegs(const Regs& regs, int index = 0);
  Sregs sregs(int index = 0);
  uint64_t Read64(uint64_t addr);
  void Write64(uint64_t addr, uint64_t value);
  // The 4 KiB page-table entry mapping `addr` (< 2 MiB).
  uint64_t Pte(uint64_t addr) { return Read64(kPtAddr + (addr >> 12) * 8); }
  void SetPte(uint64_t addr, uint64_t pte) {
    Write64(kPtAddr + (addr >> 12) * 8, pte);
  }

 private:
  FlatMachine() = default;
  absl::Status Setup(const Options& options);

  std::unique_ptr<GuestMemory> memory_;
  std::unique_ptr<TcgVm> vm_;
  std::vector<std::unique_ptr<TcgVcpu>> vcpus_;
  RecordingIo io_;
};

// The flat long-mode Sregs FlatMachine uses (CPL 0).
Sregs FlatLongModeSregs();

}  // namespace skiff::tcg::testing

#endif  // SKIFF_TCG_TESTING_TCG_TEST_UTIL_H_
