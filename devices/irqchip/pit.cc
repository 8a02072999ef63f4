#include "devices/irqchip/pit.h"

#include <algorithm>

namespace skiff::devices {
namespace {

__extension__ using U128 = unsigned __int128;

constexpr uint64_t kNsPerSecond = 1'000'000'000;
// Port B bit 4 toggles with every DRAM refresh request, about 15.085 us.
constexpr uint64_t kRefreshNs = 15'085;

}  // namespace

Pit::Pit(IrqLine* irq0, TimerQueue& timers) : irq0_(irq0), timers_(timers) {
  absl::MutexLock lock(&mu_);
  // Counter 2's gate is port B bit 0, low at reset; 0 and 1 are tied high.
  channels_[2].gate = false;
}

Pit::~Pit() {
  bool shut_down;
  {
    absl::MutexLock lock(&mu_);
    shut_down = shut_down_;
  }
  if (!shut_down) Shutdown();
}

void Pit::Shutdown() {
  TimerQueue::Id id;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    id = timer_id_;
    timer_id_ = TimerQueue::kNoTimer;
  }
  timers_.Cancel(id);
  timers_.WaitForRunningCallback();
}

uint64_t Pit::TicksToNs(uint64_t ticks) const {
  return static_cast<uint64_t>(
      (static_cast<U128>(ticks) * kNsPerSecond + kHz - 1) / kHz);
}

// Input clocks counted since counting (re)started; frozen while the gate
// is low.
uint64_t Pit::Ticks(const Channel& c, uint64_t now) const {
  uint64_t end = c.gate ? now : c.gate_low_ns;
  if (end <= c.load_ns) return 0;
  return static_cast<uint64_t>(static_cast<U128>(end - c.load_ns) * kHz /
                               kNsPerSecond);
}

uint16_t Pit::Count(const Channel& c, uint64_t now) const {
  const uint64_t d = Ticks(c, now);
  switch (c.mode) {
    case 2:
      return static_cast<uint16_t>(c.count - d % c.count);
    case 3:
      // Mode 3 decrements by two each clock (8254 datasheet, mode 3).
      return static_cast<uint16_t>(c.count - (2 * d) % c.count);
    default:  // 0, 1, 4, 5 count down once and wrap
      return static_cast<uint16_t>(c.count - d);
  }
}

bool Pit::Output(const Channel& c, uint64_t now) const {
  if (c.null_count) return c.mode != 0;
  const uint64_t d = Ticks(c, now);
  switch (c.mode) {
    case 0:  // low until terminal count, then high
      return d >= c.count;
    case 1:  // one-shot low pulse after a gate trigger
      return d >= c.count;
    case 2:  // rate generator: low for the one clock before reload
      return !c.gate || c.count <= 1 || d % c.count != c.count - 1;
    case 3:  // square wave: high for the first half of each period
      return !c.gate || d % c.count < (c.count + 1) / 2;
    default:  // 4, 5: strobe, low for one clock at terminal count
      return d != c.count;
  }
}

void Pit::Read(uint64_t offset, absl::Span<uint8_t> data) {
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t port = offset + i;
    // The control word register is write-only; reads float.
    data[i] = port < 3 ? ReadChannel(channels_[port]) : 0xff;
  }
}

void Pit::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t port = offset + i;
    if (port < 3) {
      WriteChannel(static_cast<int>(port), data[i]);
    } else if (port == 3) {
      WriteControl(data[i]);
    }
  }
}

// A latched status, then a latched count, then the live count, each in
// the channel's read/write sequence (8254 "Read Operations").
uint8_t Pit::ReadChannel(Channel& c) {
  if (c.status_latched) {
    c.status_latched = false;
    return c.status;
  }
  if (c.count_latched != 0) {
    switch (c.count_latched) {
      case kMsb:
        c.count_latched = 0;
        return static_cast<uint8_t>(c.latched_count >> 8);
      case kWord0:
        c.count_latched = kMsb;
        return static_cast<uint8_t>(c.latched_count);
      default:  // kLsb
        c.count_latched = 0;
        return static_cast<uint8_t>(c.latched_count);
    }
  }
  const uint16_t count = Count(c, timers_.clock().NowNs());
  switch (c.read_state) {
    case kMsb:
      return static_cast<uint8_t>(count >> 8);
    case kWord0:
      c.read_state = kWord1;
      return static_cast<uint8_t>(count);
    case kWord1:
      c.read_state = kWord0;
      return static_cast<uint8_t>(count >> 8);
    default:  // kLsb
      return static_cast<uint8_t>(count);
  }
}

void Pit::LatchCount(Channel& c, uint64_t now) {
  // A second latch before the first is read is ignored (8254 datasheet).
  if (c.count_latched != 0) return;
  c.latched_count = Count(c, now);
  c.count_latched = c.rw_mode;
}

void Pit::WriteControl(uint8_t value) {
  const uint64_t now = timers_.clock().NowNs();
  const int index = value >> 6;
  if (index == 3) {
    // Read-back command: bit 5 clear latches counts, bit 4 clear latches
    // status, bits 1-3 select the counters.
    for (int i = 0; i < 3; ++i) {
      if (!(value & (2 << i))) continue;
      Channel& c = channels_[i];
      if (!(value & 0x20)) LatchCount(c, now);
      if (!(value & 0x10) && !c.status_latched) {
        c.status = static_cast<uint8_t>(
            (Output(c, now) ? 0x80 : 0) | (c.null_count ? 0x40 : 0) |
            (c.rw_mode << 4) | (c.mode << 1) | (c.bcd ? 1 : 0));
        c.status_latched = true;
      }
    }
    return;
  }
  Channel& c = channels_[index];
  const uint8_t access = (value >> 4) & 3;
  if (access == 0) {
    LatchCount(c, now);
    return;
  }
  c.rw_mode = access;
  c.read_state = access;
  c.write_state = access;
  c.mode = (value >> 1) & 7;
  if (c.mode >= 6) c.mode -= 4;  // 6 and 7 are aliases of 2 and 3
  c.bcd = (value & 1) != 0;
  c.null_count = true;
  if (index == 0) {
    // A control word stops the counter until a count is written; OUT goes
    // to its initial state (low in mode 0; our edges end low anyway).
    StopIrqTimer();
    if (irq0_ != nullptr) irq0_->SetLevel(false);
  }
}

void Pit::WriteChannel(int index, uint8_t value) {
  Channel& c = channels_[index];
  switch (c.write_state) {
    case kMsb:
      LoadCount(index, static_cast<uint32_t>(value) << 8);
      break;
    case kWord0:
      c.write_latch = value;
      c.write_state = kWord1;
      break;
    case kWord1:
      LoadCount(index, c.write_latch | static_cast<uint32_t>(value) << 8);
      c.write_state = kWord0;
      break;
    default:  // kLsb
      LoadCount(index, value);
      break;
  }
}

void Pit::LoadCount(int index, uint32_t value) {
  Channel& c = channels_[index];
  const uint64_t now = timers_.clock().NowNs();
  c.count = value == 0 ? 0x10000 : value;
  c.load_ns = now;
  if (!c.gate) c.gate_low_ns = now;
  c.null_count = false;
  if (index != 0) return;
  StopIrqTimer();
  const uint64_t span = TicksToNs(c.count);
  switch (c.mode) {
    case 0:
      if (irq0_ != nullptr) irq0_->SetLevel(false);
      ArmIrqTimer(now + span);
      break;
    case 4:
      ArmIrqTimer(now + span);
      break;
    case 2:
    case 3:
      next_tick_ns_ = now + std::max(span, kMinPeriodNs);
      ArmIrqTimer(next_tick_ns_);
      break;
    default:  // 1, 5: wait for a gate edge counter 0 never gets
      break;
  }
}

void Pit::StopIrqTimer() {
  timers_.CancelNoWait(timer_id_);
  timer_id_ = TimerQueue::kNoTimer;
  ++generation_;
}

void Pit::ArmIrqTimer(uint64_t deadline_ns) {
  if (shut_down_) return;
  timers_.CancelNoWait(timer_id_);
  const uint64_t generation = ++generation_;
  timer_id_ = timers_.Schedule(
      deadline_ns, [this, generation] { IrqTimerFired(generation); });
}

void Pit::IrqTimerFired(uint64_t generation) {
  absl::MutexLock lock(&mu_);
  if (shut_down_ || generation != generation_) return;
  timer_id_ = TimerQueue::kNoTimer;
  const Channel& c = channels_[0];
  switch (c.mode) {
    case 0:
      // OUT rises at terminal count and stays high.
      if (irq0_ != nullptr) irq0_->SetLevel(true);
      break;
    case 4:
      if (irq0_ != nullptr) irq0_->Pulse();
      break;
    case 2:
    case 3: {
      if (irq0_ != nullptr) irq0_->Pulse();
      const uint64_t period = std::max(TicksToNs(c.count), kMinPeriodNs);
      const uint64_t now = timers_.clock().NowNs();
      uint64_t next = next_tick_ns_ + period;
      // Far behind (a stalled host): skip the missed ticks.
      if (next <= now) next = now + period;
      next_tick_ns_ = next;
      ArmIrqTimer(next);
      break;
    }
    default:
      break;
  }
}

uint8_t Pit::ReadPortB() {
  absl::MutexLock lock(&mu_);
  const uint64_t now = timers_.clock().NowNs();
  uint8_t value = port_b_ & 0x0f;
  if ((now / kRefreshNs) & 1) value |= 0x10;
  if (Output(channels_[2], now)) value |= 0x20;
  return value;
}

void Pit::WritePortB(uint8_t value) {
  absl::MutexLock lock(&mu_);
  port_b_ = value & 0x0f;
  SetGate2((value & 1) != 0);
}

// 8254 gate semantics: modes 1, 2, 3, 5 restart on a rising edge; modes 0
// and 4 pause while the gate is low.
void Pit::SetGate2(bool gate) {
  Channel& c = channels_[2];
  if (gate == c.gate) return;
  const uint64_t now = timers_.clock().NowNs();
  if (!gate) {
    c.gate_low_ns = now;
  } else if (c.mode == 0 || c.mode == 4) {
    c.load_ns += now - c.gate_low_ns;
  } else {
    c.load_ns = now;
  }
  c.gate = gate;
}

void SpeakerPort::Read(uint64_t offset, absl::Span<uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = offset + i == 0 ? pit_->ReadPortB() : 0xff;
  }
}

void SpeakerPort::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  if (offset == 0 && !data.empty()) pit_->WritePortB(data[0]);
}

}  // namespace skiff::devices
