#include "devices/irqchip/apic_bus.h"

#include "devices/irqchip/lapic.h"

namespace skiff::devices {

bool ApicBus::Targets(const Lapic& lapic, const ApicMessage& message) const {
  switch (message.shorthand) {
    case Shorthand::kSelf:
      return lapic.cpu() == message.source_cpu;
    case Shorthand::kAllIncludingSelf:
      return true;
    case Shorthand::kAllExcludingSelf:
      return lapic.cpu() != message.source_cpu;
    case Shorthand::kNone:
      break;
  }
  return lapic.MatchesDestination(message.destination, message.logical,
                                  message.x2apic_format);
}

int ApicBus::Deliver(const ApicMessage& message) const {
  int accepted = 0;
  for (Lapic* lapic : lapics_) {
    if (!Targets(*lapic, message)) continue;
    lapic->Accept(message);
    ++accepted;
    if (message.mode == DeliveryMode::kLowestPriority) break;
  }
  return accepted;
}

void ApicBus::BroadcastEoi(uint8_t vector) const {
  if (eoi_listener_ != nullptr) eoi_listener_->OnEoi(vector);
}

}  // namespace skiff::devices
