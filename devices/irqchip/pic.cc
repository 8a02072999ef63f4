#include "devices/irqchip/pic.h"

namespace skiff::devices {
namespace {

constexpr int kMaster = 0;
constexpr int kSlave = 1;
constexpr int kCascadeIrq = 2;

// The priority (0 highest) of the highest-priority bit in `mask` under
// the chip's rotation, or 8 when `mask` is empty.
int Priority(uint8_t mask, uint8_t priority_add) {
  if (mask == 0) return 8;
  int priority = 0;
  while (!(mask & (1 << ((priority + priority_add) & 7)))) ++priority;
  return priority;
}

}  // namespace

void Pic::SetIrq(uint32_t irq, bool level) {
  if (irq >= 16) return;
  absl::MutexLock lock(&mu_);
  SetIrqLocked(chips_[irq / 8], static_cast<int>(irq % 8), level);
  Update();
}

// Edge-triggered inputs latch IRR on a rising edge; level-triggered ones
// follow the input (8259A "Edge and level triggered modes", ELCR).
void Pic::SetIrqLocked(Chip& chip, int irq, bool level) {
  const uint8_t bit = static_cast<uint8_t>(1 << irq);
  if (chip.elcr & bit) {
    if (level) {
      chip.irr |= bit;
      chip.last_irr |= bit;
    } else {
      chip.irr &= ~bit;
      chip.last_irr &= ~bit;
    }
    return;
  }
  if (level) {
    if (!(chip.last_irr & bit)) chip.irr |= bit;
    chip.last_irr |= bit;
  } else {
    chip.last_irr &= ~bit;
  }
}

// The IRQ (0-7) the chip would raise INTR for, or -1: the highest-priority
// unmasked request above the highest in-service priority.
int Pic::HighestRequest(const Chip& chip, bool master) const {
  int priority = Priority(chip.irr & ~chip.imr, chip.priority_add);
  if (priority == 8) return -1;
  uint8_t in_service = chip.isr;
  // Special mask mode: masked levels do not block lower priorities.
  if (chip.special_mask) in_service &= ~chip.imr;
  // Special fully nested mode: the slave may interrupt its own service.
  if (master && chip.special_fully_nested) in_service &= ~(1 << kCascadeIrq);
  int current = Priority(in_service, chip.priority_add);
  if (priority < current) return (priority + chip.priority_add) & 7;
  return -1;
}

void Pic::Update() {
  // The slave's INTR is the master's IR2 request. It follows the slave's
  // output like a level (KVM and QEMU latch it as an edge instead, which
  // leaves a spurious IRQ 15 behind when a level source on the slave drops
  // before the INTA cycle).
  if (HighestRequest(chips_[kSlave], false) >= 0) {
    chips_[kMaster].irr |= 1 << kCascadeIrq;
  } else {
    chips_[kMaster].irr &= ~(1 << kCascadeIrq);
  }
  bool level = HighestRequest(chips_[kMaster], true) >= 0;
  if (level != intr_level_) {
    intr_level_ = level;
    if (intr_ != nullptr) intr_->SetLevel(level);
  }
}

void Pic::Ack(Chip& chip, int irq) {
  const uint8_t bit = static_cast<uint8_t>(1 << irq);
  chip.isr |= bit;
  // A level-triggered request stays in IRR while the input is asserted.
  if (!(chip.elcr & bit)) chip.irr &= ~bit;
  if (chip.auto_eoi) {
    if (chip.rotate_on_auto_eoi) chip.priority_add = (irq + 1) & 7;
    chip.isr &= ~bit;
  }
}

int Pic::Acknowledge() {
  absl::MutexLock lock(&mu_);
  Chip& master = chips_[kMaster];
  Chip& slave = chips_[kSlave];
  int vector;
  int irq = HighestRequest(master, true);
  if (irq >= 0) {
    Ack(master, irq);
    if (irq == kCascadeIrq) {
      int irq2 = HighestRequest(slave, false);
      if (irq2 >= 0) {
        Ack(slave, irq2);
      } else {
        irq2 = 7;  // spurious IRQ 15: no ISR bit set
      }
      vector = slave.irq_base + irq2;
    } else {
      vector = master.irq_base + irq;
    }
  } else {
    vector = master.irq_base + 7;  // spurious IRQ 7
  }
  Update();
  return vector;
}

uint8_t Pic::ReadPort(Port port) {
  absl::MutexLock lock(&mu_);
  switch (port) {
    case Port::kElcrMaster:
      return chips_[kMaster].elcr;
    case Port::kElcrSlave:
      return chips_[kSlave].elcr;
    default:
      break;
  }
  const int index = (port == Port::kMasterCommand || port == Port::kMasterData)
                        ? kMaster
                        : kSlave;
  Chip& chip = chips_[index];
  if (chip.poll) return Poll(index);
  if (port == Port::kMasterData || port == Port::kSlaveData) return chip.imr;
  return chip.read_isr ? chip.isr : chip.irr;
}

// Poll mode (OCW3 bit 2): the next read is an acknowledge that returns
// 0x80 | level when a request is pending (8259A "The Poll Command").
uint8_t Pic::Poll(int index) {
  Chip& chip = chips_[index];
  chip.poll = false;
  int irq = HighestRequest(chip, index == kMaster);
  if (irq < 0) return 0;
  Ack(chip, irq);
  if (index == kSlave) {
    // The master saw the cascade request as well.
    chips_[kMaster].irr &= ~(1 << kCascadeIrq);
  }
  Update();
  return static_cast<uint8_t>(0x80 | irq);
}

void Pic::WritePort(Port port, uint8_t value) {
  absl::MutexLock lock(&mu_);
  switch (port) {
    case Port::kMasterCommand:
      WriteCommand(kMaster, value);
      break;
    case Port::kMasterData:
      WriteData(kMaster, value);
      break;
    case Port::kSlaveCommand:
      WriteCommand(kSlave, value);
      break;
    case Port::kSlaveData:
      WriteData(kSlave, value);
      break;
    case Port::kElcrMaster:
      chips_[kMaster].elcr = value & chips_[kMaster].elcr_mask;
      break;
    case Port::kElcrSlave:
      chips_[kSlave].elcr = value & chips_[kSlave].elcr_mask;
      break;
  }
  Update();
}

void Pic::WriteCommand(int index, uint8_t value) {
  Chip& chip = chips_[index];
  if (value & 0x10) {
    // ICW1: reinitialise; ICW2 (and ICW3, ICW4) follow on the data port.
    // Level-triggered mode (bit 3) and single mode (bit 1) are not
    // supported: the ELCR decides edge or level.
    const uint8_t elcr = chip.elcr;
    const uint8_t elcr_mask = chip.elcr_mask;
    const uint8_t irr = chip.irr;
    chip = Chip{};
    chip.elcr = elcr;
    chip.elcr_mask = elcr_mask;
    chip.irr = irr & elcr;  // level requests survive, as in KVM
    chip.init4 = (value & 1) != 0;
    chip.init_state = 1;
    return;
  }
  if (value & 0x08) {
    // OCW3.
    if (value & 0x04) chip.poll = true;
    if (value & 0x02) chip.read_isr = (value & 1) != 0;
    if (value & 0x40) chip.special_mask = (value & 0x20) != 0;
    return;
  }
  // OCW2: EOI and rotation commands, R SL EOI in bits 7:5.
  const int command = value >> 5;
  switch (command) {
    case 0:  // rotate in auto-EOI mode, clear
    case 4:  // rotate in auto-EOI mode, set
      chip.rotate_on_auto_eoi = command == 4;
      break;
    case 1:    // non-specific EOI
    case 5: {  // rotate on non-specific EOI
      int priority = Priority(chip.isr, chip.priority_add);
      if (priority == 8) break;
      int irq = (priority + chip.priority_add) & 7;
      chip.isr &= ~(1 << irq);
      if (command == 5) chip.priority_add = (irq + 1) & 7;
      break;
    }
    case 3:  // specific EOI
      chip.isr &= ~(1 << (value & 7));
      break;
    case 6:  // set priority
      chip.priority_add = (value + 1) & 7;
      break;
    case 7: {  // rotate on specific EOI
      int irq = value & 7;
      chip.isr &= ~(1 << irq);
      chip.priority_add = (irq + 1) & 7;
      break;
    }
    default:  // 2: no operation
      break;
  }
}

void Pic::WriteData(int index, uint8_t value) {
  Chip& chip = chips_[index];
  switch (chip.init_state) {
    case 0:  // OCW1: the interrupt mask
      chip.imr = value;
      break;
    case 1:  // ICW2: vector base (bits 7:3)
      chip.irq_base = value & 0xf8;
      chip.init_state = 2;
      break;
    case 2:  // ICW3: cascade wiring, fixed here (slave on IR2)
      chip.init_state = chip.init4 ? 3 : 0;
      break;
    default:  // ICW4
      chip.special_fully_nested = (value & 0x10) != 0;
      chip.auto_eoi = (value & 0x02) != 0;
      chip.init_state = 0;
      break;
  }
}

bool Pic::intr() const {
  absl::MutexLock lock(&mu_);
  return intr_level_;
}

Pic::Port PicPorts::PortAt(uint64_t offset) const {
  const bool high = (offset & 1) != 0;
  switch (range_) {
    case kMaster:
      return high ? Pic::Port::kMasterData : Pic::Port::kMasterCommand;
    case kSlave:
      return high ? Pic::Port::kSlaveData : Pic::Port::kSlaveCommand;
    case kElcr:
      break;
  }
  return high ? Pic::Port::kElcrSlave : Pic::Port::kElcrMaster;
}

void PicPorts::Read(uint64_t offset, absl::Span<uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = offset + i < 2 ? pic_->ReadPort(PortAt(offset + i)) : 0xff;
  }
}

void PicPorts::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) {
    if (offset + i < 2) pic_->WritePort(PortAt(offset + i), data[i]);
  }
}

}  // namespace skiff::devices
