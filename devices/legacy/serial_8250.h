// A 16550A UART as Linux's 8250 driver expects it, with the eight registers
// at offsets 0-7 of its range (0x3f8-0x3ff for COM1). Transmitted bytes go to
// an OutputSink at once (the transmitter is always empty); received bytes come
// from QueueInput() on an input thread and wait in a bounded FIFO. The
// interrupt output is level-triggered on an IrqLine (GSI 4 for COM1).
//
//   auto uart = std::make_shared<Serial8250>(irq4.get(),
//                                            FdSink::Borrow(STDOUT_FILENO));
//   SKIFF_RETURN_IF_ERROR(pio.Insert(uart, 0x3f8, 8));
//   ... input thread: uart->QueueInput(bytes_from_stdin);
//
// Register reference: the NS16550A / TI PC16550D datasheet, and Linux
// drivers/tty/serial/8250/8250_port.c (autoconfig(), serial8250_startup()).
//
// Thread-safety: all state is guarded by one mutex; Read/Write run on vCPU
// threads, QueueInput on the input thread. Lock order: the device lock is
// held while calling OutputSink::Write and IrqLine::SetLevel (device lock ->
// sink lock, device lock -> irq line), so neither may call back into the
// device.
#ifndef SKIFF_DEVICES_LEGACY_SERIAL_8250_H_
#define SKIFF_DEVICES_LEGACY_SERIAL_8250_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "base/vcpu_backend.h"
#include "devices/bus.h"
#include "devices/legacy/output_sink.h"

namespace skiff::devices {

class Serial8250 : public BusDevice {
 public:
  static constexpr uint64_t kRegisterCount = 8;
  static constexpr size_t kDefaultInputLimit = 64 * 1024;

  // `irq` may be null (no interrupt wiring; a polling guest still works);
  // `sink` may be null (output discarded). Neither is owned beyond `sink`'s
  // share; `irq` must outlive the device.
  Serial8250(IrqLine* irq, std::shared_ptr<OutputSink> sink,
             size_t input_limit = kDefaultInputLimit);

  void Read(uint64_t offset, absl::Span<uint8_t> data) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override
      ABSL_LOCKS_EXCLUDED(mu_);

  // Bytes arriving on the serial line (e.g. from stdin). Bytes beyond the
  // input limit are dropped and counted, and the guest sees an overrun
  // (LSR.OE). Input is queued in loopback mode too (a real UART would ignore
  // its serial input then; Linux is in loopback only while probing). Like a
  // real UART, the guest discards queued input when it resets the FIFOs, as
  // Linux does when a tty first opens the port. Thread-safe.
  void QueueInput(absl::Span<const uint8_t> bytes) ABSL_LOCKS_EXCLUDED(mu_);

  uint64_t dropped_input() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t queued_input() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  uint8_t ReadRegister(uint64_t reg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteRegister(uint64_t reg, uint8_t value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Transmit(uint8_t byte) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Receive(uint8_t byte) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint8_t ModemStatusLines() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The IIR interrupt identification (bits 0-3) of the highest-priority
  // enabled pending interrupt, or kIirNoInterrupt.
  uint8_t PendingInterrupt() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drives the IrqLine to match PendingInterrupt(), on changes only.
  void UpdateIrq() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  IrqLine* const irq_;
  const std::shared_ptr<OutputSink> sink_;
  const size_t input_limit_;

  mutable absl::Mutex mu_;
  uint8_t ier_ ABSL_GUARDED_BY(mu_) = 0;
  uint8_t lcr_ ABSL_GUARDED_BY(mu_) = 0;
  uint8_t mcr_ ABSL_GUARDED_BY(mu_) = 0;
  uint8_t scr_ ABSL_GUARDED_BY(mu_) = 0;
  uint8_t dll_ ABSL_GUARDED_BY(mu_) = 0x0c;  // 9600 baud at 1.8432 MHz
  uint8_t dlm_ ABSL_GUARDED_BY(mu_) = 0;
  bool fifo_enabled_ ABSL_GUARDED_BY(mu_) = false;
  // LSR error bits (OE, PE, FE, BI); cleared by reading LSR.
  uint8_t line_errors_ ABSL_GUARDED_BY(mu_) = 0;
  // MSR delta bits (DCTS, DDSR, TERI, DDCD); cleared by reading MSR.
  uint8_t msr_deltas_ ABSL_GUARDED_BY(mu_) = 0;
  // The THR-empty interrupt condition, separate from LSR.THRE because
  // reading IIR clears it while the transmitter stays empty.
  bool thr_pending_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<uint8_t> rx_ ABSL_GUARDED_BY(mu_);
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  bool irq_level_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_LEGACY_SERIAL_8250_H_
