#include "tcg/testing/tcg_test_util.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace skiff::tcg::testing {
namespace {

uint64_t Le(absl::Span<const uint8_t> d) {
  uint64_t v = 0;
  std::memcpy(&v, d.data(), std::min<size_t>(d.size(), 8));
  return v;
}

// A flat code/data descriptor (Intel SDM vol. 3, figure 3-8).
uint64_t Descriptor(bool code, int dpl, bool l, bool db) {
  uint64_t d = 0xffff | (0xfull << 48);  // limit 0xfffff, base 0
  const uint64_t type = code ? 0xb : 0x3;
  d |= type << 40;
  d |= 1ull << 44;  // S
  d |= static_cast<uint64_t>(dpl) << 45;
  d |= 1ull << 47;  // P
  if (l) d |= 1ull << 53;
  if (db) d |= 1ull << 54;
  d |= 1ull << 55;  // G
  return d;
}

Segment Seg(uint16_t sel, bool code, int dpl, bool l, bool db) {
  Segment s{};
  s.selector = sel;
  s.base = 0;
  s.limit = 0xffffffff;
  s.type = code ? 0xb : 0x3;
  s.s = 1;
  s.dpl = static_cast<uint8_t>(dpl);
  s.present = 1;
  s.l = l;
  s.db = db;
  s.g = 1;
  return s;
}

}  // namespace

absl::StatusOr<std::vector<uint8_t>> Assemble(const std::string& source,
                                              uint64_t org) {
  char dir[] = "/tmp/skiff_tcg_asmXXXXXX";
  if (mkdtemp(dir) == nullptr) return ErrnoStatus("mkdtemp");
  const std::string in = absl::StrCat(dir, "/in.asm");
  const std::string out = absl::StrCat(dir, "/out.bin");
  {
    std::ofstream f(in);
    f << "BITS 64\nORG 0x" << std::hex << org << "\n" << source << "\n";
  }
  const std::string cmd =
      absl::StrCat("nasm -f bin -o ", out, " ", in, " 2>", dir, "/err.txt");
  const int rc = system(cmd.c_str());
  std::ifstream f(out, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)),
                             std::istreambuf_iterator<char>());
  std::ifstream ef(absl::StrCat(dir, "/err.txt"));
  std::stringstream err;
  err << ef.rdbuf();
  (void)system(absl::StrCat("rm -rf ", dir).c_str());
  if (rc != 0) {
    if (rc == 127 * 256) return absl::NotFoundError("nasm not installed");
    return absl::InvalidArgumentError(absl::StrCat("nasm: ", err.str()));
  }
  return bytes;
}

void RecordingIo::Record(const Access& a) {
  absl::MutexLock lock(&mu_);
  accesses_.push_back(a);
}
std::vector<RecordingIo::Access> RecordingIo::accesses() const {
  absl::MutexLock lock(&mu_);
  return accesses_;
}
void RecordingIo::PioRead(uint16_t port, absl::Span<uint8_t> data) {
  std::memcpy(data.data(), &pio_value, data.size());
  Record({false, false, port, static_cast<int>(data.size()), Le(data)});
}
void RecordingIo::PioWrite(uint16_t port, absl::Span<const uint8_t> data) {
  Record({false, true, port, static_cast<int>(data.size()), Le(data)});
}
void RecordingIo::MmioRead(uint64_t addr, absl::Span<uint8_t> data) {
  std::memcpy(data.data(), &mmio_value, data.size());
  Record({true, false, addr, static_cast<int>(data.size()), Le(data)});
}
void RecordingIo::MmioWrite(uint64_t addr, absl::Span<const uint8_t> data) {
  Record({true, true, addr, static_cast<int>(data.size()), Le(data)});
}

Sregs FlatLongModeSregs() {
  Sregs s{};
  s.cs = Seg(kKernelCs, true, 0, true, false);
  s.ds = s.es = s.ss = Seg(kKernelDs, false, 0, false, true);
  s.fs = s.gs = s.ds;
  s.tr = Segment{};
  s.tr.selector = kTssSel;
  s.tr.base = kTssAddr;
  s.tr.limit = 0x67;
  s.tr.type = 0xb;
  s.tr.present = 1;
  s.ldt = Segment{};
  s.ldt.unusable = 1;
  s.gdt = {kGdtAddr, 0x47};
  s.idt = {kIdtAddr, 0xfff};
  s.cr0 = kCr0Pe | kCr0Mp | kCr0Et | kCr0Ne | kCr0Wp | kCr0Pg;
  s.cr3 = kPml4Addr;
  s.cr4 = kCr4Pae | kCr4Pge;
  s.efer = kEferSce | kEferLme | kEferLma | kEferNxe;
  s.apic_base = 0xfee00900;
  return s;
}

absl::StatusOr<std::unique_ptr<FlatMachine>> FlatMachine::Create(
    const Options& options) {
  auto m = std::unique_ptr<FlatMachine>(new FlatMachine());
  SKIFF_RETURN_IF_ERROR(m->Setup(options));
  return m;
}

absl::Status FlatMachine::Setup(const Options& options) {
  SKIFF_ASSIGN_OR_RETURN(
      memory_, GuestMemory::Create({{GuestAddr(0), options.memory_size}},
                                   {.memfd = options.memfd}));
  SKIFF_ASSIGN_OR_RETURN(
      vm_, TcgVm::Create(*memory_, {.num_vcpus = options.num_vcpus}));
  GuestMemory& mem = *memory_;
  auto w64 = [&mem](uint64_t a, uint64_t v) {
    return mem.WriteObj(GuestAddr(a), v);
  };
  // Paging: identity map, 4 KiB pages for the first 2 MiB.
  SKIFF_RETURN_IF_ERROR(w64(kPml4Addr, 0x2000 | 7));
  SKIFF_RETURN_IF_ERROR(w64(0x2000, 0x3000 | 7));
  SKIFF_RETURN_IF_ERROR(w64(0x2000 + 3 * 8, kMmioBase | 0x87));  // 1 GiB page
  SKIFF_RETURN_IF_ERROR(w64(0x3000, kPtAddr | 7));
  for (uint64_t i = 1; i < 512; ++i) {
    SKIFF_RETURN_IF_ERROR(w64(0x3000 + i * 8, (i << 21) | 0x87));
  }
  for (uint64_t i = 0; i < 512; ++i) {
    SKIFF_RETURN_IF_ERROR(w64(kPtAddr + i * 8, (i << 12) | 7));
  }
  SKIFF_RETURN_IF_ERROR(w64(kPtAddr, 0));  // page 0 unmapped: catch NULL
  // GDT.
  const uint64_t gdt[] = {0,
                          Descriptor(true, 0, false, true),
                          Descriptor(true, 0, true, false),
                          Descriptor(false, 0, false, true),
                          Descriptor(true, 3, false, true),
                          Descriptor(false, 3, false, true),
                          Descriptor(true, 3, true, false)};
  for (size_t i = 0; i < 7; ++i) {
    SKIFF_RETURN_IF_ERROR(w64(kGdtAddr + i * 8, gdt[i]));
  }
  // 64-bit busy TSS descriptor at 0x38.
  uint64_t tss = 0x67 | ((kTssAddr & 0xffffff) << 16) | (0xbull << 40) |
                 (1ull << 47) | (((kTssAddr >> 24) & 0xff) << 56);
  SKIFF_RETURN_IF_ERROR(w64(kGdtAddr + 0x38, tss));
  SKIFF_RETURN_IF_ERROR(w64(kGdtAddr + 0x40, kTssAddr >> 32));
  // TSS: RSP0 and IST1 (Intel SDM vol. 3, figure 8-11).
  SKIFF_RETURN_IF_ERROR(w64(kTssAddr + 4, kRsp0Top));
  SKIFF_RETURN_IF_ERROR(w64(kTssAddr + 0x24, kIst1Top));
  // No I/O permission bitmap: its base (TSS+0x66) points past the limit, as
  // Linux leaves it for a task without ioperm(), so CPL 3 port I/O faults.
  SKIFF_RETURN_IF_ERROR(w64(kTssAddr + 0x60, uint64_t{0x68} << 48));
  // IDT: interrupt gates to stubs "mov r14, vector; hlt", DPL 3 so that
  // INT n works from user mode too.
  for (uint64_t v = 0; v < 256 && options.install_idt; ++v) {
    const uint64_t stub = kStubAddr + v * 16;
    const uint8_t code[8] = {0x49, 0xc7, 0xc6, static_cast<uint8_t>(v),
                             0,    0,    0,    0xf4};
    SKIFF_RETURN_IF_ERROR(mem.Write(GuestAddr(stub), code));
    const uint64_t lo = (stub & 0xffff) | (uint64_t{kKernelCs} << 16) |
                        (0xeull << 40) | (3ull << 45) | (1ull << 47) |
                        (((stub >> 16) & 0xffff) << 48);
    SKIFF_RETURN_IF_ERROR(w64(kIdtAddr + v * 16, lo));
    SKIFF_RETURN_IF_ERROR(w64(kIdtAddr + v * 16 + 8, stub >> 32));
  }
  Sregs sregs = FlatLongModeSregs();
  if (!options.install_idt) sregs.idt = {0, 0};
  for (int i = 0; i < options.num_vcpus; ++i) {
    SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<VcpuBackend> v, vm_->CreateVcpu(i));
    vcpus_.emplace_back(static_cast<TcgVcpu*>(v.release()));
    if (options.compile_eagerly) vcpus_.back()->set_jit_eager();
    SKIFF_RETURN_IF_ERROR(vcpus_.back()->SetSregs(sregs));
    Regs regs{};
    regs.rip = kCodeAddr;
    regs.rsp = kStackTop - 0x1000 * static_cast<uint64_t>(i);
    regs.rflags = kRflagsReserved1;
    SKIFF_RETURN_IF_ERROR(vcpus_.back()->SetRegs(regs));
  }
  return absl::OkStatus();
}

absl::Status FlatMachine::LoadCode(absl::Span<const uint8_t> code,
                                   uint64_t addr) {
  SKIFF_RETURN_IF_ERROR(memory_->Write(GuestAddr(addr), code));
  for (auto& v : vcpus_) {
    Regs r;
    SKIFF_RETURN_IF_ERROR(v->GetRegs(r));
    r.rip = addr;
    SKIFF_RETURN_IF_ERROR(v->SetRegs(r));
  }
  return absl::OkStatus();
}

Regs FlatMachine::regs(int index) {
  Regs r{};
  (void)vcpu(index).GetRegs(r);
  return r;
}
void FlatMachine::SetRegs(const Regs& regs, int index) {
  (void)vcpu(index).SetRegs(regs);
}
Sregs FlatMachine::sregs(int index) {
  Sregs s{};
  (void)vcpu(index).GetSregs(s);
  return s;
}
uint64_t FlatMachine::Read64(uint64_t addr) {
  return memory_->ReadObj<uint64_t>(GuestAddr(addr)).value_or(0);
}
void FlatMachine::Write64(uint64_t addr, uint64_t value) {
  (void)memory_->WriteObj(GuestAddr(addr), value);
}

}  // namespace skiff::tcg::testing
