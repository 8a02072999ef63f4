#include "devices/legacy/serial_8250.h"

namespace skiff::devices {
namespace {

// Register offsets (16550D datasheet, table 2).
constexpr uint64_t kRbrThr = 0;  // DLAB=0; DLL when DLAB=1
constexpr uint64_t kIer = 1;     // DLAB=0; DLM when DLAB=1
constexpr uint64_t kIirFcr = 2;  // IIR on read, FCR on write
constexpr uint64_t kLcr = 3;
constexpr uint64_t kMcr = 4;
constexpr uint64_t kLsr = 5;
constexpr uint64_t kMsr = 6;
constexpr uint64_t kScr = 7;

// IER bits. Bits 4-7 do not exist on a 16550A; Linux's autoconfig() checks
// they read back as zero (it probes for XScale's UUE bit 6 that way).
constexpr uint8_t kIerRdi = 0x01;   // received data available
constexpr uint8_t kIerThri = 0x02;  // THR empty
constexpr uint8_t kIerRlsi = 0x04;  // receiver line status
constexpr uint8_t kIerMsi = 0x08;   // modem status
constexpr uint8_t kIerMask = 0x0f;

// IIR values, in priority order. Bits 6-7 report enabled FIFOs, which is how
// autoconfig() tells a 16550A (both set) from a 16450 (neither).
constexpr uint8_t kIirNoInterrupt = 0x01;
constexpr uint8_t kIirLineStatus = 0x06;
constexpr uint8_t kIirRxData = 0x04;
constexpr uint8_t kIirThrEmpty = 0x02;
constexpr uint8_t kIirModemStatus = 0x00;
constexpr uint8_t kIirFifosEnabled = 0xc0;

// FCR bits.
constexpr uint8_t kFcrEnable = 0x01;
constexpr uint8_t kFcrClearRx = 0x02;

constexpr uint8_t kLcrDlab = 0x80;

// MCR bits. In loopback the four outputs drive the four modem inputs:
// DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD (16550D section 8.6.5).
constexpr uint8_t kMcrDtr = 0x01;
constexpr uint8_t kMcrRts = 0x02;
constexpr uint8_t kMcrOut1 = 0x04;
constexpr uint8_t kMcrOut2 = 0x08;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kMcrMask = 0x1f;

// LSR bits.
constexpr uint8_t kLsrDr = 0x01;
constexpr uint8_t kLsrOe = 0x02;
constexpr uint8_t kLsrThre = 0x20;
constexpr uint8_t kLsrTemt = 0x40;

// MSR bits: deltas in 0-3, line states in 4-7.
constexpr uint8_t kMsrDcts = 0x01;
constexpr uint8_t kMsrDdsr = 0x02;
constexpr uint8_t kMsrTeri = 0x04;
constexpr uint8_t kMsrDdcd = 0x08;
constexpr uint8_t kMsrCts = 0x10;
constexpr uint8_t kMsrDsr = 0x20;
constexpr uint8_t kMsrRi = 0x40;
constexpr uint8_t kMsrDcd = 0x80;

}  // namespace

Serial8250::Serial8250(IrqLine* irq, std::shared_ptr<OutputSink> sink,
                       size_t input_limit)
    : irq_(irq), sink_(std::move(sink)), input_limit_(input_limit) {}

void Serial8250::Read(uint64_t offset, absl::Span<uint8_t> data) {
  absl::MutexLock lock(&mu_);
  // The UART is byte-wide; a wider access reads consecutive registers, as
  // QEMU's access splitting does.
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t reg = offset + i;
    data[i] = reg < kRegisterCount ? ReadRegister(reg) : 0xff;
  }
  UpdateIrq();
}

void Serial8250::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t reg = offset + i;
    if (reg < kRegisterCount) WriteRegister(reg, data[i]);
  }
  UpdateIrq();
}

void Serial8250::QueueInput(absl::Span<const uint8_t> bytes) {
  absl::MutexLock lock(&mu_);
  for (uint8_t b : bytes) Receive(b);
  UpdateIrq();
}

uint64_t Serial8250::dropped_input() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

size_t Serial8250::queued_input() const {
  absl::MutexLock lock(&mu_);
  return rx_.size();
}

uint8_t Serial8250::ReadRegister(uint64_t reg) {
  const bool dlab = (lcr_ & kLcrDlab) != 0;
  switch (reg) {
    case kRbrThr: {
      if (dlab) return dll_;
      if (rx_.empty()) return 0;
      uint8_t b = rx_.front();
      rx_.pop_front();
      return b;
    }
    case kIer:
      return dlab ? dlm_ : ier_;
    case kIirFcr: {
      uint8_t iir = PendingInterrupt();
      // Reading IIR acknowledges a THR-empty interrupt it reports (16550D
      // table 4, "reading the IIR ... if source of interrupt"). Linux's
      // serial8250_startup() relies on this and on IER re-arming it to
      // decide whether the UART has the THRE bug.
      if (iir == kIirThrEmpty) thr_pending_ = false;
      return iir | (fifo_enabled_ ? kIirFifosEnabled : 0);
    }
    case kLcr:
      return lcr_;
    case kMcr:
      return mcr_;
    case kLsr: {
      // The transmitter is always empty: bytes leave at once.
      uint8_t lsr = kLsrThre | kLsrTemt | line_errors_;
      if (!rx_.empty()) lsr |= kLsrDr;
      line_errors_ = 0;
      return lsr;
    }
    case kMsr: {
      uint8_t msr = ModemStatusLines() | msr_deltas_;
      msr_deltas_ = 0;
      return msr;
    }
    case kScr:
      return scr_;
  }
  return 0xff;
}

void Serial8250::WriteRegister(uint64_t reg, uint8_t value) {
  const bool dlab = (lcr_ & kLcrDlab) != 0;
  switch (reg) {
    case kRbrThr:
      if (dlab) {
        dll_ = value;
      } else {
        Transmit(value);
      }
      return;
    case kIer: {
      if (dlab) {
        dlm_ = value;
        return;
      }
      uint8_t old = ier_;
      ier_ = value & kIerMask;
      // Enabling THRI with an empty transmitter raises the interrupt at
      // once; serial8250_startup() checks a real 16550 re-asserts it.
      if ((old ^ ier_) & kIerThri) thr_pending_ = (ier_ & kIerThri) != 0;
      return;
    }
    case kIirFcr: {
      bool enable = (value & kFcrEnable) != 0;
      // Changing the FIFO enable resets both FIFOs (16550D FCR bit 0).
      if ((value & kFcrClearRx) || enable != fifo_enabled_) rx_.clear();
      fifo_enabled_ = enable;
      return;
    }
    case kLcr:
      lcr_ = value;
      return;
    case kMcr: {
      uint8_t before = ModemStatusLines();
      mcr_ = value & kMcrMask;
      uint8_t after = ModemStatusLines();
      uint8_t changed = before ^ after;
      if (changed & kMsrCts) msr_deltas_ |= kMsrDcts;
      if (changed & kMsrDsr) msr_deltas_ |= kMsrDdsr;
      if (changed & kMsrDcd) msr_deltas_ |= kMsrDdcd;
      // TERI flags the trailing edge of RI only.
      if ((before & kMsrRi) && !(after & kMsrRi)) msr_deltas_ |= kMsrTeri;
      return;
    }
    case kLsr:
    case kMsr:
      // Factory-test writes on real parts; ignored, as QEMU does.
      return;
    case kScr:
      scr_ = value;
      return;
  }
}

void Serial8250::Transmit(uint8_t byte) {
  if (mcr_ & kMcrLoop) {
    // Loopback: the transmitter output feeds the receiver.
    Receive(byte);
  } else if (sink_ != nullptr) {
    sink_->Write(absl::MakeConstSpan(&byte, 1));
  }
  // The byte left at once, so the THR is empty again.
  thr_pending_ = true;
}

void Serial8250::Receive(uint8_t byte) {
  if (rx_.size() >= input_limit_) {
    ++dropped_;
    line_errors_ |= kLsrOe;
    return;
  }
  rx_.push_back(byte);
}

uint8_t Serial8250::ModemStatusLines() const {
  if (mcr_ & kMcrLoop) {
    uint8_t msr = 0;
    if (mcr_ & kMcrRts) msr |= kMsrCts;
    if (mcr_ & kMcrDtr) msr |= kMsrDsr;
    if (mcr_ & kMcrOut1) msr |= kMsrRi;
    if (mcr_ & kMcrOut2) msr |= kMsrDcd;
    return msr;
  }
  // A null-modem console: carrier, data set ready and clear to send.
  return kMsrDcd | kMsrDsr | kMsrCts;
}

uint8_t Serial8250::PendingInterrupt() const {
  if ((ier_ & kIerRlsi) && line_errors_ != 0) return kIirLineStatus;
  if ((ier_ & kIerRdi) && !rx_.empty()) return kIirRxData;
  if ((ier_ & kIerThri) && thr_pending_) return kIirThrEmpty;
  if ((ier_ & kIerMsi) && msr_deltas_ != 0) return kIirModemStatus;
  return kIirNoInterrupt;
}

void Serial8250::UpdateIrq() {
  // Unlike a PC's COM port, OUT2 does not gate the line (QEMU and
  // Firecracker do the same); Linux sets OUT2 anyway.
  bool level = PendingInterrupt() != kIirNoInterrupt;
  if (level == irq_level_) return;
  irq_level_ = level;
  if (irq_ != nullptr) irq_->SetLevel(level);
}

}  // namespace skiff::devices
