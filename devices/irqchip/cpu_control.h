// What the interrupt controllers need from the VMM's vCPU threads: wake a
// vCPU because an interrupt became pending, and the INIT / start-up IPI
// transitions used to bring application processors online (Intel SDM vol. 3
// section 8.4 "Multiple-Processor (MP) Initialization", 10.6.1 ICR).
//
//   class VcpuThreads : public devices::CpuControl {
//     void Wake(int cpu) override { vcpus_[cpu]->Kick(); halt_cv_.Signal(); }
//     void InitCpu(int cpu) override { queue work: reset, wait for SIPI }
//     void StartCpu(int cpu, uint8_t v) override { CS=v<<8, IP=0, run }
//   };
//
// Thread-safety: implementations are called from any thread (other vCPUs,
// the timer thread, device threads), possibly with interrupt-controller
// locks held, so they must not block and must not call back into the
// interrupt controllers.
#ifndef SKIFF_DEVICES_IRQCHIP_CPU_CONTROL_H_
#define SKIFF_DEVICES_IRQCHIP_CPU_CONTROL_H_

#include <cstdint>

namespace skiff::devices {

class CpuControl {
 public:
  virtual ~CpuControl() = default;
  // An interrupt (or NMI) is now pending for `cpu`: make it leave Run() or
  // its halted state and poll its InterruptSource. Also called on `cpu`'s
  // own thread (an EOI or TPR write unblocks a queued interrupt); the
  // interpreter polls between instructions anyway, so an implementation
  // may skip the kick when called from the target vCPU's thread.
  // Called only when the pending state goes from false to true.
  virtual void Wake(int cpu) = 0;
  // INIT IPI: reset `cpu` and put it into wait-for-SIPI. Its Lapic has
  // already reset its own registers.
  virtual void InitCpu(int cpu) = 0;
  // Start-up IPI: if `cpu` is waiting for SIPI, start it in real mode at
  // CS:IP = (vector << 8):0, i.e. physical address vector << 12. Otherwise
  // ignored (a second SIPI is harmless, as on hardware).
  virtual void StartCpu(int cpu, uint8_t vector) = 0;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_IRQCHIP_CPU_CONTROL_H_
