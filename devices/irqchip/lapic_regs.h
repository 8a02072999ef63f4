// Register offsets and bit fields of the local APIC (Intel SDM vol. 3
// table 10-1 "Local APIC Register Address Map", figures 10-8 LVT, 10-12
// ICR, 10-23 SVR). Internal to the Lapic implementation and its tests.
#ifndef SKIFF_DEVICES_IRQCHIP_LAPIC_REGS_H_
#define SKIFF_DEVICES_IRQCHIP_LAPIC_REGS_H_

#include <cstdint>

namespace skiff::devices::apic {

inline constexpr uint32_t kId = 0x20;
inline constexpr uint32_t kVersion = 0x30;
inline constexpr uint32_t kTpr = 0x80;
inline constexpr uint32_t kApr = 0x90;
inline constexpr uint32_t kPpr = 0xa0;
inline constexpr uint32_t kEoi = 0xb0;
inline constexpr uint32_t kRrd = 0xc0;
inline constexpr uint32_t kLdr = 0xd0;
inline constexpr uint32_t kDfr = 0xe0;
inline constexpr uint32_t kSvr = 0xf0;
inline constexpr uint32_t kIsr = 0x100;  // 8 registers, 0x10 apart
inline constexpr uint32_t kTmr = 0x180;
inline constexpr uint32_t kIrr = 0x200;
inline constexpr uint32_t kEsr = 0x280;
inline constexpr uint32_t kLvtCmci = 0x2f0;
inline constexpr uint32_t kIcrLow = 0x300;
inline constexpr uint32_t kIcrHigh = 0x310;
inline constexpr uint32_t kLvtTimer = 0x320;
inline constexpr uint32_t kLvtThermal = 0x330;
inline constexpr uint32_t kLvtPerf = 0x340;
inline constexpr uint32_t kLvtLint0 = 0x350;
inline constexpr uint32_t kLvtLint1 = 0x360;
inline constexpr uint32_t kLvtError = 0x370;
inline constexpr uint32_t kTimerInitialCount = 0x380;
inline constexpr uint32_t kTimerCurrentCount = 0x390;
inline constexpr uint32_t kTimerDivide = 0x3e0;
inline constexpr uint32_t kSelfIpi = 0x3f0;  // x2APIC only

// LVT indices into Lapic::lvt_.
inline constexpr int kLvtIndexTimer = 0;
inline constexpr int kLvtIndexLint0 = 3;
inline constexpr int kLvtIndexLint1 = 4;
inline constexpr int kLvtIndexError = 5;

inline constexpr uint32_t kVectorMask = 0xff;
inline constexpr uint32_t kDeliveryModeShift = 8;
inline constexpr uint32_t kDeliveryModeMask = 0x700;
inline constexpr uint32_t kLogical = 1u << 11;
inline constexpr uint32_t kDeliveryStatus = 1u << 12;
inline constexpr uint32_t kLevelAssert = 1u << 14;
inline constexpr uint32_t kLevelTrigger = 1u << 15;
inline constexpr uint32_t kMasked = 1u << 16;
inline constexpr uint32_t kShorthandShift = 18;

inline constexpr uint32_t kTimerModeShift = 17;
inline constexpr int kTimerOneShot = 0;
inline constexpr int kTimerPeriodic = 1;
inline constexpr int kTimerTscDeadline = 2;

inline constexpr uint32_t kSvrEnable = 1u << 8;

inline constexpr uint64_t kApicBaseBsp = 1u << 8;
inline constexpr uint64_t kApicBaseExtd = 1u << 10;
inline constexpr uint64_t kApicBaseEnable = 1u << 11;

// ESR bits (SDM 10.5.3).
inline constexpr uint32_t kEsrSendIllegalVector = 1u << 5;
inline constexpr uint32_t kEsrReceiveIllegalVector = 1u << 6;
inline constexpr uint32_t kEsrIllegalRegister = 1u << 7;

}  // namespace skiff::devices::apic

#endif  // SKIFF_DEVICES_IRQCHIP_LAPIC_REGS_H_
