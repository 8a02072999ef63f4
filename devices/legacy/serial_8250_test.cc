#include "devices/legacy/serial_8250.h"

#include <memory>
#include <string>
#include <thread>

#include "devices/testing/fakes.h"
#include "gtest/gtest.h"

namespace skiff::devices {
namespace {

using testing::FakeIrqLine;

// Register offsets and bits, spelled as Linux's include/uapi/linux/
// serial_reg.h so the tests read like the driver.
constexpr uint64_t UART_RX = 0, UART_TX = 0, UART_DLL = 0, UART_IER = 1,
                   UART_DLM = 1, UART_IIR = 2, UART_FCR = 2, UART_LCR = 3,
                   UART_MCR = 4, UART_LSR = 5, UART_MSR = 6, UART_SCR = 7;
constexpr uint8_t UART_IER_RDI = 0x01, UART_IER_THRI = 0x02,
                  UART_IER_RLSI = 0x04, UART_IER_MSI = 0x08;
constexpr uint8_t UART_LCR_DLAB = 0x80, UART_LCR_WLEN8 = 0x03;
constexpr uint8_t UART_FCR_ENABLE_FIFO = 0x01, UART_FCR_CLEAR_RCVR = 0x02,
                  UART_FCR_CLEAR_XMIT = 0x04, UART_FCR_TRIGGER_8 = 0x80;
constexpr uint8_t UART_MCR_DTR = 0x01, UART_MCR_RTS = 0x02,
                  UART_MCR_OUT1 = 0x04, UART_MCR_OUT2 = 0x08,
                  UART_MCR_LOOP = 0x10;
constexpr uint8_t UART_LSR_DR = 0x01, UART_LSR_OE = 0x02, UART_LSR_THRE = 0x20,
                  UART_LSR_TEMT = 0x40;
constexpr uint8_t UART_MSR_DCTS = 0x01, UART_MSR_DDSR = 0x02,
                  UART_MSR_TERI = 0x04, UART_MSR_DDCD = 0x08,
                  UART_MSR_CTS = 0x10, UART_MSR_DSR = 0x20, UART_MSR_RI = 0x40,
                  UART_MSR_DCD = 0x80;
constexpr uint8_t UART_IIR_NO_INT = 0x01, UART_IIR_MSI = 0x00,
                  UART_IIR_THRI = 0x02, UART_IIR_RDI = 0x04,
                  UART_IIR_RLSI = 0x06, UART_IIR_FIFOS = 0xc0;

class Serial8250Test : public ::testing::Test {
 protected:
  uint8_t In(uint64_t reg) {
    uint8_t b = 0;
    uart_.Read(reg, absl::MakeSpan(&b, 1));
    return b;
  }
  void Out(uint64_t reg, uint8_t value) {
    uart_.Write(reg, absl::MakeConstSpan(&value, 1));
  }
  void Queue(const std::string& s) {
    uart_.QueueInput(absl::MakeConstSpan(
        reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  }

  FakeIrqLine irq_;
  std::shared_ptr<BufferSink> sink_ = std::make_shared<BufferSink>();
  Serial8250 uart_{&irq_, sink_};
};

TEST_F(Serial8250Test, ResetState) {
  EXPECT_EQ(In(UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
  EXPECT_EQ(In(UART_IIR), UART_IIR_NO_INT);
  EXPECT_EQ(In(UART_IER), 0);
  EXPECT_EQ(In(UART_LCR), 0);
  EXPECT_EQ(In(UART_MCR), 0);
  EXPECT_EQ(In(UART_MSR), UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
  EXPECT_FALSE(irq_.level());
  EXPECT_TRUE(irq_.history().empty());
}

// What serial8250_do_set_termios() and serial8250_startup() do, in order.
TEST_F(Serial8250Test, LinuxInitSequence) {
  // Divisor for 115200 baud, 8N1.
  Out(UART_LCR, UART_LCR_DLAB | UART_LCR_WLEN8);
  Out(UART_DLL, 0x01);
  Out(UART_DLM, 0x00);
  EXPECT_EQ(In(UART_DLL), 0x01);
  EXPECT_EQ(In(UART_DLM), 0x00);
  Out(UART_LCR, UART_LCR_WLEN8);
  EXPECT_EQ(In(UART_LCR), UART_LCR_WLEN8);
  // With DLAB clear, offset 1 is IER again.
  EXPECT_EQ(In(UART_IER), 0);

  Out(UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR |
                    UART_FCR_CLEAR_XMIT | UART_FCR_TRIGGER_8);
  EXPECT_EQ(In(UART_IIR), UART_IIR_FIFOS | UART_IIR_NO_INT);
  Out(UART_MCR, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2);
  EXPECT_FALSE(irq_.level());

  // Enabling THRI with an empty transmitter interrupts at once.
  Out(UART_IER, UART_IER_THRI);
  EXPECT_TRUE(irq_.level());
  // Reading IIR reports and acknowledges it.
  EXPECT_EQ(In(UART_IIR), UART_IIR_FIFOS | UART_IIR_THRI);
  EXPECT_FALSE(irq_.level());
  EXPECT_EQ(In(UART_IIR), UART_IIR_FIFOS | UART_IIR_NO_INT);

  // Transmitting empties the THR again: the output is in the sink and the
  // THRE interrupt is back, which is what drives Linux's TX path.
  Out(UART_TX, 'o');
  Out(UART_TX, 'k');
  EXPECT_EQ(sink_->contents(), "ok");
  EXPECT_TRUE(irq_.level());
  EXPECT_EQ(In(UART_LSR) & (UART_LSR_THRE | UART_LSR_TEMT),
            UART_LSR_THRE | UART_LSR_TEMT);
  EXPECT_EQ(In(UART_IIR), UART_IIR_FIFOS | UART_IIR_THRI);
  EXPECT_FALSE(irq_.level());
}

// serial8250_startup() checks a real 16550 re-asserts THRE when IER.THRI is
// rewritten; failing that, Linux marks UART_BUG_THRE and polls with a timer.
TEST_F(Serial8250Test, ThreReassertedOnIerRewrite) {
  Out(UART_IER, UART_IER_THRI);
  uint8_t iir1 = In(UART_IIR);
  Out(UART_IER, 0);
  Out(UART_IER, UART_IER_THRI);
  uint8_t iir = In(UART_IIR);
  Out(UART_IER, 0);
  EXPECT_FALSE(iir1 & UART_IIR_NO_INT);
  EXPECT_FALSE(iir & UART_IIR_NO_INT);
  EXPECT_FALSE(irq_.level());
}

// autoconfig(): the IER scratch test, then the loopback check that MCR
// outputs appear on the MSR inputs (RTS->CTS, DTR->DSR, OUT1->RI,
// OUT2->DCD): MCR = LOOP | 0x0A must read MSR & 0xF0 == 0x90.
TEST_F(Serial8250Test, AutoconfigProbe) {
  uint8_t scratch = In(UART_IER);
  Out(UART_IER, 0);
  EXPECT_EQ(In(UART_IER) & 0x0f, 0);
  Out(UART_IER, 0x0f);
  EXPECT_EQ(In(UART_IER) & 0x0f, 0x0f);
  // Bits 4-7 do not exist (the XScale UUE probe must fail).
  Out(UART_IER, 0xff);
  EXPECT_EQ(In(UART_IER), 0x0f);
  Out(UART_IER, scratch);

  uint8_t save_mcr = In(UART_MCR);
  Out(UART_MCR, UART_MCR_LOOP | 0x0a);
  EXPECT_EQ(In(UART_MSR) & 0xf0, 0x90);
  Out(UART_MCR, save_mcr);

  // 16550A detection: FIFO-enable reporting in IIR bits 6-7.
  Out(UART_FCR, UART_FCR_ENABLE_FIFO);
  EXPECT_EQ(In(UART_IIR) >> 6, 3);
  // With LCR = 0xBF (EFR access on 16650s) offset 2 still reads IIR, which
  // is non-zero, so no EFR is detected.
  Out(UART_LCR, 0xbf);
  EXPECT_NE(In(UART_IIR), 0);
  Out(UART_LCR, 0);
  EXPECT_FALSE(irq_.level());
}

TEST_F(Serial8250Test, LoopbackMapsEveryModemLine) {
  struct {
    uint8_t mcr;
    uint8_t msr;
  } cases[] = {
      {UART_MCR_LOOP, 0},
      {UART_MCR_LOOP | UART_MCR_DTR, UART_MSR_DSR},
      {UART_MCR_LOOP | UART_MCR_RTS, UART_MSR_CTS},
      {UART_MCR_LOOP | UART_MCR_OUT1, UART_MSR_RI},
      {UART_MCR_LOOP | UART_MCR_OUT2, UART_MSR_DCD},
      {UART_MCR_LOOP | 0x0f, 0xf0},
  };
  for (const auto& c : cases) {
    Out(UART_MCR, c.mcr);
    EXPECT_EQ(In(UART_MSR) & 0xf0, c.msr) << "mcr=" << int{c.mcr};
  }
  // Outside loopback the console's lines are up regardless of MCR.
  Out(UART_MCR, 0);
  EXPECT_EQ(In(UART_MSR) & 0xf0, UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
}

TEST_F(Serial8250Test, LoopbackTransmitsToReceiver) {
  Out(UART_MCR, UART_MCR_LOOP);
  Out(UART_TX, 0x5a);
  EXPECT_EQ(sink_->contents(), "");
  EXPECT_TRUE(In(UART_LSR) & UART_LSR_DR);
  EXPECT_EQ(In(UART_RX), 0x5a);
  EXPECT_FALSE(In(UART_LSR) & UART_LSR_DR);
  Out(UART_MCR, 0);
  Out(UART_TX, 'x');
  EXPECT_EQ(sink_->contents(), "x");
}

TEST_F(Serial8250Test, ModemStatusDeltasAndInterrupt) {
  // Entering loopback drops DCD, DSR and CTS: three deltas.
  Out(UART_MCR, UART_MCR_LOOP);
  Out(UART_IER, UART_IER_MSI);
  EXPECT_TRUE(irq_.level());
  EXPECT_EQ(In(UART_IIR), UART_IIR_MSI);
  EXPECT_EQ(In(UART_MSR), UART_MSR_DCTS | UART_MSR_DDSR | UART_MSR_DDCD);
  EXPECT_FALSE(irq_.level());
  EXPECT_EQ(In(UART_IIR), UART_IIR_NO_INT);

  // RI's delta (TERI) is for its trailing edge only.
  Out(UART_MCR, UART_MCR_LOOP | UART_MCR_OUT1);
  EXPECT_EQ(In(UART_MSR), UART_MSR_RI);
  Out(UART_MCR, UART_MCR_LOOP);
  EXPECT_EQ(In(UART_MSR), UART_MSR_TERI);
  EXPECT_EQ(In(UART_MSR), 0);
}

TEST_F(Serial8250Test, ReceiveInOrderWithInterrupt) {
  Out(UART_FCR, UART_FCR_ENABLE_FIFO);
  Out(UART_IER, UART_IER_RDI);
  EXPECT_FALSE(irq_.level());
  Queue("hi!");
  EXPECT_TRUE(irq_.level());
  EXPECT_EQ(In(UART_IIR), UART_IIR_FIFOS | UART_IIR_RDI);
  // Reading IIR does not acknowledge received data; reading it does.
  EXPECT_TRUE(irq_.level());
  EXPECT_EQ(In(UART_LSR), UART_LSR_DR | UART_LSR_THRE | UART_LSR_TEMT);
  EXPECT_EQ(In(UART_RX), 'h');
  EXPECT_EQ(In(UART_RX), 'i');
  EXPECT_TRUE(irq_.level());
  EXPECT_EQ(In(UART_RX), '!');
  EXPECT_FALSE(irq_.level());
  EXPECT_EQ(In(UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
  EXPECT_EQ(In(UART_IIR), UART_IIR_FIFOS | UART_IIR_NO_INT);
}

TEST_F(Serial8250Test, NoInterruptWhenDisabled) {
  Queue("a");
  EXPECT_FALSE(irq_.level());
  EXPECT_TRUE(In(UART_LSR) & UART_LSR_DR);  // a polling reader sees it
  EXPECT_EQ(In(UART_RX), 'a');
}

TEST_F(Serial8250Test, FifoClearDropsInput) {
  Out(UART_FCR, UART_FCR_ENABLE_FIFO);
  Queue("abc");
  Out(UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR);
  EXPECT_FALSE(In(UART_LSR) & UART_LSR_DR);
  Queue("d");
  EXPECT_EQ(In(UART_RX), 'd');
}

TEST_F(Serial8250Test, InterruptPriorities) {
  FakeIrqLine irq;
  Serial8250 uart(&irq, nullptr, /*input_limit=*/2);
  auto in = [&](uint64_t reg) {
    uint8_t b;
    uart.Read(reg, absl::MakeSpan(&b, 1));
    return b;
  };
  auto out = [&](uint64_t reg, uint8_t v) {
    uart.Write(reg, absl::MakeConstSpan(&v, 1));
  };
  out(UART_MCR, UART_MCR_LOOP);  // three MSR deltas pending
  out(UART_IER, UART_IER_RDI | UART_IER_THRI | UART_IER_RLSI | UART_IER_MSI);
  const uint8_t three[] = {1, 2, 3};
  uart.QueueInput(three);  // one byte overruns
  EXPECT_EQ(uart.dropped_input(), 1u);
  EXPECT_TRUE(irq.level());

  EXPECT_EQ(in(UART_IIR), UART_IIR_RLSI);
  EXPECT_EQ(in(UART_LSR), UART_LSR_OE | UART_LSR_DR | UART_LSR_THRE |
                              UART_LSR_TEMT);  // clears OE
  EXPECT_EQ(in(UART_IIR), UART_IIR_RDI);
  EXPECT_EQ(in(UART_RX), 1);
  EXPECT_EQ(in(UART_RX), 2);
  EXPECT_EQ(in(UART_IIR), UART_IIR_THRI);  // acknowledges THRE
  EXPECT_EQ(in(UART_IIR), UART_IIR_MSI);
  in(UART_MSR);
  EXPECT_EQ(in(UART_IIR), UART_IIR_NO_INT);
  EXPECT_FALSE(irq.level());
}

TEST_F(Serial8250Test, InputLimitDropsAndCounts) {
  Serial8250 uart(nullptr, nullptr, /*input_limit=*/4);
  const uint8_t six[] = {1, 2, 3, 4, 5, 6};
  uart.QueueInput(six);
  EXPECT_EQ(uart.queued_input(), 4u);
  EXPECT_EQ(uart.dropped_input(), 2u);
}

TEST_F(Serial8250Test, ScratchAndWideAccess) {
  Out(UART_SCR, 0xa5);
  EXPECT_EQ(In(UART_SCR), 0xa5);
  // A two-byte read at LCR covers LCR and MCR.
  Out(UART_LCR, 0x03);
  Out(UART_MCR, 0x0b);
  uint8_t two[2];
  uart_.Read(UART_LCR, absl::MakeSpan(two));
  EXPECT_EQ(two[0], 0x03);
  EXPECT_EQ(two[1], 0x0b);
  // Beyond the eight registers reads float high.
  uint8_t b;
  uart_.Read(8, absl::MakeSpan(&b, 1));
  EXPECT_EQ(b, 0xff);
}

TEST_F(Serial8250Test, WorksWithoutIrqOrSink) {
  Serial8250 uart(nullptr, nullptr);
  uint8_t v = UART_IER_THRI;
  uart.Write(UART_IER, absl::MakeConstSpan(&v, 1));
  v = 'z';
  uart.Write(UART_TX, absl::MakeConstSpan(&v, 1));
  uart.Read(UART_IIR, absl::MakeSpan(&v, 1));
  EXPECT_EQ(v, UART_IIR_THRI);
}

TEST_F(Serial8250Test, InputThreadAndReaderConcurrently) {
  constexpr int kBytes = 5000;
  std::thread producer([&] {
    for (int i = 0; i < kBytes; ++i) {
      uint8_t b = static_cast<uint8_t>(i);
      uart_.QueueInput(absl::MakeConstSpan(&b, 1));
    }
  });
  int received = 0;
  while (received < kBytes) {
    if (In(UART_LSR) & UART_LSR_DR) {
      ASSERT_EQ(In(UART_RX), static_cast<uint8_t>(received));
      ++received;
    }
  }
  producer.join();
  EXPECT_EQ(uart_.dropped_input(), 0u);
}

}  // namespace
}  // namespace skiff::devices
