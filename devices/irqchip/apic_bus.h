// The APIC bus: delivers interrupt messages (IPIs from a local APIC's ICR,
// interrupts from the IOAPIC) to the local APICs they address, and carries
// EOI broadcasts from the local APICs back to the IOAPIC. Destination
// matching follows Intel SDM vol. 3 section 10.6.2 (physical, logical flat
// and cluster, x2APIC logical in 10.12.10) and 10.6.1 (shorthands).
//
//   ApicBus bus;
//   bus.AddLapic(&lapic0);  bus.AddLapic(&lapic1);   // setup, before use
//   bus.SetEoiListener(&ioapic);
//   bus.Deliver({.vector = 0x40, .destination = 1});  // fixed, physical 1
//
// Thread-safety: AddLapic/SetEoiListener are setup-time only (before any
// vCPU runs); Deliver/BroadcastEoi are thread-safe and take each target
// Lapic's lock in turn, never two at once, so callers may hold an IOAPIC or
// PIC lock but must not hold a Lapic lock.
#ifndef SKIFF_DEVICES_IRQCHIP_APIC_BUS_H_
#define SKIFF_DEVICES_IRQCHIP_APIC_BUS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace skiff::devices {

class Lapic;

// Delivery modes as encoded in the ICR and IOAPIC redirection entries
// (SDM vol. 3 section 10.6.1, ICR bits 8-10; 82093AA IOAPIC datasheet
// section 3.2.4, redirection entry bits 8-10).
enum class DeliveryMode : uint8_t {
  kFixed = 0,
  kLowestPriority = 1,
  kSmi = 2,
  kNmi = 4,
  kInit = 5,
  kStartup = 6,
  kExtInt = 7,
};

// ICR destination shorthand, bits 18-19.
enum class Shorthand : uint8_t {
  kNone = 0,
  kSelf = 1,
  kAllIncludingSelf = 2,
  kAllExcludingSelf = 3,
};

struct ApicMessage {
  uint8_t vector = 0;
  DeliveryMode mode = DeliveryMode::kFixed;
  bool logical = false;          // destination mode
  bool level_triggered = false;  // sets the TMR bit; EOI is then broadcast
  // 8 bits in xAPIC format (ICR high 31:24, IOAPIC 63:56); 32 bits when
  // x2apic_format (sent by an x2APIC-mode ICR).
  uint32_t destination = 0;
  bool x2apic_format = false;
  Shorthand shorthand = Shorthand::kNone;
  int source_cpu = -1;  // the sender, for the self shorthands
};

// Told when a local APIC retires a level-triggered vector (the IOAPIC).
class EoiListener {
 public:
  virtual ~EoiListener() = default;
  virtual void OnEoi(uint8_t vector) = 0;
};

class ApicBus {
 public:
  // Setup only. The Lapic must outlive the bus's use.
  void AddLapic(Lapic* lapic) { lapics_.push_back(lapic); }
  void SetEoiListener(EoiListener* listener) { eoi_listener_ = listener; }

  // Delivers to every matching Lapic (one for lowest priority: the first
  // match, which is what Linux's flat/physical modes need; SDM 10.6.2.4
  // leaves the choice among equals to the hardware). Returns how many
  // accepted the message.
  int Deliver(const ApicMessage& message) const;
  void BroadcastEoi(uint8_t vector) const;

  size_t size() const { return lapics_.size(); }

 private:
  bool Targets(const Lapic& lapic, const ApicMessage& message) const;

  // Constant once vCPUs run.
  std::vector<Lapic*> lapics_;
  EoiListener* eoi_listener_ = nullptr;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_IRQCHIP_APIC_BUS_H_
