#include "devices/irqchip/irqchip.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace skiff::devices {

// One device's IrqLine: remembers its own level so lines sharing a GSI can
// be OR-ed.
class UserspaceIrqChip::Line : public IrqLine {
 public:
  Line(UserspaceIrqChip* chip, uint32_t gsi) : chip_(chip), gsi_(gsi) {}
  void SetLevel(bool asserted) override {
    chip_->SetLineLevel(gsi_, level_, asserted);
  }

 private:
  UserspaceIrqChip* const chip_;
  const uint32_t gsi_;
  // Only read and written under the chip's lines_mu_ (in SetLineLevel).
  bool level_ = false;
};

absl::StatusOr<std::unique_ptr<UserspaceIrqChip>> UserspaceIrqChip::Create(
    int num_cpus, GuestClock& clock, CpuControl& cpus,
    TimerQueue::Mode timer_mode, std::function<void()> on_timer_thread_start) {
  if (num_cpus < 1 || num_cpus > kMaxCpus) {
    return absl::InvalidArgumentError(absl::StrCat(
        "userspace irqchip: ", num_cpus, " vCPUs, supported 1 to ", kMaxCpus));
  }
  return std::unique_ptr<UserspaceIrqChip>(new UserspaceIrqChip(
      num_cpus, clock, cpus, timer_mode, std::move(on_timer_thread_start)));
}

UserspaceIrqChip::UserspaceIrqChip(int num_cpus, GuestClock& clock,
                                   CpuControl& cpus,
                                   TimerQueue::Mode timer_mode,
                                   std::function<void()> on_timer_thread_start)
    : timers_(std::make_unique<TimerQueue>(clock, timer_mode,
                                           std::move(on_timer_thread_start))) {
  for (int i = 0; i < num_cpus; ++i) {
    lapics_.push_back(std::make_unique<Lapic>(i, apic_bus_, *timers_, cpus));
    apic_bus_.AddLapic(lapics_.back().get());
  }
  ioapic_ = std::make_shared<IoApic>(apic_bus_);
  apic_bus_.SetEoiListener(ioapic_.get());
  pic_ = std::make_shared<Pic>(&lapics_[0]->lint0());
  lapics_[0]->ConnectExtInt(pic_.get());
  pit_line_ = std::make_unique<Line>(this, 0);
  pit_ = std::make_shared<Pit>(pit_line_.get(), *timers_);
}

UserspaceIrqChip::~UserspaceIrqChip() {
  // The buses may keep the Pit alive past the TimerQueue: cut it off now.
  pit_->Shutdown();
}

absl::Status UserspaceIrqChip::Attach(Bus& pio, Bus& mmio) {
  SKIFF_RETURN_IF_ERROR(
      mmio.Insert(ioapic_, IoApic::kBaseAddress, IoApic::kSize));
  SKIFF_RETURN_IF_ERROR(
      pio.Insert(std::make_shared<PicPorts>(pic_, PicPorts::kMaster), 0x20, 2));
  SKIFF_RETURN_IF_ERROR(
      pio.Insert(std::make_shared<PicPorts>(pic_, PicPorts::kSlave), 0xa0, 2));
  SKIFF_RETURN_IF_ERROR(
      pio.Insert(std::make_shared<PicPorts>(pic_, PicPorts::kElcr), 0x4d0, 2));
  SKIFF_RETURN_IF_ERROR(pio.Insert(pit_, Pit::kBasePort, Pit::kPorts));
  SKIFF_RETURN_IF_ERROR(
      pio.Insert(std::make_shared<SpeakerPort>(pit_), SpeakerPort::kPort, 1));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<IrqLine>> UserspaceIrqChip::CreateIrqLine(
    uint32_t gsi) {
  if (gsi >= kNumGsis) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GSI ", gsi, " out of range: the IOAPIC has ", kNumGsis, " pins"));
  }
  if (gsi == 2) {
    return absl::InvalidArgumentError(
        "GSI 2 is ISA IRQ 0 (the PIT), not available to devices");
  }
  return std::unique_ptr<IrqLine>(new Line(this, gsi));
}

void UserspaceIrqChip::SetLineLevel(uint32_t gsi, bool& line_level,
                                    bool asserted) {
  absl::MutexLock lock(&lines_mu_);
  if (line_level == asserted) return;
  line_level = asserted;
  int& count = asserted_[gsi];
  const bool before = count > 0;
  count += asserted ? 1 : -1;
  const bool after = count > 0;
  if (before == after) return;
  if (gsi < 16) pic_->SetIrq(gsi, after);
  ioapic_->SetPin(gsi == 0 ? 2 : gsi, after);
}

}  // namespace skiff::devices
