#include "kvm/exit_handler.h"

#include <linux/kvm.h>

#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "kvm/ioctl_buffer.h"
#include "kvm/test_util.h"

namespace skiff::kvm {
namespace {

// A fake kvm_run mapping: two pages, 8-byte aligned, zeroed.
class FakeRun {
 public:
  static constexpr size_t kSize = 2 * 4096;
  FakeRun() : buf_(kSize) {}
  kvm_run& run() { return *buf_.As<kvm_run>(); }
  uint8_t* bytes() { return buf_.data(); }
  absl::Span<uint8_t> mapping() { return buf_.span(); }

 private:
  IoctlBuffer buf_;
};

TEST(HandleKvmExit, PortOutSingle) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_IO;
  f.run().io.direction = KVM_EXIT_IO_OUT;
  f.run().io.size = 2;
  f.run().io.port = 0x3f8;
  f.run().io.count = 1;
  f.run().io.data_offset = 4096;
  f.bytes()[4096] = 0x34;
  f.bytes()[4097] = 0x12;
  RecordingIo io;
  EXPECT_FALSE(HandleKvmExit(f.mapping(), io).has_value());
  auto rec = io.records();
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_FALSE(rec[0].mmio);
  EXPECT_TRUE(rec[0].write);
  EXPECT_EQ(rec[0].addr, 0x3f8u);
  EXPECT_EQ(rec[0].data, (std::vector<uint8_t>{0x34, 0x12}));
}

TEST(HandleKvmExit, StringPortInFillsEachElement) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_IO;
  f.run().io.direction = KVM_EXIT_IO_IN;
  f.run().io.size = 4;
  f.run().io.port = 0x1f0;
  f.run().io.count = 3;
  f.run().io.data_offset = 4096;
  RecordingIo io;
  EXPECT_FALSE(HandleKvmExit(f.mapping(), io).has_value());
  ASSERT_EQ(io.records().size(), 3u);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(f.bytes()[4096 + i], 0xa0 + i);
  EXPECT_EQ(f.bytes()[4096 + 12], 0);
}

TEST(HandleKvmExit, StringPortOutIteratesElements) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_IO;
  f.run().io.direction = KVM_EXIT_IO_OUT;
  f.run().io.size = 1;
  f.run().io.port = 0x80;
  f.run().io.count = 5;
  f.run().io.data_offset = 4096;
  std::memcpy(f.bytes() + 4096, "hello", 5);
  RecordingIo io;
  EXPECT_FALSE(HandleKvmExit(f.mapping(), io).has_value());
  std::string seen;
  for (const IoRecord& r : io.records()) {
    ASSERT_EQ(r.data.size(), 1u);
    seen += static_cast<char>(r.data[0]);
  }
  EXPECT_EQ(seen, "hello");
}

TEST(HandleKvmExit, MalformedIoIsInternalErrorNotOverflow) {
  struct Case {
    uint8_t size;
    uint32_t count;
    uint64_t offset;
  };
  for (Case c : {Case{4, 2, FakeRun::kSize - 4}, Case{1, 1, FakeRun::kSize},
                 Case{3, 1, 4096}, Case{8, 1, 4096}, Case{1, 0, 4096},
                 Case{4, 0xffffffff, 4096}, Case{1, 1, ~0ull},
                 Case{2, 0x80000001, 0x100}}) {
    FakeRun f;
    f.run().exit_reason = KVM_EXIT_IO;
    f.run().io.direction = KVM_EXIT_IO_IN;
    f.run().io.size = c.size;
    f.run().io.count = c.count;
    f.run().io.data_offset = c.offset;
    RecordingIo io;
    auto exit = HandleKvmExit(f.mapping(), io);
    ASSERT_TRUE(exit.has_value());
    EXPECT_EQ(exit->kind, VcpuExit::Kind::kInternalError);
    EXPECT_EQ(exit->reason, static_cast<uint32_t>(KVM_EXIT_IO));
    EXPECT_NE(exit->message.find("malformed KVM_EXIT_IO"), std::string::npos);
    EXPECT_TRUE(io.records().empty());
  }
}

TEST(HandleKvmExit, IoExactlyAtEndOfMappingIsFine) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_IO;
  f.run().io.direction = KVM_EXIT_IO_IN;
  f.run().io.size = 4;
  f.run().io.count = 2;
  f.run().io.data_offset = FakeRun::kSize - 8;
  RecordingIo io;
  EXPECT_FALSE(HandleKvmExit(f.mapping(), io).has_value());
  EXPECT_EQ(io.records().size(), 2u);
}

TEST(HandleKvmExit, MmioWrite) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_MMIO;
  f.run().mmio.phys_addr = 0xd0000000;
  f.run().mmio.len = 4;
  f.run().mmio.is_write = 1;
  std::memcpy(f.run().mmio.data, "\x78\x56\x34\x12", 4);
  RecordingIo io;
  EXPECT_FALSE(HandleKvmExit(f.mapping(), io).has_value());
  auto rec = io.records();
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_TRUE(rec[0].mmio);
  EXPECT_TRUE(rec[0].write);
  EXPECT_EQ(rec[0].addr, 0xd0000000u);
  EXPECT_EQ(rec[0].data, (std::vector<uint8_t>{0x78, 0x56, 0x34, 0x12}));
}

TEST(HandleKvmExit, MmioReadFillsRunData) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_MMIO;
  f.run().mmio.phys_addr = 0x1000;
  f.run().mmio.len = 8;
  f.run().mmio.is_write = 0;
  RecordingIo io;
  EXPECT_FALSE(HandleKvmExit(f.mapping(), io).has_value());
  for (int i = 0; i < 8; ++i) EXPECT_EQ(f.run().mmio.data[i], 0xa0 + i);
}

TEST(HandleKvmExit, MalformedMmioLength) {
  for (uint32_t len : {0u, 9u, 0xffffffffu}) {
    FakeRun f;
    f.run().exit_reason = KVM_EXIT_MMIO;
    f.run().mmio.len = len;
    RecordingIo io;
    auto exit = HandleKvmExit(f.mapping(), io);
    ASSERT_TRUE(exit.has_value());
    EXPECT_EQ(exit->kind, VcpuExit::Kind::kInternalError);
    EXPECT_TRUE(io.records().empty());
  }
}

VcpuExit::Kind KindOf(uint32_t reason, uint32_t system_event_type = 0) {
  FakeRun f;
  f.run().exit_reason = reason;
  f.run().system_event.type = system_event_type;
  RecordingIo io;
  auto exit = HandleKvmExit(f.mapping(), io);
  EXPECT_TRUE(exit.has_value());
  return exit ? exit->kind : VcpuExit::Kind::kInterrupted;
}

TEST(HandleKvmExit, SimpleExits) {
  EXPECT_EQ(KindOf(KVM_EXIT_HLT), VcpuExit::Kind::kHalt);
  EXPECT_EQ(KindOf(KVM_EXIT_SHUTDOWN), VcpuExit::Kind::kShutdown);
  EXPECT_EQ(KindOf(KVM_EXIT_INTR), VcpuExit::Kind::kInterrupted);
  EXPECT_EQ(KindOf(KVM_EXIT_DEBUG), VcpuExit::Kind::kDebug);
  EXPECT_EQ(KindOf(KVM_EXIT_SYSTEM_EVENT, KVM_SYSTEM_EVENT_RESET),
            VcpuExit::Kind::kReset);
  EXPECT_EQ(KindOf(KVM_EXIT_SYSTEM_EVENT, KVM_SYSTEM_EVENT_SHUTDOWN),
            VcpuExit::Kind::kPowerOff);
  EXPECT_EQ(KindOf(KVM_EXIT_SYSTEM_EVENT, KVM_SYSTEM_EVENT_CRASH),
            VcpuExit::Kind::kShutdown);
  EXPECT_EQ(KindOf(KVM_EXIT_SYSTEM_EVENT, 99), VcpuExit::Kind::kInternalError);
}

TEST(HandleKvmExit, IrqWindowResumes) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_IRQ_WINDOW_OPEN;
  RecordingIo io;
  EXPECT_FALSE(HandleKvmExit(f.mapping(), io).has_value());
}

TEST(HandleKvmExit, DebugCarriesPc) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_DEBUG;
  f.run().debug.arch.pc = 0xffffffff81000000;
  f.run().debug.arch.exception = 1;
  RecordingIo io;
  auto exit = HandleKvmExit(f.mapping(), io);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->rip, 0xffffffff81000000u);
  EXPECT_EQ(exit->suberror, 1u);
}

TEST(HandleKvmExit, EmulationFailureWithInstructionBytes) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_INTERNAL_ERROR;
  auto& ef = f.run().emulation_failure;
  ef.suberror = KVM_INTERNAL_ERROR_EMULATION;
  ef.ndata = 4;
  ef.flags = KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES;
  ef.insn_size = 2;
  ef.insn_bytes[0] = 0xcc;
  ef.insn_bytes[1] = 0x90;
  RecordingIo io;
  auto exit = HandleKvmExit(f.mapping(), io);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->kind, VcpuExit::Kind::kInternalError);
  EXPECT_EQ(exit->reason, static_cast<uint32_t>(KVM_EXIT_INTERNAL_ERROR));
  EXPECT_EQ(exit->suberror, 1u);
  EXPECT_EQ(exit->message, "emulation failure");
  ASSERT_EQ(exit->insn_len, 2);
  EXPECT_EQ(exit->insn[0], 0xcc);
  EXPECT_EQ(exit->insn[1], 0x90);
  exit->rip = 0x6000;
  EXPECT_EQ(DescribeVcpuExit(*exit),
            "internal error reason=17 suberror=1 (emulation failure) "
            "rip=0x6000 insn=cc 90");
}

TEST(HandleKvmExit, EmulationFailureInsnSizeClamped) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_INTERNAL_ERROR;
  auto& ef = f.run().emulation_failure;
  ef.suberror = KVM_INTERNAL_ERROR_EMULATION;
  ef.ndata = 3;
  ef.flags = KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES;
  ef.insn_size = 200;
  RecordingIo io;
  auto exit = HandleKvmExit(f.mapping(), io);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->insn_len, 15);
}

TEST(HandleKvmExit, EmulationFailureWithoutBytesLeavesThemToCaller) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_INTERNAL_ERROR;
  f.run().internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
  f.run().internal.ndata = 0;
  RecordingIo io;
  auto exit = HandleKvmExit(f.mapping(), io);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->insn_len, 0);
  EXPECT_EQ(exit->message, "emulation failure");
}

TEST(HandleKvmExit, OtherInternalErrorListsData) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_INTERNAL_ERROR;
  f.run().internal.suberror = KVM_INTERNAL_ERROR_DELIVERY_EV;
  f.run().internal.ndata = 2;
  f.run().internal.data[0] = 0x80000b0e;
  f.run().internal.data[1] = 0x30;
  RecordingIo io;
  auto exit = HandleKvmExit(f.mapping(), io);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->suberror, 3u);
  EXPECT_EQ(exit->message,
            "exit while delivering an event, data=0x80000b0e,0x30");
}

TEST(HandleKvmExit, InternalErrorNdataClamped) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_INTERNAL_ERROR;
  f.run().internal.suberror = 77;
  f.run().internal.ndata = 1000;
  RecordingIo io;
  auto exit = HandleKvmExit(f.mapping(), io);
  ASSERT_TRUE(exit.has_value());
  EXPECT_NE(exit->message.find("internal error suberror 77"),
            std::string::npos);
}

TEST(HandleKvmExit, FailEntry) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_FAIL_ENTRY;
  f.run().fail_entry.hardware_entry_failure_reason = 0x80000021;
  f.run().fail_entry.cpu = 1;
  RecordingIo io;
  auto exit = HandleKvmExit(f.mapping(), io);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->kind, VcpuExit::Kind::kInternalError);
  EXPECT_EQ(exit->reason, static_cast<uint32_t>(KVM_EXIT_FAIL_ENTRY));
  EXPECT_EQ(exit->suberror, 0x80000021u);
  EXPECT_EQ(exit->message,
            "VM entry failed: hardware_entry_failure_reason=0x80000021 cpu=1");
}

TEST(HandleKvmExit, UnknownAndUnhandledReasons) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_X86_BUS_LOCK;
  RecordingIo io;
  auto exit = HandleKvmExit(f.mapping(), io);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->kind, VcpuExit::Kind::kInternalError);
  EXPECT_EQ(exit->message,
            "unhandled KVM exit reason 33 (KVM_EXIT_X86_BUS_LOCK)");

  f.run().exit_reason = 12345;
  exit = HandleKvmExit(f.mapping(), io);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->message, "unhandled KVM exit reason 12345 (unknown)");

  f.run().exit_reason = KVM_EXIT_UNKNOWN;
  f.run().hw.hardware_exit_reason = 0x30;
  exit = HandleKvmExit(f.mapping(), io);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->message, "KVM_EXIT_UNKNOWN hardware_exit_reason=0x30");
}

TEST(HandleKvmExit, TooSmallMapping) {
  IoctlBuffer small(32);
  RecordingIo io;
  auto exit = HandleKvmExit(small.span(), io);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->kind, VcpuExit::Kind::kInternalError);
}

TEST(KvmExitReasonName, Names) {
  EXPECT_EQ(KvmExitReasonName(KVM_EXIT_IO), "KVM_EXIT_IO");
  EXPECT_EQ(KvmExitReasonName(KVM_EXIT_INTERNAL_ERROR),
            "KVM_EXIT_INTERNAL_ERROR");
  EXPECT_EQ(KvmExitReasonName(9999), "unknown");
  EXPECT_EQ(InternalErrorName(KVM_INTERNAL_ERROR_SIMUL_EX),
            "simultaneous exceptions");
}

}  // namespace
}  // namespace skiff::kvm

namespace skiff::kvm {
namespace {

class FakeRing {
 public:
  FakeRing() : buf_(4096) {}
  kvm_coalesced_mmio_ring& ring() {
    return *buf_.As<kvm_coalesced_mmio_ring>();
  }
  absl::Span<uint8_t> page() { return buf_.span(); }
  uint32_t max() const {
    return (4096 - sizeof(kvm_coalesced_mmio_ring)) /
           sizeof(kvm_coalesced_mmio);
  }
  void Push(uint64_t addr, uint32_t len, uint8_t fill, bool pio = false) {
    kvm_coalesced_mmio& e = ring().coalesced_mmio[ring().last];
    e.phys_addr = addr;
    e.len = len;
    e.pio = pio ? 1 : 0;
    std::memset(e.data, fill, sizeof(e.data));
    ring().last = (ring().last + 1) % max();
  }

 private:
  IoctlBuffer buf_;
};

TEST(DrainCoalescedRing, ReplaysInOrderAndConsumes) {
  FakeRing f;
  f.Push(0xd0000000, 4, 0x11);
  f.Push(0x3f8, 1, 0x22, /*pio=*/true);
  RecordingIo io;
  EXPECT_EQ(DrainCoalescedRing(f.page(), io), 2u);
  auto rec = io.records();
  ASSERT_EQ(rec.size(), 2u);
  EXPECT_TRUE(rec[0].mmio);
  EXPECT_EQ(rec[0].addr, 0xd0000000u);
  EXPECT_EQ(rec[0].data, (std::vector<uint8_t>(4, 0x11)));
  EXPECT_FALSE(rec[1].mmio);
  EXPECT_EQ(rec[1].addr, 0x3f8u);
  EXPECT_EQ(f.ring().first, f.ring().last);
  EXPECT_EQ(DrainCoalescedRing(f.page(), io), 0u);
}

TEST(DrainCoalescedRing, WrapsAround) {
  FakeRing f;
  f.ring().first = f.ring().last = f.max() - 1;
  f.Push(0x1000, 2, 1);
  f.Push(0x1002, 2, 2);
  EXPECT_EQ(f.ring().last, 1u);
  RecordingIo io;
  EXPECT_EQ(DrainCoalescedRing(f.page(), io), 2u);
  EXPECT_EQ(f.ring().first, 1u);
}

TEST(DrainCoalescedRing, StopsOnCorruptRing) {
  FakeRing f;
  f.ring().first = 100000;
  f.ring().last = 3;
  RecordingIo io;
  EXPECT_EQ(DrainCoalescedRing(f.page(), io), 0u);
  FakeRing g;
  g.Push(0x1000, 9, 1);
  EXPECT_EQ(DrainCoalescedRing(g.page(), io), 0u);
  EXPECT_TRUE(io.records().empty());
  EXPECT_EQ(DrainCoalescedRing(absl::Span<uint8_t>(), io), 0u);
}

}  // namespace
}  // namespace skiff::kvm
