#include "kvm/exit_handler.h"

#include <linux/kvm.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace skiff::kvm {
namespace {

VcpuExit Simple(VcpuExit::Kind kind, uint32_t reason) {
  VcpuExit exit;
  exit.kind = kind;
  exit.reason = reason;
  return exit;
}

VcpuExit InternalError(uint32_t reason, std::string message) {
  VcpuExit exit = Simple(VcpuExit::Kind::kInternalError, reason);
  exit.message = std::move(message);
  return exit;
}

// KVM_EXIT_IO: `count` elements of `size` bytes at data_offset. For OUTS the
// kernel has already copied the guest's buffer there; for INS it copies our
// data into the guest when KVM_RUN resumes.
std::optional<VcpuExit> HandleIo(absl::Span<uint8_t> mapping, kvm_run& run,
                                 VcpuIo& io) {
  const auto& pio = run.io;
  const uint64_t size = pio.size;
  const uint64_t count = pio.count;
  const uint64_t offset = pio.data_offset;
  const bool size_ok = size == 1 || size == 2 || size == 4;
  // count <= mapping size keeps size * count far from overflowing.
  if (!size_ok || count == 0 || count > mapping.size() ||
      offset > mapping.size() || size * count > mapping.size() - offset) {
    return InternalError(
        KVM_EXIT_IO,
        absl::StrFormat("malformed KVM_EXIT_IO port=0x%x size=%u count=%u "
                        "data_offset=0x%x mapping=0x%x",
                        pio.port, size, count, offset, mapping.size()));
  }
  uint8_t* data = mapping.data() + offset;
  for (uint64_t i = 0; i < count; ++i) {
    absl::Span<uint8_t> element(data + i * size, size);
    if (pio.direction == KVM_EXIT_IO_OUT) {
      io.PioWrite(pio.port, element);
    } else {
      io.PioRead(pio.port, element);
    }
  }
  return std::nullopt;
}

std::optional<VcpuExit> HandleMmio(kvm_run& run, VcpuIo& io) {
  auto& mmio = run.mmio;
  if (mmio.len == 0 || mmio.len > sizeof(mmio.data)) {
    return InternalError(
        KVM_EXIT_MMIO,
        absl::StrFormat("malformed KVM_EXIT_MMIO addr=0x%x len=%u",
                        mmio.phys_addr, mmio.len));
  }
  absl::Span<uint8_t> data(mmio.data, mmio.len);
  if (mmio.is_write) {
    io.MmioWrite(mmio.phys_addr, data);
  } else {
    io.MmioRead(mmio.phys_addr, data);
  }
  return std::nullopt;
}

VcpuExit HandleInternalError(const kvm_run& run) {
  const auto& internal = run.internal;
  VcpuExit exit = InternalError(KVM_EXIT_INTERNAL_ERROR,
                                InternalErrorName(internal.suberror));
  exit.suberror = internal.suberror;
  const uint32_t ndata =
      std::min<uint32_t>(internal.ndata, std::size(internal.data));
  if (internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
    const auto& ef = run.emulation_failure;
    // flags and the instruction bytes occupy data[0..2] of `internal`.
    if (ndata >= 3 &&
        (ef.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
      exit.insn_len = std::min<uint8_t>(ef.insn_size, sizeof(ef.insn_bytes));
      std::copy_n(ef.insn_bytes, exit.insn_len, exit.insn.begin());
    }
    return exit;
  }
  if (ndata > 0) {
    exit.message += ", data=";
    for (uint32_t i = 0; i < ndata; ++i) {
      absl::StrAppendFormat(&exit.message, "%s0x%x", i == 0 ? "" : ",",
                            internal.data[i]);
    }
  }
  return exit;
}

VcpuExit HandleSystemEvent(const kvm_run& run) {
  switch (run.system_event.type) {
    case KVM_SYSTEM_EVENT_RESET:
      return Simple(VcpuExit::Kind::kReset, KVM_EXIT_SYSTEM_EVENT);
    case KVM_SYSTEM_EVENT_SHUTDOWN:
      return Simple(VcpuExit::Kind::kPowerOff, KVM_EXIT_SYSTEM_EVENT);
    case KVM_SYSTEM_EVENT_CRASH: {
      VcpuExit exit = Simple(VcpuExit::Kind::kShutdown, KVM_EXIT_SYSTEM_EVENT);
      exit.suberror = KVM_SYSTEM_EVENT_CRASH;
      exit.message = "guest crash (KVM_SYSTEM_EVENT_CRASH)";
      return exit;
    }
    default: {
      VcpuExit exit =
          InternalError(KVM_EXIT_SYSTEM_EVENT,
                        absl::StrCat("unhandled KVM_EXIT_SYSTEM_EVENT type ",
                                     run.system_event.type));
      exit.suberror = run.system_event.type;
      return exit;
    }
  }
}

}  // namespace

std::string KvmExitReasonName(uint32_t reason) {
  switch (reason) {
#define SKIFF_KVM_EXIT_NAME(x) \
  case x:                      \
    return #x;
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_UNKNOWN)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_EXCEPTION)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_IO)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_HYPERCALL)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_DEBUG)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_HLT)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_MMIO)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_IRQ_WINDOW_OPEN)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_SHUTDOWN)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_FAIL_ENTRY)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_INTR)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_SET_TPR)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_TPR_ACCESS)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_NMI)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_INTERNAL_ERROR)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_WATCHDOG)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_SYSTEM_EVENT)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_IOAPIC_EOI)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_HYPERV)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_X86_RDMSR)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_X86_WRMSR)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_DIRTY_RING_FULL)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_AP_RESET_HOLD)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_X86_BUS_LOCK)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_XEN)
    SKIFF_KVM_EXIT_NAME(KVM_EXIT_NOTIFY)
#undef SKIFF_KVM_EXIT_NAME
    default:
      return "unknown";
  }
}

std::string InternalErrorName(uint32_t suberror) {
  switch (suberror) {
    case KVM_INTERNAL_ERROR_EMULATION:
      return "emulation failure";
    case KVM_INTERNAL_ERROR_SIMUL_EX:
      return "simultaneous exceptions";
    case KVM_INTERNAL_ERROR_DELIVERY_EV:
      return "exit while delivering an event";
    case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
      return "unexpected hardware exit reason";
    default:
      return absl::StrCat("internal error suberror ", suberror);
  }
}

size_t DrainCoalescedRing(absl::Span<uint8_t> ring_page, VcpuIo& io) {
  if (ring_page.size() <= sizeof(kvm_coalesced_mmio_ring)) return 0;
  auto* ring = reinterpret_cast<kvm_coalesced_mmio_ring*>(ring_page.data());
  // KVM_COALESCED_MMIO_MAX for this page size.
  const uint32_t max = static_cast<uint32_t>(
      (ring_page.size() - sizeof(kvm_coalesced_mmio_ring)) /
      sizeof(kvm_coalesced_mmio));
  std::atomic_ref<uint32_t> first_ref(ring->first);
  std::atomic_ref<uint32_t> last_ref(ring->last);
  size_t replayed = 0;
  for (;;) {
    const uint32_t first = first_ref.load(std::memory_order_relaxed);
    // Acquire pairs with the kernel's write barrier before it bumps `last`.
    const uint32_t last = last_ref.load(std::memory_order_acquire);
    if (first == last || first >= max) break;
    kvm_coalesced_mmio entry;
    std::memcpy(&entry, &ring->coalesced_mmio[first], sizeof(entry));
    // Release the slot only after copying it out.
    first_ref.store((first + 1) % max, std::memory_order_release);
    if (entry.len == 0 || entry.len > sizeof(entry.data)) break;
    absl::Span<const uint8_t> data(entry.data, entry.len);
    if (entry.pio) {
      io.PioWrite(static_cast<uint16_t>(entry.phys_addr), data);
    } else {
      io.MmioWrite(entry.phys_addr, data);
    }
    ++replayed;
  }
  return replayed;
}

std::optional<VcpuExit> HandleKvmExit(absl::Span<uint8_t> run_mapping,
                                      VcpuIo& io) {
  if (run_mapping.size() < sizeof(kvm_run)) {
    return InternalError(0, "kvm_run mapping smaller than struct kvm_run");
  }
  // The mapping is page-aligned (mmap), so the cast is aligned.
  kvm_run& run = *reinterpret_cast<kvm_run*>(run_mapping.data());
  const uint32_t reason = run.exit_reason;
  switch (reason) {
    case KVM_EXIT_IO:
      return HandleIo(run_mapping, run, io);
    case KVM_EXIT_MMIO:
      return HandleMmio(run, io);
    case KVM_EXIT_IRQ_WINDOW_OPEN:
      // Only requested through request_interrupt_window, which skiff never
      // sets; resuming is always correct.
      return std::nullopt;
    case KVM_EXIT_HLT:
      return Simple(VcpuExit::Kind::kHalt, reason);
    case KVM_EXIT_SHUTDOWN: {
      VcpuExit exit = Simple(VcpuExit::Kind::kShutdown, reason);
      exit.message = "triple fault or shutdown";
      return exit;
    }
    case KVM_EXIT_SYSTEM_EVENT:
      return HandleSystemEvent(run);
    case KVM_EXIT_DEBUG: {
      VcpuExit exit = Simple(VcpuExit::Kind::kDebug, reason);
      exit.rip = run.debug.arch.pc;
      exit.suberror = run.debug.arch.exception;
      return exit;
    }
    case KVM_EXIT_INTR:
      return Simple(VcpuExit::Kind::kInterrupted, reason);
    case KVM_EXIT_INTERNAL_ERROR:
      return HandleInternalError(run);
    case KVM_EXIT_FAIL_ENTRY: {
      const uint64_t hw = run.fail_entry.hardware_entry_failure_reason;
      VcpuExit exit = InternalError(
          reason, absl::StrFormat("VM entry failed: hardware_entry_failure_"
                                  "reason=0x%x cpu=%u",
                                  hw, run.fail_entry.cpu));
      exit.suberror = static_cast<uint32_t>(hw);
      return exit;
    }
    case KVM_EXIT_UNKNOWN:
      return InternalError(
          reason, absl::StrFormat("KVM_EXIT_UNKNOWN hardware_exit_reason=0x%x",
                                  run.hw.hardware_exit_reason));
    default:
      return InternalError(
          reason, absl::StrCat("unhandled KVM exit reason ", reason, " (",
                               KvmExitReasonName(reason), ")"));
  }
}

}  // namespace skiff::kvm
